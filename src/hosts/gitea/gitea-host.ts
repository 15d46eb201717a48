/**
 * `CodeHost` for one Gitea, Forgejo or Gogs server (API v1). The three share the adapter; the
 * flavor decides the API subset:
 * - Gitea and Forgejo: commit statuses (`POST /repos/{o}/{r}/statuses/{sha}`), reactions on
 *   comments, pull requests (`GET /repos/{o}/{r}/pulls/{index}`), collaborator permission.
 * - Gogs 0.13: no commit-status, reaction or pull-request API. Stage statuses are PR labels
 *   (`StatusLabels`, as on Gitee), commands get no 👀, a PR's head commit is read from its branch
 *   (`GET /repos/{o}/{r}/branches/{branch}`), a PR's state from its issue, and permissions from the
 *   collaborator list (which needs the token's user to be a repository admin).
 * Webhooks of all three sign the body, so events are taken as they are (`confirmEvent` only drops
 * berth's own comments and, on Gogs, fills in the head commit).
 */
import type { Logger } from "pino";
import { z } from "zod";
import type { GiteaFlavor } from "../../config/gitea-servers.js";
import type { GiteaHostKind } from "../../domain/host-kind.js";
import { permissionFromWord } from "../../domain/permission.js";
import type { CodeHost, CommitStatus, HostCapabilities, SourceArchive } from "../../domain/ports.js";
import type { BotEvent, Permission, PullRef, RepoRef } from "../../domain/types.js";
import { findMarkedComment, retryingOnce } from "../marked-comment.js";
import { archiveTooLargeError, gzipSourceArchive, MAX_SOURCE_ARCHIVE_BYTES } from "../source-archive-limits.js";
import { StatusLabels } from "../status-labels.js";
import { filePath, GiteaApiError, giteaRepoPath, isGiteaRefusal, seg, type GiteaClient } from "./gitea-client.js";
import { giteaLabelApi } from "./gitea-labels.js";
import { giteaLogin, giteaPullRef, giteaPullSchema, giteaShaSchema, giteaUserSchema } from "./gitea-pull.js";

export interface GiteaHostOptions {
  /** `gitea-<name>`. */
  kind: GiteaHostKind;
  flavor: GiteaFlavor;
  client: GiteaClient;
  log: Logger;
  /** berth's login on the server; without it the token's user (`GET /user`, read once). */
  botLogin?: string;
  /** Largest source archive accepted. Default `MAX_SOURCE_ARCHIVE_BYTES`. */
  maxArchiveBytes?: number;
  /** Deadline of an archive download. Default 120 s. */
  archiveTimeoutMs?: number;
}

const selfSchema = z.looseObject({ login: z.string().min(1) });

const contentSchema = z.union([
  z.looseObject({ type: z.string(), encoding: z.string().nullish(), content: z.string().nullish(), size: z.number().nullish() }),
  // a directory
  z.array(z.unknown()),
]);

const commentSchema = z.looseObject({ id: z.number().int(), body: z.string().nullish(), user: giteaUserSchema.nullish() });
type GiteaComment = z.infer<typeof commentSchema>;

const permissionSchema = z.looseObject({ permission: z.string().nullish(), role_name: z.string().nullish() });

/** Gogs 0.13 `GET /repos/{o}/{r}/collaborators`: `permissions: {admin, push, pull}`. */
const gogsCollaboratorsSchema = z.array(
  z.looseObject({ login: z.string().nullish(), username: z.string().nullish(), permissions: z.looseObject({ admin: z.boolean().nullish(), push: z.boolean().nullish(), pull: z.boolean().nullish() }).nullish() }),
);

/** Gogs `GET /repos/{o}/{r}/branches/{branch}`. */
const gogsBranchSchema = z.looseObject({ name: z.string(), commit: z.looseObject({ id: giteaShaSchema }) });

/** Gogs `GET /repos/{o}/{r}/issues/{index}`: a PR is an issue with `pull_request`. */
const gogsIssueSchema = z.looseObject({
  number: z.number().int(),
  state: z.string(),
  user: giteaUserSchema.nullish(),
  pull_request: z.looseObject({ merged: z.boolean().nullish() }).nullish(),
});

export class GiteaHost implements CodeHost {
  readonly kind: GiteaHostKind;
  readonly capabilities: HostCapabilities;
  readonly flavor: GiteaFlavor;
  private readonly client: GiteaClient;
  private readonly log: Logger;
  private readonly selfLogin: () => Promise<string>;
  private readonly labels: StatusLabels | undefined;
  private readonly maxArchiveBytes: number;
  private readonly archiveTimeoutMs: number;

