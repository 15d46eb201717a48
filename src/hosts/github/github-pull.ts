/**
 * GitHub pull requests and repositories → berth's `PullRef` / `RepoRef`. Pure; shared by the webhook
 * translation (`ingress/github-event.ts`) and the API adapter (`GitHubHost.getPull`), so the host
 * does not depend on ingress.
 */
import type { Context } from "probot";
import type { PullRef, RepoRef } from "../../domain/types.js";

type RepositoryPayload = Context<"pull_request">["payload"]["repository"];

/** A RepoRef from a webhook's `repository` (and `installation`). */
export function repoRefFromGitHub(repository: Pick<RepositoryPayload, "owner" | "name" | "default_branch" | "html_url">, installationId?: number): RepoRef {
  const repo: RepoRef = {
    host: "github",
    owner: repository.owner.login,
    name: repository.name,
    defaultBranch: repository.default_branch,
    htmlUrl: repository.html_url,
  };
  if (installationId !== undefined) repo.installationId = installationId;
  return repo;
}

/** Minimal pull request fields berth reads (webhook payloads and `pulls.get` both have them). */
export interface GitHubPullFields {
  number: number;
  title?: string | null;
  state: string;
  html_url: string;
  user: { login: string } | null;
  head: { sha: string; ref: string; repo: { full_name: string } | null };
  base: { ref: string; repo: { full_name: string } };
}

/** A PullRef from a GitHub pull request object. */
export function pullRefFromGitHub(pr: GitHubPullFields, repo: RepoRef): PullRef {
  return {
    repo,
    number: pr.number,
    headSha: pr.head.sha,
    headRef: pr.head.ref,
    baseRef: pr.base.ref,
    // A deleted fork has no head repo: treat it as a fork (never trusted).
    fromFork: pr.head.repo?.full_name !== pr.base.repo.full_name,
    url: pr.html_url,
    author: pr.user?.login ?? "ghost",
    state: pr.state === "open" ? "open" : "closed",
    ...(pr.title ? { title: pr.title } : {}),
  };
}
