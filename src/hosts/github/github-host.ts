/**
 * CodeHost for GitHub (and GitHub Enterprise through GHE_HOST), over installation-authenticated
 * Octokit clients. Probot's Octokit retries 5xx and rate-limit answers with backoff.
 */
import type { Logger } from "pino";
import type { BotEvent } from "../../domain/types.js";
import type { ProbotOctokit } from "probot";
import type { CodeHost, CommitStatus, HostCapabilities, SourceArchive } from "../../domain/ports.js";
import type { Permission, PullRef, RepoRef } from "../../domain/types.js";
import { pullRefFromGitHub } from "./github-pull.js";
import { findMarkedComment, retryingOnce } from "../marked-comment.js";
import { archiveTooLargeError, gzipSourceArchive, MAX_SOURCE_ARCHIVE_BYTES } from "../source-archive-limits.js";

type Octokit = InstanceType<typeof ProbotOctokit>;

/** Gives an Octokit authenticated as the App installation. */
export type InstallationOctokit = (installationId: number) => Promise<Octokit>;

/** Finds the App's installation on a repository (App JWT: `GET /repos/{owner}/{repo}/installation`). */
export type InstallationLookup = (owner: string, repo: string) => Promise<number>;

/**
 * Who berth is on GitHub, so `findComment` adopts only comments berth wrote. A comment written with
 * the App's installation token has `user.type === "Bot"`, `user.login === "<app-slug>[bot]"` and
 * `performed_via_github_app.id === <App id>`.
 */
export interface GitHubAppIdentity {
  /** The App's id (Probot signs its JWT with it, so it is known without a request). */
  appId: () => Promise<number>;
  /** The App's bot login `<app-slug>[bot]`; asked only for a Bot comment that names no App. */
  botLogin?: () => Promise<string>;
}

export interface GitHubHostOptions {
  /** Without it any Bot's comment with the marker is adopted (never a person's). */
  identity?: GitHubAppIdentity;
  /** Where what the host cannot read (a team membership without permission) is said. */
  log?: Pick<Logger, "warn">;
}

/** One comment as `issues.listComments` lists it (the fields adoption looks at). */
interface ListedComment {
  id: number;
  body?: string;
  user: { login: string; type: string } | null;
  performed_via_github_app?: { id: number } | null;
}

/** The comments of each page Octokit's paginator reads. */
async function* pagesOf(iterator: AsyncIterable<{ data: unknown }>): AsyncGenerator<readonly ListedComment[]> {
  for await (const page of iterator) yield page.data as ListedComment[];
}

const PERMISSIONS: readonly Permission[] = ["admin", "maintain", "write", "triage", "read", "none"];

function statusOf(err: unknown): number | undefined {
  return typeof err === "object" && err !== null && "status" in err ? Number((err as { status: unknown }).status) : undefined;
}

export { MAX_SOURCE_ARCHIVE_BYTES } from "../source-archive-limits.js";

export class GitHubHost implements CodeHost {
  readonly kind = "github" as const;
  readonly capabilities: HostCapabilities = {
    statusScope: "commit",
    deployments: {
      start: (repo, deployment) => this.startDeployment(repo, deployment),
      finish: (repo, id, result) => this.finishDeployment(repo, id, result),
    },
    teams: { isMember: (repo, team, user) => this.isTeamMember(repo, team, user) },
  };

  /** GitHub signs the whole body (X-Hub-Signature-256): what the payload says is what GitHub sent. */
  async confirmEvent(event: BotEvent): Promise<BotEvent> {
    return event;
  }

  private readonly installations = new Map<string, Promise<number>>();

  private readonly ourAppId: () => Promise<number>;
  private readonly ourBotLogin: () => Promise<string>;

  constructor(
    private readonly octokitFor: InstallationOctokit,
    /** For repositories berth has no record of (the reconciler after state loss). */
    private readonly lookupInstallation?: InstallationLookup,
    private readonly options: GitHubHostOptions = {},
  ) {
    const identity = options.identity;
    this.ourAppId = retryingOnce(() => (identity ? identity.appId() : Promise.reject(new Error("no GitHub App identity"))));
    this.ourBotLogin = retryingOnce(() => (identity?.botLogin ? identity.botLogin() : Promise.reject(new Error("no GitHub App bot login"))));
  }

