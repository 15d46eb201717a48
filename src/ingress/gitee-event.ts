/**
 * Pure translation of a Gitee webhook (event header + parsed JSON body) into a `BotEvent`, or a
 * reason to ignore it. Never throws on input: a payload that does not fit is ignored with the reason.
 *
 * Gitee sends no delivery id, so one is derived from the fields that identify the change (event,
 * PR or note id, head SHA, action, update time). A re-sent delivery of the same change gets the same
 * id; the `timestamp`/`sign` fields are left out on purpose because they change on a re-send. A new
 * comment's id is unique on its own, so its update time is left out too: a copy of the delivery
 * with another time cannot run the same comment twice.
 *
 * Nothing here is trusted as it stands: Gitee's signature does not cover the body, so the host
 * re-reads the comment and the PR from the API (`GiteeHost.confirmEvent`) before berth acts.
 */
import { createHash } from "node:crypto";
import { z } from "zod";
import type { BotEvent, RepoRef } from "../domain/types.js";
import { giteeBranchRepoSchema, giteeHookPullSchema, giteeLogin, giteePullRef, giteeShaSchema, giteeUserSchema, isGiteeFork } from "../hosts/gitee/gitee-pull.js";

/** The result of translating one delivery. */
export type GiteeEventResult = { type: "event"; event: BotEvent } | { type: "ignore"; reason: string };

/** Options of `parseGiteeEvent`. */
export interface ParseGiteeEventOptions {
  /** Login of berth's own Gitee account: its comments are never read as commands. */
  botLogin?: string;
}

/** Event names as Gitee sends them in `X-Gitee-Event`. */
export const GITEE_EVENTS = {
  mergeRequest: "Merge Request Hook",
  note: "Note Hook",
  tagPush: "Tag Push Hook",
  push: "Push Hook",
} as const;

/** Owner and repository paths as Gitee allows them (they end up in API paths and resource names). */
const pathSegment = z.string().regex(/^[A-Za-z0-9_.-]{1,191}$/, "must be a Gitee path");

/** `repository` of a hook: `namespace` is the owner path (a string here, unlike the REST API). */
const hookRepoSchema = z.looseObject({
  namespace: pathSegment,
  path: pathSegment,
  default_branch: z.string().nullish(),
  html_url: z.string(),
});

const mergeRequestHookSchema = z.looseObject({
  action: z.string(),
  action_desc: z.string().nullish(),
  repository: hookRepoSchema,
  pull_request: giteeHookPullSchema,
  sender: giteeUserSchema.nullish(),
  source_repo: z.looseObject({ repository: giteeBranchRepoSchema.nullish() }).nullish(),
  target_repo: z.looseObject({ repository: giteeBranchRepoSchema.nullish() }).nullish(),
});

const noteHookSchema = z.looseObject({
  action: z.string(),
  noteable_type: z.string(),
  repository: hookRepoSchema,
  comment: z.looseObject({
    id: z.number(),
    body: z.string(),
    user: giteeUserSchema,
    updated_at: z.string().nullish(),
  }),
  pull_request: giteeHookPullSchema,
});

const tagPushHookSchema = z.looseObject({
  ref: z.string(),
  after: z.string(),
  created: z.boolean().nullish(),
  deleted: z.boolean().nullish(),
  repository: hookRepoSchema,
  sender: giteeUserSchema.nullish(),
  user_name: z.string().nullish(),
});

/** Just enough of a Note Hook to tell whether it is about a pull request. */
const noteKindSchema = z.looseObject({ noteable_type: z.string().nullish(), action: z.string().nullish() });

function toRepoRef(repository: z.infer<typeof hookRepoSchema>): RepoRef {
  return {
    host: "gitee",
    owner: repository.namespace,
    name: repository.path,
    defaultBranch: repository.default_branch || "master",
    htmlUrl: repository.html_url,
  };
}

/** Just the repository of any hook, to choose the secret that must verify it. */
const hookRepoPathSchema = z.looseObject({ repository: z.looseObject({ namespace: pathSegment, path: pathSegment }) });

/**
 * Owner and name of the repository a hook names (`repository.namespace` / `repository.path`, the
 * fields every `BotEvent` takes its repository from), or null when it names none.
 */
export function giteeHookRepository(body: unknown): { owner: string; name: string } | null {
  const parsed = hookRepoPathSchema.safeParse(body);
  return parsed.success ? { owner: parsed.data.repository.namespace, name: parsed.data.repository.path } : null;
}

/** A stable id for de-duplication: the same change always hashes to the same id. */
export function giteeDeliveryId(parts: ReadonlyArray<string | number | null | undefined>): string {
  const digest = createHash("sha256").update(JSON.stringify(parts.map((p) => p ?? null))).digest("hex");
  return `gitee-${digest.slice(0, 32)}`;
}

function describeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 3)
    .map((issue) => `${issue.path.join(".") || "(root)"}: ${issue.message}`)
    .join("; ");
}

