/**
 * Real GitHub webhook payloads from @octokit/webhooks-examples, selected by their fields and
 * adjusted for the case under test (never by index).
 */
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const definitions = require("@octokit/webhooks-examples") as Array<{ name: string; examples: Array<Record<string, any>> }>;

function examplesOf(name: string): Array<Record<string, any>> {
  const def = definitions.find((d) => d.name === name);
  if (!def) throw new Error(`no examples for ${name}`);
  return def.examples;
}

/** Installation id put on payloads that lack one. */
export const INSTALLATION_ID = 4242;

export interface PullPayloadOptions {
  action: "opened" | "synchronize" | "reopened" | "closed";
  headSha?: string;
  merged?: boolean;
  fork?: boolean;
  /** Move the PR to another repository (`owner/name`). */
  repo?: string;
  prNumber?: number;
}

/** Point a payload's repository (and the PR's base/head repos) at `owner/name`. */
function moveToRepo(payload: Record<string, any>, fullName: string): void {
  const [owner, name] = fullName.split("/");
  const repository = { ...payload.repository, name, full_name: fullName, html_url: `https://github.com/${fullName}`, owner: { ...payload.repository.owner, login: owner } };
  payload.repository = repository;
  if (payload.pull_request) {
    payload.pull_request.base.repo = repository;
    payload.pull_request.head.repo = repository;
  }
}

/** A `pull_request` payload with the given action (taken from a real example of that action). */
export function pullRequestPayload(options: PullPayloadOptions): Record<string, any> {
  const example = examplesOf("pull_request").find((e) => e.action === options.action && e.installation) ?? examplesOf("pull_request").find((e) => e.action === options.action);
  if (!example) throw new Error(`no pull_request example with action ${options.action}`);
  const payload = structuredClone(example);
  payload.installation ??= { id: INSTALLATION_ID, node_id: "MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uNDI0Mg==" };
  payload.installation.id = INSTALLATION_ID;
  if (options.repo) moveToRepo(payload, options.repo);
  if (options.prNumber !== undefined) {
    payload.number = options.prNumber;
    payload.pull_request.number = options.prNumber;
  }
  if (options.headSha) payload.pull_request.head.sha = options.headSha;
  if (options.merged !== undefined) payload.pull_request.merged = options.merged;
  if (options.action === "closed") payload.pull_request.state = "closed";
  else payload.pull_request.state = "open";
  if (options.fork) {
    payload.pull_request.head.repo = { ...payload.pull_request.head.repo, full_name: `evil-fork/${payload.repository.name}`, fork: true };
  }
  return payload;
}

/** Ids of comments made by {@link prCommentPayload}: every comment on GitHub has its own. */
let nextCommentId = 7_000_001;

/**
 * An `issue_comment.created` payload on a pull request (examples are on issues: add
 * `issue.pull_request`), with its own comment id and written now unless told otherwise.
 */
export function prCommentPayload(body: string, options: { author?: string; prNumber?: number; commentId?: number; createdAt?: Date } = {}): Record<string, any> {
  const example = examplesOf("issue_comment").find((e) => e.action === "created" && e.installation) ?? examplesOf("issue_comment").find((e) => e.action === "created");
  if (!example) throw new Error("no issue_comment.created example");
  const payload = structuredClone(example);
  payload.installation ??= { id: INSTALLATION_ID, node_id: "MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uNDI0Mg==" };
  payload.installation.id = INSTALLATION_ID;
  const prNumber = options.prNumber ?? 2;
  payload.issue.number = prNumber;
  payload.issue.pull_request = {
    url: `https://api.github.com/repos/${payload.repository.full_name}/pulls/${prNumber}`,
    html_url: `https://github.com/${payload.repository.full_name}/pull/${prNumber}`,
    diff_url: `https://github.com/${payload.repository.full_name}/pull/${prNumber}.diff`,
    patch_url: `https://github.com/${payload.repository.full_name}/pull/${prNumber}.patch`,
  };
  payload.comment.body = body;
  payload.comment.id = options.commentId ?? nextCommentId++;
  payload.comment.created_at = (options.createdAt ?? new Date()).toISOString();
  if (options.author) payload.comment.user = { ...payload.comment.user, login: options.author, type: "User" };
  return payload;
}

/** A `push` payload of a tag (created, or deleted with `deleted: true`). */
export function tagPushPayload(options: { tag: string; sha: string; pusher?: string; deleted?: boolean; repo?: string }): Record<string, any> {
  const example = examplesOf("push").find((e) => String(e.ref).startsWith("refs/tags/") && e.created === true);
  if (!example) throw new Error("no tag push example");
  const payload = structuredClone(example);
  payload.installation = { id: INSTALLATION_ID, node_id: "MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uNDI0Mg==" };
  if (options.repo) moveToRepo(payload, options.repo);
  payload.ref = `refs/tags/${options.tag}`;
  payload.created = !options.deleted;
  payload.deleted = options.deleted === true;
  payload.after = options.deleted ? "0".repeat(40) : options.sha;
  if (options.pusher) {
    payload.sender = { ...payload.sender, login: options.pusher };
    payload.pusher = { ...payload.pusher, name: options.pusher };
  }
  return payload;
}
