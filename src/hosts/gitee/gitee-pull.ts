/**
 * The one Gitee pull-request schema and its one mapping to a `PullRef`, shared by the webhook
 * translation (`ingress/gitee-event.ts`) and the API adapter (`GiteeHost`). Pure: zod and data only,
 * no client, so ingress may import it.
 *
 * A pull request looks the same in a webhook payload and in an API answer (`GET /repos/…/pulls/{n}`)
 * except for what each side relies on, so there is one base schema and two narrow variants:
 * - `giteePullSchema` (API): the base plus `merged_at`; lenient where the API is (no `user`, empty refs).
 * - `giteeHookPullSchema` (webhook): the base plus `id`, `merged`, `updated_at` (they make the
 *   delivery id and the merge flag) and stricter where a hook needs a field (`user`, a positive
 *   number, non-empty refs). Hook users and repositories may name themselves `username`/`user_name`
 *   and `path_with_namespace`; the base accepts those and the mapping falls back to them.
 */
import { z } from "zod";
import type { PullRef, RepoRef } from "../../domain/types.js";

/** A full commit SHA (SHA-1 or SHA-256), lower-case as Gitee writes it. */
export const giteeShaSchema = z.string().regex(/^(?:[0-9a-f]{40}|[0-9a-f]{64})$/, "must be a full commit SHA");

/** A user as hooks and the API write it; hooks may use `username` or `user_name` besides `login`. */
export const giteeUserSchema = z.looseObject({
  login: z.string().nullish(),
  username: z.string().nullish(),
  user_name: z.string().nullish(),
});

/** A repository inside `head`/`base` (or a hook's `source_repo`/`target_repo`). */
export const giteeBranchRepoSchema = z.looseObject({
  id: z.number().nullish(),
  full_name: z.string().nullish(),
  path_with_namespace: z.string().nullish(),
});

/** The fields of a pull request that `giteePullRef` reads. */
const pullBaseSchema = z.looseObject({
  number: z.number().int(),
  title: z.string().nullish(),
  state: z.string(),
  html_url: z.string(),
  user: giteeUserSchema.nullish(),
  head: z.looseObject({ ref: z.string(), sha: giteeShaSchema, repo: giteeBranchRepoSchema.nullish() }),
  base: z.looseObject({ ref: z.string(), repo: giteeBranchRepoSchema.nullish() }),
});

/** A pull request as the v5 API answers it. */
export const giteePullSchema = pullBaseSchema.extend({
  merged_at: z.string().nullish(),
});

/** A pull request as a Merge Request Hook or Note Hook carries it. */
export const giteeHookPullSchema = pullBaseSchema.extend({
  id: z.number(),
  number: z.number().int().positive(),
  merged: z.boolean().nullish(),
  updated_at: z.string().nullish(),
  user: giteeUserSchema,
  head: pullBaseSchema.shape.head.extend({ ref: z.string().min(1) }),
  base: pullBaseSchema.shape.base.extend({ ref: z.string().min(1) }),
});

/** Any Gitee pull request `giteePullRef` can map (both variants are one). */
export type GiteePull = z.infer<typeof pullBaseSchema>;

/** A user's login, whichever field carries it; "" when none does. */
export function giteeLogin(user: z.infer<typeof giteeUserSchema> | null | undefined): string {
  return user?.login ?? user?.username ?? user?.user_name ?? "";
}

function repoKey(repo: z.infer<typeof giteeBranchRepoSchema> | null | undefined): string | null {
  const name = repo?.full_name ?? repo?.path_with_namespace;
  return name ? name.toLowerCase() : null;
}

/**
 * Source and target differ (a fork): by id when both have one, else by full name. When either side
 * is unknown, treat it as a fork: never built unapproved.
 */
export function isGiteeFork(
  head: z.infer<typeof giteeBranchRepoSchema> | null | undefined,
  base: z.infer<typeof giteeBranchRepoSchema> | null | undefined,
): boolean {
  if (typeof head?.id === "number" && typeof base?.id === "number") return head.id !== base.id;
  const h = repoKey(head);
  const b = repoKey(base);
  return h === null || b === null || h !== b;
}

/**
 * A `PullRef` from a Gitee pull request. `fromFork` defaults to comparing the PR's own head and
 * base repositories; a Merge Request Hook passes what its `source_repo`/`target_repo` say.
 */
export function giteePullRef(repo: RepoRef, pull: GiteePull, fromFork: boolean = isGiteeFork(pull.head.repo, pull.base.repo)): PullRef {
  return {
    repo,
    number: pull.number,
    headSha: pull.head.sha,
    headRef: pull.head.ref,
    baseRef: pull.base.ref,
    fromFork,
    url: pull.html_url,
    author: giteeLogin(pull.user),
    state: pull.state === "open" ? "open" : "closed",
    ...(pull.title ? { title: pull.title } : {}),
  };
}
