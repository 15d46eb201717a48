/**
 * Preview keys: built from a repository in one place, rendered as `owner/name` text in one place,
 * and read back from that text (Docker labels, Kubernetes annotations) in one place.
 */
import type { PreviewKey } from "./ports.js";
import type { RepoRef } from "./types.js";
import { isHostKind } from "./host-kind.js";

/** The repository fields a key is built from (a RepoRef, a PullRecord's repo, another key). */
type RepoOf = Pick<RepoRef, "host" | "owner" | "name">;

/** The key of a pull request's preview. */
export function previewKeyOf(repo: RepoOf, pr: number): PreviewKey {
  return { host: repo.host, owner: repo.owner, name: repo.name, pr };
}

/**
 * The key of a tag-flow environment's deployment (`pr` 0), with the Kubernetes namespace the
 * environment is configured to use, when it has one. (Not `environmentKeyOf` of records.ts, which
 * names the environment's run slot in the store.)
 */
export function environmentPreviewKeyOf(repo: RepoOf, environment: string, namespace?: string): PreviewKey {
  return { ...previewKeyOf(repo, 0), environment, ...(namespace ? { namespace } : {}) };
}

/**
 * `owner/name`, as on the host: the text of the repository in labels, annotations, Helm values,
 * log lines and URLs. {@link parsePreviewKey} reads it back.
 */
export function repoPathOf(repo: Pick<RepoRef, "owner" | "name">): string {
  return `${repo.owner}/${repo.name}`;
}

/** `owner/name#12`, or `owner/name (production)` for an environment: a key in messages. */
export function previewKeyText(key: PreviewKey): string {
  return key.environment ? `${repoPathOf(key)} (${key.environment})` : `${repoPathOf(key)}#${key.pr}`;
}

/**
 * One segment of a repository path. GitHub and Gitee both allow only these characters in owner and
 * repository paths (Gitee's ingress checks the same), and a path is exactly `owner/name`.
 */
const PATH_SEGMENT = /^[A-Za-z0-9_.-]{1,191}$/;

function pathSegment(text: string): boolean {
  return PATH_SEGMENT.test(text) && text !== "." && text !== "..";
}

/** A key read back from an object's labels, or why its labels are not a PR preview's. */
export type ParsedPreviewKey = { ok: true; key: PreviewKey } | { ok: false; reason: string };

/**
 * The key of a PR preview from the text berth wrote on its objects: the host, the
 * {@link repoPathOf} text and the PR number. Anything else (unknown host, a repository that is not
 * exactly `owner/name`, a PR that is not a positive integer) is refused, never guessed.
 * Environments (PR 0) are not PR previews; callers skip their objects before asking.
 */
export function parsePreviewKey(text: { host: string | undefined; repo: string | undefined; pr: string | undefined }): ParsedPreviewKey {
  const { host, repo, pr } = text;
  if (!isHostKind(host)) return { ok: false, reason: "unknown host" };
  if (repo === undefined) return { ok: false, reason: "no repository" };
  const parts = repo.split("/");
  if (parts.length !== 2) return { ok: false, reason: "repository is not owner/name" };
  const [owner, name] = parts as [string, string];
  if (!pathSegment(owner) || !pathSegment(name)) return { ok: false, reason: "repository is not owner/name" };
  if (pr === undefined || !/^[1-9][0-9]{0,9}$/.test(pr)) return { ok: false, reason: "PR number is not a positive integer" };
  return { ok: true, key: previewKeyOf({ host, owner, name }, Number(pr)) };
}