  /** Whether berth wrote the comment: never a person's (even one quoting berth's marker), only the App's bot. */
  private async isOurs(comment: ListedComment): Promise<boolean> {
    if (comment.user?.type !== "Bot") return false;
    const identity = this.options.identity;
    if (!identity) return true;
    const app = comment.performed_via_github_app;
    if (app) return app.id === (await this.ourAppId());
    if (!identity.botLogin) return false;
    return comment.user.login.toLowerCase() === (await this.ourBotLogin()).toLowerCase();
  }

  private async client(repo: RepoRef): Promise<Octokit> {
    if (repo.installationId !== undefined) return this.octokitFor(repo.installationId);
    if (!this.lookupInstallation) throw new Error(`no GitHub App installation known for ${repo.owner}/${repo.name}`);
    const key = `${repo.owner}/${repo.name}`.toLowerCase();
    let pending = this.installations.get(key);
    if (!pending) {
      pending = this.lookupInstallation(repo.owner, repo.name);
      // A failed lookup (App not installed, API down) is asked again next time.
      pending.catch(() => this.installations.delete(key));
      this.installations.set(key, pending);
    }
    return this.octokitFor(await pending);
  }

  /**
   * Whether `user` is an active member of `org/team` (`acceptance.by.teams`). Needs the App's
   * organisation permission "members: read"; without it GitHub answers 403, read as "not a member"
   * (and logged), so a missing permission never lets anyone in.
   */
  private async isTeamMember(repo: RepoRef, team: string, user: string): Promise<boolean> {
    const [org = "", slug = ""] = team.split("/");
    const octokit = await this.client(repo);
    try {
      const { data } = await octokit.rest.teams.getMembershipForUserInOrg({ org, team_slug: slug, username: user });
      return data.state === "active";
    } catch (err) {
      const status = statusOf(err);
      if (status === 404) return false;
      if (status === 403) {
        this.options.log?.warn({ team, status }, "team membership unreadable (the App needs the organisation permission members: read)");
        return false;
      }
      throw err;
    }
  }

  async readFile(repo: RepoRef, path: string, ref: string): Promise<string | null> {
    const octokit = await this.client(repo);
    try {
      const res = await octokit.rest.repos.getContent({ owner: repo.owner, repo: repo.name, path, ref });
      const data = res.data;
      if (Array.isArray(data) || data.type !== "file" || !("content" in data)) return null;
      return Buffer.from(data.content, "base64").toString("utf8");
    } catch (err) {
      if (statusOf(err) === 404) return null;
      throw err;
    }
  }

  async getPull(repo: RepoRef, prNumber: number): Promise<PullRef> {
    const octokit = await this.client(repo);
    const { data } = await octokit.rest.pulls.get({ owner: repo.owner, repo: repo.name, pull_number: prNumber });
    return pullRefFromGitHub(data, repo);
  }