function parseMergeRequest(body: unknown): GiteeEventResult {
  const parsed = mergeRequestHookSchema.safeParse(body);
  if (!parsed.success) return { type: "ignore", reason: `invalid Merge Request Hook payload: ${describeIssues(parsed.error)}` };
  const hook = parsed.data;
  const pull = hook.pull_request;
  const repo = toRepoRef(hook.repository);
  const fromFork =
    hook.source_repo?.repository || hook.target_repo?.repository
      ? isGiteeFork(hook.source_repo?.repository, hook.target_repo?.repository)
      : isGiteeFork(pull.head.repo, pull.base.repo);
  const pr = giteePullRef(repo, pull, fromFork);
  const sender = giteeLogin(hook.sender) || pr.author;
  const deliveryId = giteeDeliveryId([GITEE_EVENTS.mergeRequest, pull.id, pull.head.sha, hook.action, hook.action_desc, pull.updated_at]);

  switch (hook.action) {
    case "open":
      return { type: "event", event: { kind: "pr-updated", deliveryId, pr, action: "opened", sender } };
    case "reopen":
      return { type: "event", event: { kind: "pr-updated", deliveryId, pr, action: "reopened", sender } };
    case "update":
      // Gitee reports every edit (title, assignees, target branch, ...) as "update"; only new commits matter.
      if (hook.action_desc === "source_branch_changed") {
        return { type: "event", event: { kind: "pr-updated", deliveryId, pr, action: "synchronize", sender } };
      }
      return { type: "ignore", reason: `merge request update '${hook.action_desc ?? "unknown"}' does not change the code` };
    case "close":
    case "merge":
      return {
        type: "event",
        event: { kind: "pr-closed", deliveryId, pr: { ...pr, state: "closed" }, merged: hook.action === "merge" || pull.merged === true, sender },
      };
    default:
      return { type: "ignore", reason: `merge request action '${hook.action}' is not handled` };
  }
}

function parseNote(body: unknown, options: ParseGiteeEventOptions): GiteeEventResult {
  const kind = noteKindSchema.safeParse(body);
  if (!kind.success) return { type: "ignore", reason: "invalid Note Hook payload" };
  if (kind.data.noteable_type !== "PullRequest") {
    return { type: "ignore", reason: `note on '${kind.data.noteable_type ?? "unknown"}' is not a pull request comment` };
  }
  // "comment" is a new note; edits and deletions never run commands.
  if (kind.data.action !== "comment") return { type: "ignore", reason: `note action '${kind.data.action ?? "unknown"}' is not handled` };

  const parsed = noteHookSchema.safeParse(body);
  if (!parsed.success) return { type: "ignore", reason: `invalid Note Hook payload: ${describeIssues(parsed.error)}` };
  const hook = parsed.data;
  const author = giteeLogin(hook.comment.user);
  if (options.botLogin && author.toLowerCase() === options.botLogin.toLowerCase()) {
    return { type: "ignore", reason: "comment written by berth itself" };
  }
  const repo = toRepoRef(hook.repository);
  const pull = hook.pull_request;
  const pr = giteePullRef(repo, pull);
  return {
    type: "event",
    event: {
      kind: "pr-comment",
      deliveryId: giteeDeliveryId([GITEE_EVENTS.note, hook.comment.id, hook.action]),
      repo,
      prNumber: pull.number,
      pr,
      commentId: String(hook.comment.id),
      author,
      body: hook.comment.body,
    },
  };
}

function parseTagPush(body: unknown): GiteeEventResult {
  const parsed = tagPushHookSchema.safeParse(body);
  if (!parsed.success) return { type: "ignore", reason: `invalid Tag Push Hook payload: ${describeIssues(parsed.error)}` };
  const hook = parsed.data;
  if (!hook.ref.startsWith("refs/tags/")) return { type: "ignore", reason: "push is not a tag" };
  // Deleting a tag never undeploys or deletes anything.
  if (hook.deleted || /^0+$/.test(hook.after)) return { type: "ignore", reason: "tag deletion does nothing" };
  if (!giteeShaSchema.safeParse(hook.after).success) return { type: "ignore", reason: "tag push without a commit SHA" };
  const tag = hook.ref.slice("refs/tags/".length);
  const pusher = giteeLogin(hook.sender) || hook.user_name || "";
  return {
    type: "event",
    event: {
      kind: "tag-pushed",
      deliveryId: giteeDeliveryId([GITEE_EVENTS.tagPush, hook.repository.namespace, hook.repository.path, hook.ref, hook.after]),
      repo: toRepoRef(hook.repository),
      tag,
      sha: hook.after,
      pusher,
    },
  };
}

/**
 * Translate a Gitee delivery. `eventName` is the `X-Gitee-Event` header, `body` the parsed JSON.
 */
export function parseGiteeEvent(eventName: string | undefined, body: unknown, options: ParseGiteeEventOptions = {}): GiteeEventResult {
  const name = eventName?.trim();
  if (!name) return { type: "ignore", reason: "missing X-Gitee-Event header" };
  switch (name) {
    case GITEE_EVENTS.mergeRequest:
      return parseMergeRequest(body);
    case GITEE_EVENTS.note:
      return parseNote(body, options);
    case GITEE_EVENTS.tagPush:
      return parseTagPush(body);
    default:
      return { type: "ignore", reason: `event '${name.slice(0, 64)}' is not handled` };
  }
}
