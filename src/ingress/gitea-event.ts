/**
 * Pure translation of a Gitea, Forgejo or Gogs webhook (event name + parsed JSON body) into a
 * `BotEvent`, or a reason to ignore it. Never throws on input. Shapes follow Gitea's
 * `modules/structs/hook.go` (`PullRequestPayload`, `IssueCommentPayload`, `PushPayload`), which
 * Forgejo keeps; Gogs 0.13 (`go-gogs-client`) sends the same events with its own pull request shape
 * (branch names, no head SHA) and no `is_pull` on comments.
 */
import { z } from "zod";
import type { GiteaHostKind } from "../domain/host-kind.js";
import type { BotEvent, RepoRef } from "../domain/types.js";
import { giteaLogin, giteaPullRef, giteaPullSchema, giteaRepoRef, giteaRepositorySchema, giteaShaSchema, giteaUserSchema, gogsPullRef, gogsPullSchema } from "../hosts/gitea/gitea-pull.js";

/** Which payload shapes a delivery uses: Gitea's (Gitea, Forgejo) or Gogs'. */
export type GiteaPayloadFlavor = "gitea" | "gogs";

export type GiteaEventResult = { type: "event"; event: BotEvent } | { type: "ignore"; reason: string };

/** Where the delivery came from. */
export interface GiteaEventContext {
  /** The configured server whose secret verified the delivery. */
  host: GiteaHostKind;
  flavor: GiteaPayloadFlavor;
  /** The `X-*-Delivery` header. */
  deliveryId: string;
}

const repositoryOnly = z.looseObject({ repository: giteaRepositorySchema });

const pullRequestHookSchema = z.looseObject({
  action: z.string(),
  number: z.number().int().nullish(),
  repository: giteaRepositorySchema,
  sender: giteaUserSchema.nullish(),
  pull_request: z.unknown(),
});

const issueCommentHookSchema = z.looseObject({
  action: z.string(),
  is_pull: z.boolean().nullish(),
  repository: giteaRepositorySchema,
  issue: z.looseObject({ number: z.number().int().positive(), pull_request: z.unknown().nullish() }),
  comment: z.looseObject({ id: z.number().int().positive(), body: z.string(), user: giteaUserSchema, created_at: z.string().nullish() }),
});

const pushHookSchema = z.looseObject({
  ref: z.string(),
  after: z.string(),
  repository: giteaRepositorySchema,
  pusher: giteaUserSchema.nullish(),
  sender: giteaUserSchema.nullish(),
});

function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 3)
    .map((issue) => `${issue.path.join(".") || "(root)"}: ${issue.message}`)
    .join("; ");
}

/** The `repository` of any hook (its `html_url` picks the server), or null. */
export function giteaHookRepository(body: unknown): z.infer<typeof giteaRepositorySchema> | null {
  const parsed = repositoryOnly.safeParse(body);
  return parsed.success ? parsed.data.repository : null;
}

function repoOf(context: GiteaEventContext, repository: z.infer<typeof giteaRepositorySchema>): RepoRef | GiteaEventResult {
  return giteaRepoRef(context.host, repository) ?? { type: "ignore", reason: "repository owner or name is not a plain path" };
}

function parsePullRequest(body: unknown, context: GiteaEventContext): GiteaEventResult {
  const parsed = pullRequestHookSchema.safeParse(body);
  if (!parsed.success) return { type: "ignore", reason: `invalid pull_request payload: ${describeIssues(parsed.error)}` };
  const hook = parsed.data;
  const repo = repoOf(context, hook.repository);
  if ("type" in repo) return repo;
  let pr;
  if (context.flavor === "gogs") {
    const pull = gogsPullSchema.safeParse(hook.pull_request);
    if (!pull.success) return { type: "ignore", reason: `invalid Gogs pull_request: ${describeIssues(pull.error)}` };
    pr = gogsPullRef(repo, pull.data);
  } else {
    const pull = giteaPullSchema.safeParse(hook.pull_request);
    if (!pull.success) return { type: "ignore", reason: `invalid pull_request: ${describeIssues(pull.error)}` };
    pr = giteaPullRef(repo, pull.data);
  }
  const sender = giteaLogin(hook.sender) || pr.author;
  const { deliveryId } = context;
  switch (hook.action) {
    case "opened":
      return { type: "event", event: { kind: "pr-updated", deliveryId, pr, action: "opened", sender } };
    case "reopened":
      return { type: "event", event: { kind: "pr-updated", deliveryId, pr, action: "reopened", sender } };
    case "synchronized":
      return { type: "event", event: { kind: "pr-updated", deliveryId, pr, action: "synchronize", sender } };
    case "closed": {
      const merged = (hook.pull_request as { merged?: unknown }).merged === true;
      return { type: "event", event: { kind: "pr-closed", deliveryId, pr: { ...pr, state: "closed" }, merged, sender } };
    }
    default:
      return { type: "ignore", reason: `pull_request action '${hook.action.slice(0, 40)}' is not handled` };
  }
}

