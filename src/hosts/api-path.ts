/**
 * URL paths of the REST APIs berth's own clients call (Gitee v5, Gitea/Forgejo/Gogs v1): every part
 * taken from a repository, a user or a ref is encoded, so a name cannot reach another endpoint.
 */
import type { RepoRef } from "../domain/types.js";

/** Encode one path segment (owner, repo, label name, user, ref). */
export function seg(value: string | number): string {
  return encodeURIComponent(String(value));
}

/** Encode a file path inside a repository, keeping its slashes. */
export function filePath(path: string): string {
  return path
    .replace(/^\/+/, "")
    .split("/")
    .map((part) => encodeURIComponent(part))
    .join("/");
}

/** `/repos/<owner>/<repo>`, each part encoded: the prefix of every repository API path. */
export function repoApiPath(repo: Pick<RepoRef, "owner" | "name">): string {
  return `/repos/${seg(repo.owner)}/${seg(repo.name)}`;
}