  /**
   * The gzip'd tarball of `sha`, at most {@link MAX_SOURCE_ARCHIVE_BYTES}: a declared
   * `content-length` over it is refused before the body is read, and the body is read here (not
   * buffered by Octokit) and abandoned as soon as it passes the cap.
   */
  async downloadSource(repo: RepoRef, sha: string): Promise<SourceArchive> {
    const octokit = await this.client(repo);
    const tooLarge = () => archiveTooLargeError(sha);
    const res = await octokit.rest.repos.downloadTarballArchive({ owner: repo.owner, repo: repo.name, ref: sha, request: { parseSuccessResponseBody: false } });
    const data = res.data as unknown;
    const stream = typeof data === "object" && data !== null && "getReader" in data ? (data as ReadableStream<Uint8Array>) : undefined;
    const declared = Number(res.headers["content-length"]);
    if (Number.isFinite(declared) && declared > MAX_SOURCE_ARCHIVE_BYTES) {
      await stream?.cancel().catch(() => undefined);
      throw tooLarge();
    }
    let buffer: Buffer;
    if (stream) {
      const reader = stream.getReader();
      const chunks: Uint8Array[] = [];
      let total = 0;
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        total += value.byteLength;
        if (total > MAX_SOURCE_ARCHIVE_BYTES) {
          await reader.cancel().catch(() => undefined);
          throw tooLarge();
        }
        chunks.push(value);
      }
      buffer = Buffer.concat(chunks, total);
    } else {
      // Another Octokit (or a test double) that buffered the body itself: check what it got.
      buffer = data instanceof ArrayBuffer ? Buffer.from(data) : Buffer.isBuffer(data) ? data : Buffer.from(data as Uint8Array);
      if (buffer.length > MAX_SOURCE_ARCHIVE_BYTES) throw tooLarge();
    }
    return gzipSourceArchive(buffer, sha);
  }

  async findComment(repo: RepoRef, prNumber: number, marker: string): Promise<{ id: string; body: string } | null> {
    const octokit = await this.client(repo);
    const iterator = octokit.paginate.iterator(octokit.rest.issues.listComments, { owner: repo.owner, repo: repo.name, issue_number: prNumber, per_page: 100 });
    return findMarkedComment(pagesOf(iterator), marker, (comment) => comment, (comment) => this.isOurs(comment));
  }

  async createComment(repo: RepoRef, prNumber: number, body: string): Promise<{ id: string }> {
    const octokit = await this.client(repo);
    const { data } = await octokit.rest.issues.createComment({ owner: repo.owner, repo: repo.name, issue_number: prNumber, body });
    return { id: String(data.id) };
  }

  async updateComment(repo: RepoRef, _prNumber: number, commentId: string, body: string): Promise<void> {
    const octokit = await this.client(repo);
    await octokit.rest.issues.updateComment({ owner: repo.owner, repo: repo.name, comment_id: Number(commentId), body });
  }

  async setStatus(repo: RepoRef, sha: string, _prNumber: number, status: CommitStatus): Promise<void> {
    const octokit = await this.client(repo);
    await octokit.rest.repos.createCommitStatus({
      owner: repo.owner,
      repo: repo.name,
      sha,
      state: status.state,
      context: status.context,
      description: status.description.slice(0, 140),
      ...(status.targetUrl ? { target_url: status.targetUrl } : {}),
    });
  }

  async getPermission(repo: RepoRef, user: string): Promise<Permission> {
    const octokit = await this.client(repo);
    try {
      const { data } = await octokit.rest.repos.getCollaboratorPermissionLevel({ owner: repo.owner, repo: repo.name, username: user });
      // role_name carries maintain/triage, which `permission` folds into write/read.
      const role = (data as { role_name?: string }).role_name;
      const found = PERMISSIONS.find((p) => p === role) ?? PERMISSIONS.find((p) => p === data.permission);
      return found ?? "none";
    } catch (err) {
      if (statusOf(err) === 404) return "none";
      throw err;
    }
  }

  async reactToComment(repo: RepoRef, commentId: string, reaction: "eyes"): Promise<void> {
    const octokit = await this.client(repo);
    await octokit.rest.reactions.createForIssueComment({ owner: repo.owner, repo: repo.name, comment_id: Number(commentId), content: reaction });
  }

  async startDeployment(repo: RepoRef, deployment: { environment: string; sha: string; tag: string; production: boolean }): Promise<{ id: string }> {
    const octokit = await this.client(repo);
    const { data } = await octokit.rest.repos.createDeployment({
      owner: repo.owner,
      repo: repo.name,
      ref: deployment.sha,
      environment: deployment.environment,
      description: `berth: ${deployment.tag}`.slice(0, 140),
      auto_merge: false,
      // berth reports its own stages; other checks on the commit do not gate the deployment.
      required_contexts: [],
      production_environment: deployment.production,
      transient_environment: false,
      payload: { tag: deployment.tag },
    });
    if (!("id" in data)) throw new Error(`GitHub refused the deployment: ${data.message ?? "unknown reason"}`);
    await octokit.rest.repos.createDeploymentStatus({ owner: repo.owner, repo: repo.name, deployment_id: data.id, state: "in_progress" });
    return { id: String(data.id) };
  }

  async finishDeployment(repo: RepoRef, id: string, result: { state: "success" | "failure" | "error"; environmentUrl?: string; description: string }): Promise<void> {
    const octokit = await this.client(repo);
    await octokit.rest.repos.createDeploymentStatus({
      owner: repo.owner,
      repo: repo.name,
      deployment_id: Number(id),
      state: result.state,
      description: result.description.slice(0, 140),
      ...(result.environmentUrl ? { environment_url: result.environmentUrl } : {}),
      auto_inactive: true,
    });
  }
}