function parseIssueComment(body: unknown, context: GiteaEventContext): GiteaEventResult {
  if (context.flavor === "gogs") {
    // Gogs 0.13 has no pull request API: a command could not learn the PR's head commit.
    return { type: "ignore", reason: "comment commands are not supported on Gogs (no pull request API)" };
  }
  const parsed = issueCommentHookSchema.safeParse(body);
  if (!parsed.success) return { type: "ignore", reason: `invalid issue_comment payload: ${describeIssues(parsed.error)}` };
  const hook = parsed.data;
  if (hook.is_pull !== true && !hook.issue.pull_request) return { type: "ignore", reason: "comment is not on a pull request" };
  // Edits and deletions never run commands.
  if (hook.action !== "created") return { type: "ignore", reason: `comment action '${hook.action.slice(0, 40)}' is not handled` };
  const repo = repoOf(context, hook.repository);
  if ("type" in repo) return repo;
  const author = giteaLogin(hook.comment.user);
  if (!author) return { type: "ignore", reason: "comment without an author" };
  const createdAt = hook.comment.created_at ? Date.parse(hook.comment.created_at) : Number.NaN;
  const event: Extract<BotEvent, { kind: "pr-comment" }> = {
    kind: "pr-comment",
    deliveryId: context.deliveryId,
    repo,
    prNumber: hook.issue.number,
    commentId: String(hook.comment.id),
    author,
    body: hook.comment.body,
  };
  if (Number.isFinite(createdAt)) event.createdAt = createdAt;
  return { type: "event", event };
}

function parsePush(body: unknown, context: GiteaEventContext): GiteaEventResult {
  const parsed = pushHookSchema.safeParse(body);
  if (!parsed.success) return { type: "ignore", reason: `invalid push payload: ${describeIssues(parsed.error)}` };
  const hook = parsed.data;
  if (!hook.ref.startsWith("refs/tags/")) return { type: "ignore", reason: "push is not a tag" };
  // Deleting a tag never undeploys or deletes anything.
  if (/^0+$/.test(hook.after)) return { type: "ignore", reason: "tag deletion does nothing" };
  if (!giteaShaSchema.safeParse(hook.after).success) return { type: "ignore", reason: "tag push without a commit SHA" };
  const repo = repoOf(context, hook.repository);
  if ("type" in repo) return repo;
  return {
    type: "event",
    event: {
      kind: "tag-pushed",
      deliveryId: context.deliveryId,
      repo,
      tag: hook.ref.slice("refs/tags/".length),
      sha: hook.after,
      pusher: giteaLogin(hook.pusher) || giteaLogin(hook.sender),
    },
  };
}

/** Translate one delivery; `eventName` is the `X-Gitea-Event` (or Forgejo/Gogs) header. */
export function parseGiteaEvent(eventName: string | undefined, body: unknown, context: GiteaEventContext): GiteaEventResult {
  switch (eventName?.trim()) {
    case "pull_request":
      return parsePullRequest(body, context);
    case "issue_comment":
      return parseIssueComment(body, context);
    case "push":
      return parsePush(body, context);
    case undefined:
    case "":
      return { type: "ignore", reason: "missing event header" };
    default:
      return { type: "ignore", reason: `event '${(eventName ?? "").slice(0, 64)}' is not handled` };
  }
}
