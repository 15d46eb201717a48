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

/** `owner/name` → `owner-name` as a DNS label (≤ 40 chars so PR suffixes still fit in 63). */
export function repoSlug(owner: string, name: string): string {
  return dnsLabel(`${owner}-${name}`, 40);
}

/** Whether `sha` is a full hex commit id. */
export function isCommitSha(sha: string): boolean {
  return /^[0-9a-f]{40}$/.test(sha);
}

/** First seven characters of a commit id. */
export function sha7(sha: string): string {
  return sha.slice(0, 7);
}

/** Image repository for a repo under the configured registry prefix, e.g. `127.0.0.1:5000/previews/acme-app`. */
export function imageRepository(registry: string, owner: string, name: string): string {
  return `${registry.replace(/\/+$/, "")}/${repoSlug(owner, name)}`;
}

/** Tag of a PR image: `pr-<n>-<sha7>`. */
export function prImageTag(prNumber: number, sha: string): string {
  return `pr-${prNumber}-${sha7(sha)}`;
}

/** Name of a PR's preview (container, service, namespace, host label): `<repo-slug>-pr-<n>`. */
export function previewName(owner: string, name: string, prNumber: number): string {
  return dnsLabel(`${repoSlug(owner, name)}-pr-${prNumber}`);
}
