/**
 * `CodeHost` for Gitee (API v5). Differences from GitHub, and why:
 * - Status: Gitee v5 has no commit-status API, so each stage is shown as a PR label
 *   `berth:<stage>-<state>` (`GiteeStatusLabels`, in `gitee-status-labels.ts`).
 * - Reactions: v5 has no reaction endpoint (only `GET /emojis`), so `reactToComment` does nothing;
 *   the status comment is the acknowledgement.
 * - Source: the v5 spec has no archive/tarball endpoint, so the commit's tree and blobs are read and
 *   packed into a tar.gz, within size and entry caps (`downloadGiteeSource`, in `gitee-source-archive.ts`).
 * - Events: Gitee's webhook signature covers a timestamp, not the body, so `confirmEvent` reads the
 *   comment and the PR back from the API and rebuilds the event from what the API says.
 * - Status comment: only a comment written by berth's own account is adopted (the bot login, or the
 *   token's own user from `GET /user`).
 */
import type { Logger } from "pino";
import { z } from "zod";
import type { CodeHost, CommitStatus, HostCapabilities, SourceArchive } from "../../domain/ports.js";
import type { BotEvent, Permission, PullRef, RepoRef } from "../../domain/types.js";
import { filePath, seg, type GiteeClient } from "./gitee-client.js";
import { giteePullRef, giteePullSchema, type GiteePull } from "./gitee-pull.js";
import { giteeRepoPath } from "./gitee-repo-path.js";
import { downloadGiteeSource, readGiteeBlob, type GiteeSourceArchiveOptions } from "./gitee-source-archive.js";
import { GiteeStatusLabels } from "./gitee-status-labels.js";
import { permissionFromWord } from "../../domain/permission.js";
import { findMarkedComment, numberedPages, retryingOnce } from "../marked-comment.js";

/** Dependencies and limits of `GiteeHost`. */
export interface GiteeHostOptions {
  client: GiteeClient;
  log: Logger;
  /**
   * Login of berth's Gitee account. `findComment` only considers comments written by it, so a user
   * pasting the marker cannot make berth edit (or fail to edit) someone else's comment; without it
   * the token's own user (`GET /user`, read once) is berth's account.
   */
  botLogin?: string;
  /** Parallel blob downloads in `downloadSource`. Default 8. */
  blobConcurrency?: number;
  /** Largest source accepted (the sum of every file's size), in bytes. Default 512 MiB. */
  maxSourceBytes?: number;
  /** Most entries (files and folders) in a source tree. Default 100 000. */
  maxSourceEntries?: number;
}

/** Comments per page when listing (Gitee's maximum). */
const PAGE_SIZE = 100;
/** Upper bound of pages read when looking for the status comment. */
const MAX_PAGES = 50;

const numberish = z.union([z.number(), z.string()]);

const userSchema = z.looseObject({ login: z.string().nullish() });

/** `GET /user`: who the token belongs to. */
const selfSchema = z.looseObject({ login: z.string().min(1) });

const contentSchema = z.union([
  z.looseObject({
    type: z.string().nullish(),
    encoding: z.string().nullish(),
    content: z.string().nullish(),
    size: numberish.nullish(),
    sha: z.string().nullish(),
  }),
  // Gitee answers a directory, and on some versions a missing path, with an array.
  z.array(z.unknown()),
]);

const commentSchema = z.looseObject({
  id: z.number().int(),
  body: z.string().nullish(),
  user: userSchema.nullish(),
  /** `…/api/v5/repos/<owner>/<repo>/pulls/<n>` and `…/<owner>/<repo>/pulls/<n>#note_<id>`: the PR it is on. */
  pull_request_url: z.string().nullish(),
  html_url: z.string().nullish(),
  /** ISO time the comment was written (`/ok-to-test` approves only what was pushed before it). */
  created_at: z.string().nullish(),
});

const commitSchema = z.looseObject({ sha: z.string() });

