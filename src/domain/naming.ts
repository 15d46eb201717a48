/**
 * Naming rules for everything berth creates from PR data (image tags, container, network,
 * namespace and host names). Inputs are attacker-controlled: every output is sanitised.
 */
import { createHash } from "node:crypto";

/** Short stable hash used when a name must be shortened. */
export function shortHash(text: string, length = 8): string {
  return createHash("sha256").update(text).digest("hex").slice(0, length);
}

/**
 * A DNS-1123 label (`[a-z0-9]([-a-z0-9]*[a-z0-9])?`, ≤ max chars). Longer names are cut and get a
 * hash suffix of the full input so that two long names never collide.
 */
export function dnsLabel(text: string, max = 63): string {
  let label = text
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, "-")
    .replace(/-{2,}/g, "-")
    .replace(/^-+|-+$/g, "");
  if (label === "") label = "x";
  if (label.length <= max) return label;
  const suffix = shortHash(text);
  const head = label.slice(0, max - suffix.length - 1).replace(/-+$/g, "");
  return `${head}-${suffix}`;
}

/** A repository as berth names it: code host plus owner and name. */
export interface RepoIdentity {
  host: string;
  owner: string;
  name: string;
}

/** Instance id used when the operator sets none (`BERTH_INSTANCE`). */
export const DEFAULT_INSTANCE = "default";

/**
 * The full identity behind every derived name: berth instance, code host and `owner/name`
 * (lower-cased: GitHub and Gitee treat names case-insensitively).
 */
export function repoIdentityText(repo: RepoIdentity, instance: string = DEFAULT_INSTANCE): string {
  return `${instance}\n${repo.host}\n${repo.owner.toLowerCase()}/${repo.name.toLowerCase()}`;
}

/**
 * `<owner>-<name>` cut to 31 chars plus an 8-char hash of the repository's full identity
 * ({@link repoIdentityText}), ≤ 40 chars so PR suffixes still fit in 63. Repositories whose names
 * sanitise alike (`x-app`, `x.app`), the same repository on two code hosts and two berth
 * instances sharing one engine or cluster never get the same slug.
 */
export function repoSlug(repo: RepoIdentity, instance: string = DEFAULT_INSTANCE): string {
  const readable = dnsLabel(`${repo.owner}-${repo.name}`, 200).slice(0, 31).replace(/-+$/g, "") || "x";
  return `${readable}-${shortHash(repoIdentityText(repo, instance))}`;
}

/** Whether `sha` is a full hex commit id. */
export function isCommitSha(sha: string): boolean {
  return /^[0-9a-f]{40}$/.test(sha);
}

/** First seven characters of a commit id. */
export function sha7(sha: string): string {
  return sha.slice(0, 7);
}

/** Image repository for a repo under the configured registry prefix, e.g. `127.0.0.1:5000/previews/acme-app-1a2b3c4d`. */
export function imageRepository(registry: string, repo: RepoIdentity, instance: string = DEFAULT_INSTANCE): string {
  return `${registry.replace(/\/+$/, "")}/${repoSlug(repo, instance)}`;
}

/** Tag of a PR image: `pr-<n>-<sha7>`. */
export function prImageTag(prNumber: number, sha: string): string {
  return `pr-${prNumber}-${sha7(sha)}`;
}

/** Name of a PR's preview (container, service, namespace, host label): `<repo-slug>-pr-<n>`. */
export function previewName(repo: RepoIdentity, prNumber: number, instance: string = DEFAULT_INSTANCE): string {
  return dnsLabel(`${repoSlug(repo, instance)}-pr-${prNumber}`);
}

/** Name of a tag-flow environment's objects: `<repo-slug>-env-<environment>`. */
export function environmentName(repo: RepoIdentity, environment: string, instance: string = DEFAULT_INSTANCE): string {
  return dnsLabel(`${repoSlug(repo, instance)}-env-${environment}`);
}