  constructor(options: GiteaHostOptions) {
    this.kind = options.kind;
    this.flavor = options.flavor;
    this.client = options.client;
    this.log = options.log;
    this.maxArchiveBytes = options.maxArchiveBytes ?? MAX_SOURCE_ARCHIVE_BYTES;
    this.archiveTimeoutMs = options.archiveTimeoutMs ?? 120_000;
    // Gogs has no commit statuses: labels belong to the PR, so a new run resets what the last left.
    this.capabilities = { statusScope: options.flavor === "gogs" ? "pull-request" : "commit" };
    this.labels = options.flavor === "gogs" ? new StatusLabels(giteaLabelApi(options.client), options.log, "gogs") : undefined;
    const botLogin = options.botLogin?.toLowerCase();
    this.selfLogin = botLogin
      ? async () => botLogin
      : retryingOnce(() => this.client.request({ method: "GET", path: "/user", schema: selfSchema }).then((user) => user.login.toLowerCase()));
  }

  /**
   * The body was signed with this server's secret, so the event is what the server sent. Comments by
   * berth's own account are dropped; on Gogs a PR event gets its head commit from the head branch.
   */
  async confirmEvent(event: BotEvent): Promise<BotEvent | null> {
    if (event.kind === "pr-comment") return event.author.toLowerCase() === (await this.selfLogin()) ? null : event;
    if (this.flavor !== "gogs" || (event.kind !== "pr-updated" && event.kind !== "pr-closed") || event.pr.headSha !== "") return event;
    if (event.pr.fromFork) {
      // Gogs names the fork's branch but berth cannot read another repository's head through this PR.
      if (event.kind === "pr-updated") {
        this.log.warn({ repo: `${event.pr.repo.owner}/${event.pr.repo.name}`, pr: event.pr.number }, "gogs fork pull request not built: Gogs has no pull request API to read its head commit");
        return null;
      }
      return event;
    }
    const branch = await this.client.requestOrNull({ method: "GET", path: `${giteaRepoPath(event.pr.repo)}/branches/${seg(event.pr.headRef)}`, schema: gogsBranchSchema });
    if (!branch) return event.kind === "pr-closed" ? event : null;
    return { ...event, pr: { ...event.pr, headSha: branch.commit.id } };
  }

  async readFile(repo: RepoRef, path: string, ref: string): Promise<string | null> {
    const content = await this.client.requestOrNull({ method: "GET", path: `${giteaRepoPath(repo)}/contents/${filePath(path)}`, query: { ref }, schema: contentSchema });
    if (content === null || Array.isArray(content) || content.type !== "file") return null;
    if (content.content === null || content.content === undefined) return "";
    return Buffer.from(content.content, content.encoding === "base64" || !content.encoding ? "base64" : "utf8").toString("utf8");
  }

  async getPull(repo: RepoRef, prNumber: number): Promise<PullRef> {
    if (this.flavor === "gogs") return this.gogsPull(repo, prNumber);
    const pull = await this.client.request({ method: "GET", path: `${giteaRepoPath(repo)}/pulls/${seg(prNumber)}`, schema: giteaPullSchema });
    return giteaPullRef(repo, pull);
  }

  /**
   * Gogs has no pull request API: the state comes from the PR's issue; head and base are unknown
   * (empty) and the PR counts as a fork, so nothing is built from this answer without approval.
   */
  private async gogsPull(repo: RepoRef, prNumber: number): Promise<PullRef> {
    const issue = await this.client.request({ method: "GET", path: `${giteaRepoPath(repo)}/issues/${seg(prNumber)}`, schema: gogsIssueSchema });
    if (!issue.pull_request) throw new Error(`${repo.owner}/${repo.name}#${prNumber} is an issue, not a pull request`);
    return {
      repo,
      number: issue.number,
      headSha: "",
      headRef: "",
      baseRef: "",
      fromFork: true,
      url: `${repo.htmlUrl}/pulls/${issue.number}`,
      author: giteaLogin(issue.user),
      state: issue.state === "open" ? "open" : "closed",
    };
  }

  /**
   * `GET /repos/{o}/{r}/archive/{sha}.tar.gz`: the commit's tree under one top-level folder (the
   * repository's name), at most `maxArchiveBytes` (the read stops as soon as it passes the cap).
   */
  async downloadSource(repo: RepoRef, sha: string): Promise<SourceArchive> {
    if (!giteaShaSchema.safeParse(sha).success) throw new Error(`not a full commit SHA: ${sha.slice(0, 80)}`);
    try {
      const data = await this.client.download(`${giteaRepoPath(repo)}/archive/${seg(`${sha}.tar.gz`)}`, { maxBytes: this.maxArchiveBytes, timeoutMs: this.archiveTimeoutMs });
      return gzipSourceArchive(data, sha);
    } catch (error) {
      if (error instanceof GiteaApiError && error.code === "TOO_LARGE") throw archiveTooLargeError(sha, this.maxArchiveBytes);
      throw error;
    }
  }