/** The PR number a comment's URLs name, when they name this repository; null when they do not. */
function commentPullNumber(repo: RepoRef, comment: z.infer<typeof commentSchema>): number | null {
  for (const url of [comment.pull_request_url, comment.html_url]) {
    const match = url ? /\/([^/]+)\/([^/]+)\/pulls\/(\d+)(?:[#?/]|$)/.exec(url) : null;
    if (!match) continue;
    const [, owner = "", name = "", number = ""] = match;
    if (decodeURIComponent(owner).toLowerCase() !== repo.owner.toLowerCase() || decodeURIComponent(name).toLowerCase() !== repo.name.toLowerCase()) return null;
    return Number(number);
  }
  return null;
}

const permissionSchema = z.looseObject({ permission: z.string().nullish() });

/** Gitee implementation of the code host port. */
export class GiteeHost implements CodeHost {
  readonly kind = "gitee" as const;
  /** Labels belong to the PR, not to a commit. */
  readonly capabilities: HostCapabilities = { statusScope: "pull-request" };
  private readonly client: GiteeClient;
  private readonly log: Logger;
  private readonly source: GiteeSourceArchiveOptions;
  private readonly labels: GiteeStatusLabels;
  /** berth's own login, lower-cased: the configured one, else the token's user (read once; a failure is asked again). */
  private readonly selfLogin: () => Promise<string>;

  constructor(options: GiteeHostOptions) {
    this.client = options.client;
    this.log = options.log;
    this.source = { client: options.client, log: options.log };
    if (options.blobConcurrency !== undefined) this.source.blobConcurrency = options.blobConcurrency;
    if (options.maxSourceBytes !== undefined) this.source.maxSourceBytes = options.maxSourceBytes;
    if (options.maxSourceEntries !== undefined) this.source.maxSourceEntries = options.maxSourceEntries;
    this.labels = new GiteeStatusLabels(options.client, options.log);
    const botLogin = options.botLogin?.toLowerCase();
    this.selfLogin = botLogin
      ? async () => botLogin
      : retryingOnce(() => this.client.request({ method: "GET", path: "/user", schema: selfSchema }).then((user) => user.login.toLowerCase()));
  }


  /**
   * Rebuild the event from what the Gitee API says: a comment's author and text and its PR's head,
   * fork flag and state; a PR event's head, fork flag, state and merge. Null when the API does not
   * confirm it: the comment or PR does not exist, the comment is on another PR or is berth's own,
   * an "updated" PR is not open, a "closed" one is. A tag push keeps its tag and pusher (the v5 API
   * can neither resolve a tag to its commit nor say who pushed it) but its commit must exist here.
   */
  async confirmEvent(event: BotEvent): Promise<BotEvent | null> {
    switch (event.kind) {
      case "pr-comment":
        return this.confirmComment(event);
      case "pr-updated": {
        const pull = await this.readPull(event.pr.repo, event.pr.number);
        if (!pull || pull.state !== "open") return null;
        return { ...event, pr: giteePullRef(event.pr.repo, pull) };
      }
      case "pr-closed": {
        const pull = await this.readPull(event.pr.repo, event.pr.number);
        if (!pull || pull.state === "open") return null;
        return { ...event, pr: giteePullRef(event.pr.repo, pull), merged: pull.state === "merged" || Boolean(pull.merged_at) };
      }
      case "tag-pushed": {
        if (!/^[0-9a-f]{40}(?:[0-9a-f]{24})?$/.test(event.sha)) return null;
        const commit = await this.client.requestOrNull({ method: "GET", path: `${giteeRepoPath(event.repo)}/commits/${seg(event.sha)}`, schema: commitSchema });
        if (!commit || commit.sha.toLowerCase() !== event.sha) return null;
        return event;
      }
    }
  }

  private async confirmComment(event: Extract<BotEvent, { kind: "pr-comment" }>): Promise<BotEvent | null> {
    const { repo } = event;
    const where = { repo: `${repo.owner}/${repo.name}`, pr: event.prNumber, commentId: event.commentId };
    if (!/^\d{1,18}$/.test(event.commentId)) return null;
    const comment = await this.client.requestOrNull({ method: "GET", path: `${giteeRepoPath(repo)}/pulls/comments/${seg(event.commentId)}`, schema: commentSchema });
    if (!comment) {
      this.log.warn(where, "gitee comment not found: event not confirmed");
      return null;
    }
    if (commentPullNumber(repo, comment) !== event.prNumber) {
      this.log.warn(where, "gitee comment is not on this pull request: event not confirmed");
      return null;
    }
    const author = comment.user?.login ?? "";
    if (!author || author.toLowerCase() === (await this.selfLogin())) return null;
    const pull = await this.readPull(repo, event.prNumber);
    if (!pull) {
      this.log.warn(where, "gitee pull request not found: event not confirmed");
      return null;
    }
    const createdAt = comment.created_at ? Date.parse(comment.created_at) : Number.NaN;
    const confirmed: Extract<BotEvent, { kind: "pr-comment" }> = { ...event, author, body: comment.body ?? "", pr: giteePullRef(repo, pull) };
    if (Number.isFinite(createdAt)) confirmed.createdAt = createdAt;
    else delete confirmed.createdAt;
    return confirmed;
  }

  private readPull(repo: RepoRef, prNumber: number): Promise<GiteePull | null> {
    return this.client.requestOrNull({ method: "GET", path: `${giteeRepoPath(repo)}/pulls/${seg(prNumber)}`, schema: giteePullSchema });
  }

  async readFile(repo: RepoRef, path: string, ref: string): Promise<string | null> {
    const content = await this.client.requestOrNull({
      method: "GET",
      path: `${giteeRepoPath(repo)}/contents/${filePath(path)}`,
      query: { ref },
      schema: contentSchema,
    });
    if (content === null || Array.isArray(content)) return null;
    if (content.type && content.type !== "file") return null;
    if (content.content) return Buffer.from(content.content, "base64").toString("utf8");
    // Large files come without inline content; their blob has it.
    if (content.sha && Number(content.size ?? 0) > 0) return (await readGiteeBlob(this.client, repo, content.sha)).toString("utf8");
    return "";
  }

  async getPull(repo: RepoRef, prNumber: number): Promise<PullRef> {
    const pull = await this.client.request({ method: "GET", path: `${giteeRepoPath(repo)}/pulls/${seg(prNumber)}`, schema: giteePullSchema });
    return giteePullRef(repo, pull);
  }

  /** The commit's tree and blobs as a tar.gz; see `gitee-source-archive.ts` for the checks and caps. */
  downloadSource(repo: RepoRef, sha: string): Promise<SourceArchive> {
    return downloadGiteeSource(this.source, repo, sha);
  }

  async findComment(repo: RepoRef, prNumber: number, marker: string): Promise<{ id: string; body: string } | null> {
    const self = await this.selfLogin();
    const pages = numberedPages(
      (page) => this.client.request({ method: "GET", path: `${giteeRepoPath(repo)}/pulls/${seg(prNumber)}/comments`, query: { page, per_page: PAGE_SIZE }, schema: z.array(commentSchema) }),
      PAGE_SIZE,
      MAX_PAGES,
      () => this.log.warn({ repo: `${repo.owner}/${repo.name}`, pr: prNumber, pages: MAX_PAGES }, "gitee status comment search stopped at page limit"),
    );
    return findMarkedComment(pages, marker, (comment) => comment, (comment) => (comment.user?.login ?? "").toLowerCase() === self);
  }

  async createComment(repo: RepoRef, prNumber: number, body: string): Promise<{ id: string }> {
    const comment = await this.client.request({
      method: "POST",
      path: `${giteeRepoPath(repo)}/pulls/${seg(prNumber)}/comments`,
      body: { body },
      schema: commentSchema,
    });
    return { id: String(comment.id) };
  }

  async updateComment(repo: RepoRef, _prNumber: number, commentId: string, body: string): Promise<void> {
    if (!/^\d+$/.test(commentId)) throw new Error(`not a Gitee comment id: ${commentId.slice(0, 40)}`);
    await this.client.request({
      method: "PATCH",
      path: `${giteeRepoPath(repo)}/pulls/comments/${seg(commentId)}`,
      body: { body },
      schema: commentSchema,
    });
  }

  /** Show a stage's state as the PR label `berth:<stage>-<state>` (see `GiteeStatusLabels`). */
  setStatus(repo: RepoRef, sha: string, prNumber: number, status: CommitStatus): Promise<void> {
    return this.labels.set(repo, sha, prNumber, status);
  }

  async getPermission(repo: RepoRef, user: string): Promise<Permission> {
    if (!user) return "none";
    const answer = await this.client.requestOrNull({
      method: "GET",
      path: `${giteeRepoPath(repo)}/collaborators/${seg(user)}/permission`,
      schema: permissionSchema,
    });
    if (answer === null) return "none";
    const permission = permissionFromWord(answer.permission);
    if (permission === "none" && answer.permission) {
      this.log.warn({ repo: `${repo.owner}/${repo.name}`, permission: answer.permission.slice(0, 40) }, "unknown gitee permission treated as none");
    }
    return permission;
  }

  /** Gitee API v5 has no reactions; the status comment itself acknowledges the command. */
  async reactToComment(repo: RepoRef, commentId: string, reaction: "eyes"): Promise<void> {
    this.log.debug({ repo: `${repo.owner}/${repo.name}`, commentId, reaction }, "gitee has no reactions api; not reacting");
  }
}
