/**
 * Pure translation of GitHub webhook payloads into BotEvents.
 */
import { createHash } from "node:crypto";
import type { Context } from "probot";
import type { BotEvent, RepoRef } from "../domain/types.js";
import { pullRefFromGitHub, repoRefFromGitHub } from "../hosts/github/github-pull.js";

type PullRequestPayload = Context<"pull_request">["payload"];
type CommentPayload = Context<"issue_comment">["payload"];
type PushPayload = Context<"push">["payload"];

/**
 * What GitHub signed: the event name and a digest of the payload. GitHub's own redeliveries keep
 * their delivery id; the same signed body posted again under a new id is a replay. (Every real
 * delivery differs in its body: comment ids, before/after commits, `pushed_at`, `updated_at`.)
 */
export function githubReplayKey(name: string, payload: unknown): string {
  return `github:${name}:${createHash("sha256").update(JSON.stringify(payload)).digest("hex")}`;
}

/** `pull_request` → pr-updated / pr-closed, or null for actions berth ignores. */
export function fromPullRequestEvent(deliveryId: string, payload: PullRequestPayload): BotEvent | null {
  const installation = "installation" in payload ? payload.installation?.id : undefined;
  const repo = repoRefFromGitHub(payload.repository, installation);
  const pr = pullRefFromGitHub(payload.pull_request, repo);
  const sender = payload.sender?.login ?? "ghost";
  switch (payload.action) {
    case "opened":
    case "reopened":
    case "synchronize":
      return { kind: "pr-updated", deliveryId, pr, action: payload.action, sender, replayKey: githubReplayKey("pull_request", payload) };
    case "closed":
      return { kind: "pr-closed", deliveryId, pr, merged: payload.pull_request.merged === true, sender, replayKey: githubReplayKey("pull_request", payload) };
    default:
      return null;
  }
}

/** `issue_comment.created` on a pull request → pr-comment; null otherwise. */
export function fromIssueCommentEvent(deliveryId: string, payload: CommentPayload): BotEvent | null {
  if (payload.action !== "created" || !payload.issue.pull_request) return null;
  if (payload.comment.user?.type === "Bot") return null;
  return {
    kind: "pr-comment",
    deliveryId,
    repo: repoRefFromGitHub(payload.repository, payload.installation?.id),
    prNumber: payload.issue.number,
    commentId: String(payload.comment.id),
    author: payload.comment.user?.login ?? "ghost",
    body: payload.comment.body,
    createdAt: Date.parse(payload.comment.created_at),
    replayKey: githubReplayKey("issue_comment", payload),
  };
}

/** `push` of a tag → tag-pushed; branch pushes and tag deletions → null. */
export function fromPushEvent(deliveryId: string, payload: PushPayload): BotEvent | null {
  if (!payload.ref.startsWith("refs/tags/") || payload.deleted || /^0+$/.test(payload.after)) return null;
  const repository = payload.repository;
  const repo: RepoRef = {
    host: "github",
    owner: repository.owner?.login ?? repository.owner?.name ?? "",
    name: repository.name,
    defaultBranch: repository.default_branch ?? repository.master_branch ?? "main",
    htmlUrl: repository.html_url,
  };
  if (payload.installation?.id !== undefined) repo.installationId = payload.installation.id;
  return {
    kind: "tag-pushed",
    deliveryId,
    repo,
    tag: payload.ref.slice("refs/tags/".length),
    sha: payload.after,
    pusher: payload.sender?.login ?? payload.pusher.name,
    replayKey: githubReplayKey("push", payload),
  };
}
