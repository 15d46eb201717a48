/**
 * Gitea, Forgejo and Gogs pull requests and repositories → berth's `PullRef` / `RepoRef`. Pure (zod
 * and data), shared by the webhook translation (`ingress/gitea-event.ts`) and the API adapter
 * (`GiteaHost`). Field names follow Gitea's `modules/structs` (`PullRequest`, `PRBranchInfo`,
 * `Repository`, `User`); Gogs 0.13 (`go-gogs-client`) names a PR's branches `head_branch` /
 * `base_branch` with `head_repo` / `base_repo`, and carries no head SHA.
 */
import { z } from "zod";
import type { GiteaHostKind } from "../../domain/host-kind.js";
import type { PullRef, RepoRef } from "../../domain/types.js";

/** A full commit SHA (SHA-1 or SHA-256). */
export const giteaShaSchema = z.string().regex(/^(?:[0-9a-f]{40}|[0-9a-f]{64})$/, "must be a full commit SHA");

/** Owner and repository names as Gitea allows them (they end up in API paths and resource names). */
const pathSegment = z.string().regex(/^[A-Za-z0-9_.-]{1,191}$/, "must be a repository path segment");

/** A user: Gitea writes `login` (and `username`), Gogs `login` or `username`. */
export const giteaUserSchema = z.looseObject({ login: z.string().nullish(), username: z.string().nullish() });

/** The login of a user, whichever field carries it; "" when none does. */
export function giteaLogin(user: z.infer<typeof giteaUserSchema> | null | undefined): string {
  return user?.login || user?.username || "";
}

/** A repository as hooks and the API write it. */
export const giteaRepositorySchema = z.looseObject({
  id: z.number().int(),
  name: pathSegment,
  full_name: z.string(),
  owner: giteaUserSchema,
  html_url: z.string(),
  default_branch: z.string().nullish(),
});
export type GiteaRepository = z.infer<typeof giteaRepositorySchema>;

/** Owner and name of a repository: `owner.login`, else the first part of `full_name`. */
export function giteaRepoPathOf(repository: GiteaRepository): { owner: string; name: string } | null {
  const owner = giteaLogin(repository.owner) || repository.full_name.split("/")[0] || "";
  if (!pathSegment.safeParse(owner).success) return null;
  if (repository.full_name.toLowerCase() !== `${owner}/${repository.name}`.toLowerCase()) return null;
  return { owner, name: repository.name };
}

/** A RepoRef on the server `host`; null when the repository's owner or name is not a plain path. */
export function giteaRepoRef(host: GiteaHostKind, repository: GiteaRepository): RepoRef | null {
  const path = giteaRepoPathOf(repository);
  if (!path) return null;
  return { host, ...path, defaultBranch: repository.default_branch || "main", htmlUrl: repository.html_url };
}

const branchRepoSchema = z.looseObject({ id: z.number().int().nullish(), full_name: z.string().nullish() });

/** A pull request as Gitea and Forgejo write it (API and hooks). */
export const giteaPullSchema = z.looseObject({
  number: z.number().int().positive(),
  state: z.string(),
  html_url: z.string(),
  user: giteaUserSchema.nullish(),
  merged: z.boolean().nullish(),
  merged_at: z.string().nullish(),
  head: z.looseObject({ ref: z.string().min(1), sha: giteaShaSchema, repo_id: z.number().int().nullish(), repo: branchRepoSchema.nullish() }),
  base: z.looseObject({ ref: z.string().min(1), repo_id: z.number().int().nullish(), repo: branchRepoSchema.nullish() }),
});
export type GiteaPull = z.infer<typeof giteaPullSchema>;

/** A pull request as Gogs 0.13 writes it in hooks: branches by name, no head SHA. */
export const gogsPullSchema = z.looseObject({
  number: z.number().int().positive(),
  state: z.string(),
  html_url: z.string(),
  user: giteaUserSchema.nullish(),
  merged: z.boolean().nullish(),
  head_branch: z.string().min(1),
  base_branch: z.string().min(1),
  head_repo: branchRepoSchema.nullish(),
  base_repo: branchRepoSchema.nullish(),
});
export type GogsPull = z.infer<typeof gogsPullSchema>;

/**
 * Head and base differ (a fork): by repository id when both have one, else by full name. An unknown
 * side (a deleted fork) counts as a fork: never built unapproved.
 */
export function isGiteaFork(head: z.infer<typeof branchRepoSchema> | null | undefined, base: z.infer<typeof branchRepoSchema> | null | undefined): boolean {
  if (typeof head?.id === "number" && typeof base?.id === "number") return head.id !== base.id;
  const h = head?.full_name?.toLowerCase();
  const b = base?.full_name?.toLowerCase();
  return !h || !b || h !== b;
}

/** A PullRef from a Gitea/Forgejo pull request. */
export function giteaPullRef(repo: RepoRef, pull: GiteaPull): PullRef {
  const head = { id: pull.head.repo_id ?? pull.head.repo?.id, full_name: pull.head.repo?.full_name };
  const base = { id: pull.base.repo_id ?? pull.base.repo?.id, full_name: pull.base.repo?.full_name };
  return {
    repo,
    number: pull.number,
    headSha: pull.head.sha,
    headRef: pull.head.ref,
    baseRef: pull.base.ref,
    fromFork: isGiteaFork(head, base),
    url: pull.html_url,
    author: giteaLogin(pull.user),
    state: pull.state === "open" ? "open" : "closed",
  };
}

/**
 * A PullRef from a Gogs hook's pull request. Gogs names no head SHA: `headSha` is "" until
 * `GiteaHost.confirmEvent` reads the head branch's commit from the API.
 */
export function gogsPullRef(repo: RepoRef, pull: GogsPull): PullRef {
  return {
    repo,
    number: pull.number,
    headSha: "",
    headRef: pull.head_branch,
    baseRef: pull.base_branch,
    fromFork: isGiteaFork(pull.head_repo, pull.base_repo),
    url: pull.html_url,
    author: giteaLogin(pull.user),
    state: pull.state === "open" ? "open" : "closed",
  };
}