  /** Gitea lists a PR's comments in one answer (the endpoint has no paging parameters). */
  async findComment(repo: RepoRef, prNumber: number, marker: string): Promise<{ id: string; body: string } | null> {
    const self = await this.selfLogin();
    const client = this.client;
    async function* onePage(): AsyncGenerator<readonly GiteaComment[]> {
      yield await client.request({ method: "GET", path: `${giteaRepoPath(repo)}/issues/${seg(prNumber)}/comments`, schema: z.array(commentSchema) });
    }
    return findMarkedComment(onePage(), marker, (comment) => comment, (comment) => giteaLogin(comment.user).toLowerCase() === self);
  }

  async createComment(repo: RepoRef, prNumber: number, body: string): Promise<{ id: string }> {
    const comment = await this.client.request({ method: "POST", path: `${giteaRepoPath(repo)}/issues/${seg(prNumber)}/comments`, body: { body }, schema: commentSchema });
    return { id: String(comment.id) };
  }

  async updateComment(repo: RepoRef, _prNumber: number, commentId: string, body: string): Promise<void> {
    if (!/^\d{1,18}$/.test(commentId)) throw new Error(`not a Gitea comment id: ${commentId.slice(0, 40)}`);
    await this.client.request({ method: "PATCH", path: `${giteaRepoPath(repo)}/issues/comments/${seg(commentId)}`, body: { body }, schema: commentSchema });
  }

  /** A commit status (Gitea, Forgejo); the PR label `berth:<stage>-<state>` on Gogs. */
  async setStatus(repo: RepoRef, sha: string, prNumber: number, status: CommitStatus): Promise<void> {
    if (this.labels) return this.labels.set(repo, sha, prNumber, status);
    await this.client.request({
      method: "POST",
      path: `${giteaRepoPath(repo)}/statuses/${seg(sha)}`,
      body: { state: status.state, context: status.context, description: status.description.slice(0, 140), ...(status.targetUrl ? { target_url: status.targetUrl } : {}) },
      schema: z.looseObject({ id: z.number().int() }),
    });
  }

  async getPermission(repo: RepoRef, user: string): Promise<Permission> {
    if (!user) return "none";
    if (this.flavor === "gogs") return this.gogsPermission(repo, user);
    try {
      const answer = await this.client.requestOrNull({ method: "GET", path: `${giteaRepoPath(repo)}/collaborators/${seg(user)}/permission`, schema: permissionSchema });
      if (answer === null) return "none";
      const permission = permissionFromWord(answer.permission);
      if (permission === "none" && answer.permission && answer.permission !== "none") {
        this.log.warn({ repo: `${repo.owner}/${repo.name}`, permission: answer.permission.slice(0, 40) }, "unknown gitea permission treated as none");
      }
      return permission;
    } catch (error) {
      // Gitea tells only repository admins about other users' permissions.
      if (error instanceof GiteaApiError && error.status === 403) {
        throw new Error(`berth's account on ${this.kind} may not read permissions of ${repo.owner}/${repo.name} (403): make it an admin of the repository`);
      }
      throw error;
    }
  }

  /** Gogs: the repository's owner is admin; collaborators by their `permissions` flags. */
  private async gogsPermission(repo: RepoRef, user: string): Promise<Permission> {
    const login = user.toLowerCase();
    if (login === repo.owner.toLowerCase()) return "admin";
    const collaborators = await this.client.request({ method: "GET", path: `${giteaRepoPath(repo)}/collaborators`, schema: gogsCollaboratorsSchema });
    const found = collaborators.find((c) => (c.login || c.username || "").toLowerCase() === login);
    if (!found?.permissions) return "none";
    return found.permissions.admin ? "admin" : found.permissions.push ? "write" : found.permissions.pull ? "read" : "none";
  }

  /** 👀 on the command comment (Gitea, Forgejo); Gogs has no reactions, the status comment acknowledges. */
  async reactToComment(repo: RepoRef, commentId: string, reaction: "eyes"): Promise<void> {
    if (this.flavor === "gogs") {
      this.log.debug({ repo: `${repo.owner}/${repo.name}`, commentId, reaction }, "gogs has no reactions api; not reacting");
      return;
    }
    if (!/^\d{1,18}$/.test(commentId)) throw new Error(`not a Gitea comment id: ${commentId.slice(0, 40)}`);
    try {
      await this.client.request({ method: "POST", path: `${giteaRepoPath(repo)}/issues/comments/${seg(commentId)}/reactions`, body: { content: reaction }, schema: z.unknown() });
    } catch (error) {
      // A server that disallows the reaction (ALLOWED_REACTIONS) refuses it; the status comment still acknowledges.
      if (!isGiteaRefusal(error)) throw error;
      this.log.warn({ repo: `${repo.owner}/${repo.name}`, commentId, status: error.status }, "gitea refused the reaction");
    }
  }
}
