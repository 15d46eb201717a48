/**
 * `CodeHost` for Gitee (API v5). Differences from GitHub, and why:
 * - Status: Gitee v5 has no commit-status API, so each stage is shown as a PR label
 *   `berth:<stage>-<state>` (created in the repository on demand; the stage's previous label is
 *   removed). Labels belong to the PR, not to a commit, and carry no description or link.
 * - Reactions: v5 has no reaction endpoint (only `GET /emojis`), so `reactToComment` does nothing;
 *   the status comment is the acknowledgement.
 * - Source: the v5 spec has no archive/tarball endpoint, so the exact commit is read through the Git
 *   Data API (`git/trees/{sha}?recursive=1` + `git/blobs/{sha}`), every blob is checked against its
 *   SHA, and a tar.gz with one top-level folder `<owner>-<repo>-<sha7>/` is built from it. Its size
 *   and number of entries are capped: checked on the tree's declared sizes before any blob is read,
 *   and again on the bytes received.
 * - Events: Gitee's webhook signature covers a timestamp, not the body, so `confirmEvent` reads the
 *   comment and the PR back from the API and rebuilds the event from what the API says.
 * - Status comment: only a comment written by berth's own account is adopted (the bot login, or the
 *   token's own user from `GET /user`).
 */
import { createHash } from "node:crypto";
import { gzipSync } from "node:zlib";
import type { Logger } from "pino";
import { pack as createPack } from "tar-stream";
import { z } from "zod";
import type { CodeHost, CommitStatus, SourceArchive } from "../../domain/ports.js";
import type { BotEvent, Permission, PullRef, RepoRef } from "../../domain/types.js";
import { filePath, GiteeApiError, seg, type GiteeClient } from "./gitee-client.js";

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

const blobSchema = z.looseObject({
  sha: z.string().nullish(),
  content: z.string(),
  encoding: z.string().nullish(),
});

const treeSchema = z.looseObject({
  sha: z.string().nullish(),
  tree: z.array(
    z.looseObject({
      path: z.string(),
      mode: z.string(),
      type: z.string(),
      sha: z.string(),
      size: z.number().int().nonnegative().nullish(),
    }),
  ),
  truncated: z.union([z.boolean(), z.string()]).nullish(),
});

const repoInfoSchema = z
  .looseObject({
    id: z.number().nullish(),
    full_name: z.string().nullish(),
  })
  .nullish();

const pullSchema = z.looseObject({
  number: z.number().int(),
  state: z.string(),
  html_url: z.string(),
  merged_at: z.string().nullish(),
  user: userSchema.nullish(),
  head: z.looseObject({ ref: z.string(), sha: z.string().regex(/^[0-9a-f]{40}(?:[0-9a-f]{24})?$/), repo: repoInfoSchema }),
  base: z.looseObject({ ref: z.string(), repo: repoInfoSchema }),
});

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

type GiteePullAnswer = z.infer<typeof pullSchema>;

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

/** Source and target differ (a fork); when the API does not say, treat it as a fork. */
function isForkPull(pull: GiteePullAnswer): boolean {
  const head = pull.head.repo;
  const baseRepo = pull.base.repo;
  if (typeof head?.id === "number" && typeof baseRepo?.id === "number") return head.id !== baseRepo.id;
  if (head?.full_name && baseRepo?.full_name) return head.full_name.toLowerCase() !== baseRepo.full_name.toLowerCase();
  return true;
}

function toPullRef(repo: RepoRef, pull: GiteePullAnswer): PullRef {
  return {
    repo,
    number: pull.number,
    headSha: pull.head.sha,
    headRef: pull.head.ref,
    baseRef: pull.base.ref,
    fromFork: isForkPull(pull),
    url: pull.html_url,
    author: pull.user?.login ?? "",
    state: pull.state === "open" ? "open" : "closed",
  };
}

const labelSchema = z.looseObject({ name: z.string() });

const permissionSchema = z.looseObject({ permission: z.string().nullish() });

/** Map Gitee's permission words (GitHub-like, or Gitee role names) to berth's levels. */
export function mapGiteePermission(value: string | null | undefined): Permission {
  switch ((value ?? "").trim().toLowerCase()) {
    case "admin":
    case "owner":
      return "admin";
    case "maintain":
    case "master":
      return "maintain";
    case "write":
    case "push":
    case "developer":
      return "write";
    case "triage":
    case "reporter":
      return "triage";
    case "read":
    case "pull":
    case "viewer":
    case "guest":
      return "read";
    default:
      return "none";
  }
}

const STATE_WORDS: Record<CommitStatus["state"], { word: string; color: string }> = {
  pending: { word: "pending", color: "fbca04" },
  success: { word: "passed", color: "0e8a16" },
  failure: { word: "failed", color: "d73a4a" },
  error: { word: "error", color: "b60205" },
};

/** `berth/build` → `build`; anything else reduced to `[a-z0-9-]`. */
function stageOf(context: string): string {
  const stage = context
    .replace(/^berth\//, "")
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, "-")
    .replace(/^-+|-+$/g, "");
  return stage.slice(0, 40) || "status";
}

/** Label name shown for a stage in a state, e.g. `berth:build-passed`. */
export function giteeStatusLabel(status: Pick<CommitStatus, "context" | "state">): string {
  return `berth:${stageOf(status.context)}-${STATE_WORDS[status.state].word}`;
}

/** Git's object id of a blob (what tree entries name), to check downloaded content. */
function gitBlobId(content: Buffer, idLength: number): string {
  const algorithm = idLength === 64 ? "sha256" : "sha1";
  return createHash(algorithm).update(`blob ${content.length}\0`).update(content).digest("hex");
}

function isSafeEntryPath(path: string): boolean {
  return path !== "" && !path.startsWith("/") && !path.split("/").some((part) => part === ".." || part === "." || part === "") && !path.includes("\0");
}

async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index] as T);
    }
  });
  await Promise.all(workers);
  return results;
}

/** Gitee implementation of the code host port. */
export class GiteeHost implements CodeHost {
  readonly kind = "gitee" as const;
  /** Labels belong to the PR, not to a commit. */
  readonly statusScope = "pull-request" as const;
  private readonly client: GiteeClient;
  private readonly log: Logger;
  private readonly blobConcurrency: number;
  private readonly maxSourceBytes: number;
  private readonly maxSourceEntries: number;
  /** berth's own login (lower-cased), once known. */
  private self: Promise<string> | undefined;
  /** Repository labels known to exist, per `owner/repo` (saves a list call per status). */
  private readonly knownLabels = new Map<string, Set<string>>();

  constructor(options: GiteeHostOptions) {
    this.client = options.client;
    this.log = options.log;
    this.blobConcurrency = options.blobConcurrency ?? 8;
    this.maxSourceBytes = options.maxSourceBytes ?? 512 * 1024 * 1024;
    this.maxSourceEntries = options.maxSourceEntries ?? 100_000;
    if (options.botLogin) this.self = Promise.resolve(options.botLogin.toLowerCase());
  }

  /** berth's own login, lower-cased: the configured one, else the token's user (read once; a failure is retried next time). */
  private async selfLogin(): Promise<string> {
    this.self ??= this.client.request({ method: "GET", path: "/user", schema: selfSchema }).then((user) => user.login.toLowerCase());
    try {
      return await this.self;
    } catch (error) {
      this.self = undefined;
      throw error;
    }
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
        return { ...event, pr: toPullRef(event.pr.repo, pull) };
      }
      case "pr-closed": {
        const pull = await this.readPull(event.pr.repo, event.pr.number);
        if (!pull || pull.state === "open") return null;
        return { ...event, pr: toPullRef(event.pr.repo, pull), merged: pull.state === "merged" || Boolean(pull.merged_at) };
      }
      case "tag-pushed": {
        if (!/^[0-9a-f]{40}(?:[0-9a-f]{24})?$/.test(event.sha)) return null;
        const commit = await this.client.requestOrNull({ method: "GET", path: `${this.base(event.repo)}/commits/${seg(event.sha)}`, schema: commitSchema });
        if (!commit || commit.sha.toLowerCase() !== event.sha) return null;
        return event;
      }
    }
  }

  private async confirmComment(event: Extract<BotEvent, { kind: "pr-comment" }>): Promise<BotEvent | null> {
    const { repo } = event;
    const where = { repo: `${repo.owner}/${repo.name}`, pr: event.prNumber, commentId: event.commentId };
    if (!/^\d{1,18}$/.test(event.commentId)) return null;
    const comment = await this.client.requestOrNull({ method: "GET", path: `${this.base(repo)}/pulls/comments/${seg(event.commentId)}`, schema: commentSchema });
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
    const confirmed: Extract<BotEvent, { kind: "pr-comment" }> = { ...event, author, body: comment.body ?? "", pr: toPullRef(repo, pull) };
    if (Number.isFinite(createdAt)) confirmed.createdAt = createdAt;
    else delete confirmed.createdAt;
    return confirmed;
  }

  private readPull(repo: RepoRef, prNumber: number): Promise<GiteePullAnswer | null> {
    return this.client.requestOrNull({ method: "GET", path: `${this.base(repo)}/pulls/${seg(prNumber)}`, schema: pullSchema });
  }

  private base(repo: RepoRef): string {
    return `/repos/${seg(repo.owner)}/${seg(repo.name)}`;
  }

  async readFile(repo: RepoRef, path: string, ref: string): Promise<string | null> {
    const content = await this.client.requestOrNull({
      method: "GET",
      path: `${this.base(repo)}/contents/${filePath(path)}`,
      query: { ref },
      schema: contentSchema,
    });
    if (content === null || Array.isArray(content)) return null;
    if (content.type && content.type !== "file") return null;
    if (content.content) return Buffer.from(content.content, "base64").toString("utf8");
    // Large files come without inline content; their blob has it.
    if (content.sha && Number(content.size ?? 0) > 0) return (await this.readBlob(repo, content.sha)).toString("utf8");
    return "";
  }

  async getPull(repo: RepoRef, prNumber: number): Promise<PullRef> {
    const pull = await this.client.request({ method: "GET", path: `${this.base(repo)}/pulls/${seg(prNumber)}`, schema: pullSchema });
    return toPullRef(repo, pull);
  }

  private async readBlob(repo: RepoRef, sha: string): Promise<Buffer> {
    const blob = await this.client.request({ method: "GET", path: `${this.base(repo)}/git/blobs/${seg(sha)}`, schema: blobSchema });
    if (blob.encoding && blob.encoding !== "base64") {
      return Buffer.from(blob.content, blob.encoding === "utf-8" || blob.encoding === "utf8" ? "utf8" : "base64");
    }
    return Buffer.from(blob.content, "base64");
  }

  async downloadSource(repo: RepoRef, sha: string): Promise<SourceArchive> {
    if (!/^[0-9a-f]{40}(?:[0-9a-f]{24})?$/.test(sha)) throw new Error(`not a full commit SHA: ${sha.slice(0, 80)}`);
    const tree = await this.client.request({
      method: "GET",
      path: `${this.base(repo)}/git/trees/${seg(sha)}`,
      query: { recursive: 1 },
      schema: treeSchema,
    });
    const label = `${repo.owner}/${repo.name}@${sha.slice(0, 7)}`;
    if (tree.truncated === true || tree.truncated === "true") {
      throw new Error(`the tree of ${label} is too large for the Gitee tree API (truncated)`);
    }
    if (tree.tree.length > this.maxSourceEntries) {
      throw new Error(`source of ${label} has ${tree.tree.length} entries, over berth's limit of ${this.maxSourceEntries}`);
    }
    const tooLarge = (bytes: number): Error => new Error(`source of ${label} is over berth's limit of ${this.maxSourceBytes} bytes (at least ${bytes})`);

    const entries = tree.tree.filter((entry) => {
      if (!isSafeEntryPath(entry.path)) {
        this.log.warn({ repo: `${repo.owner}/${repo.name}`, sha }, "gitee tree entry with unsafe path skipped");
        return false;
      }
      if (entry.type === "commit") {
        this.log.info({ repo: `${repo.owner}/${repo.name}`, path: entry.path }, "gitee submodule skipped in source archive");
        return false;
      }
      return entry.type === "blob" || entry.type === "tree";
    });

    // Every path is one file in the archive: a blob used twice counts twice.
    const uses = new Map<string, number>();
    let declared = 0;
    for (const entry of entries) {
      if (entry.type !== "blob") continue;
      uses.set(entry.sha, (uses.get(entry.sha) ?? 0) + 1);
      declared += entry.size ?? 0;
    }
    if (declared > this.maxSourceBytes) throw tooLarge(declared);

    const blobShas = [...uses.keys()];
    const blobs = new Map<string, Buffer>();
    let total = 0;
    await mapLimit(blobShas, this.blobConcurrency, async (blobSha) => {
      const data = await this.readBlob(repo, blobSha);
      if (gitBlobId(data, blobSha.length) !== blobSha) {
        throw new Error(`blob ${blobSha.slice(0, 12)} of ${label} does not match its SHA`);
      }
      total += data.length * (uses.get(blobSha) ?? 1);
      if (total > this.maxSourceBytes) throw tooLarge(total);
      blobs.set(blobSha, data);
    });

    const top = `${repo.owner}-${repo.name}-${sha.slice(0, 7)}`;
    const data = await buildTarGz(top, entries, blobs);
    this.log.info({ repo: `${repo.owner}/${repo.name}`, sha, files: blobShas.length, bytes: data.length }, "gitee source archived");
    return { format: "tar.gz", data };
  }

  async findComment(repo: RepoRef, prNumber: number, marker: string): Promise<{ id: string; body: string } | null> {
    const self = await this.selfLogin();
    for (let page = 1; page <= MAX_PAGES; page++) {
      const comments = await this.client.request({
        method: "GET",
        path: `${this.base(repo)}/pulls/${seg(prNumber)}/comments`,
        query: { page, per_page: PAGE_SIZE },
        schema: z.array(commentSchema),
      });
      for (const comment of comments) {
        const body = comment.body ?? "";
        if (!body.includes(marker)) continue;
        if ((comment.user?.login ?? "").toLowerCase() !== self) continue;
        return { id: String(comment.id), body };
      }
      if (comments.length < PAGE_SIZE) return null;
    }
    this.log.warn({ repo: `${repo.owner}/${repo.name}`, pr: prNumber, pages: MAX_PAGES }, "gitee status comment search stopped at page limit");
    return null;
  }

  async createComment(repo: RepoRef, prNumber: number, body: string): Promise<{ id: string }> {
    const comment = await this.client.request({
      method: "POST",
      path: `${this.base(repo)}/pulls/${seg(prNumber)}/comments`,
      body: { body },
      schema: commentSchema,
    });
    return { id: String(comment.id) };
  }

  async updateComment(repo: RepoRef, _prNumber: number, commentId: string, body: string): Promise<void> {
    if (!/^\d+$/.test(commentId)) throw new Error(`not a Gitee comment id: ${commentId.slice(0, 40)}`);
    await this.client.request({
      method: "PATCH",
      path: `${this.base(repo)}/pulls/comments/${seg(commentId)}`,
      body: { body },
      schema: commentSchema,
    });
  }

  /**
   * Show a stage's state as the PR label `berth:<stage>-<state>`. Labels are per PR, so `sha` only
   * appears in logs; the core reports stages of the current head only.
   */
  async setStatus(repo: RepoRef, sha: string, prNumber: number, status: CommitStatus): Promise<void> {
    const wanted = giteeStatusLabel(status);
    const stagePrefix = `berth:${stageOf(status.context)}-`;
    const prLabels = await this.client.request({
      method: "GET",
      path: `${this.base(repo)}/pulls/${seg(prNumber)}/labels`,
      query: { page: 1, per_page: PAGE_SIZE },
      schema: z.array(labelSchema),
    });
    const names = prLabels.map((l) => l.name);
    const stale = names.filter((name) => name.startsWith(stagePrefix) && name !== wanted);
    if (!names.includes(wanted)) {
      const color = STATE_WORDS[status.state].color;
      await this.ensureRepoLabel(repo, wanted, color);
      try {
        await this.addPullLabel(repo, prNumber, wanted);
      } catch (error) {
        // The remembered repository label may have been deleted by hand: forget, recreate, retry once.
        if (!(error instanceof GiteeApiError && error.status !== undefined && error.status >= 400 && error.status < 500)) throw error;
        this.knownLabels.delete(`${repo.owner}/${repo.name}`.toLowerCase());
        await this.ensureRepoLabel(repo, wanted, color);
        await this.addPullLabel(repo, prNumber, wanted);
      }
    }
    for (const name of stale) {
      await this.client.requestOrNull({
        method: "DELETE",
        path: `${this.base(repo)}/pulls/${seg(prNumber)}/labels/${seg(name)}`,
        schema: z.unknown(),
      });
    }
    this.log.debug({ repo: `${repo.owner}/${repo.name}`, pr: prNumber, sha, label: wanted, removed: stale }, "gitee status label set");
  }

  private async addPullLabel(repo: RepoRef, prNumber: number, name: string): Promise<void> {
    await this.client.request({
      method: "POST",
      path: `${this.base(repo)}/pulls/${seg(prNumber)}/labels`,
      // The v5 spec wraps the names in an object: PullRequestLabelPostParam { body: string[] }.
      body: { body: [name] },
      schema: z.unknown(),
    });
  }

  private async ensureRepoLabel(repo: RepoRef, name: string, color: string): Promise<void> {
    const key = `${repo.owner}/${repo.name}`.toLowerCase();
    let known = this.knownLabels.get(key);
    if (!known) {
      // Listed once per repository; labels berth creates later are added to the set.
      const labels = await this.client.request({ method: "GET", path: `${this.base(repo)}/labels`, schema: z.array(labelSchema) });
      known = new Set(labels.map((l) => l.name));
      this.knownLabels.set(key, known);
    }
    if (known.has(name)) return;
    try {
      await this.client.request({ method: "POST", path: `${this.base(repo)}/labels`, body: { name, color }, schema: z.unknown() });
    } catch (error) {
      // Someone (another berth replica) created it in between: that is what we wanted.
      if (!(error instanceof GiteeApiError && (error.status === 400 || error.status === 409 || error.status === 422))) throw error;
      this.log.debug({ repo: key, label: name, status: error.status }, "gitee label already created");
    }
    known.add(name);
  }

  async getPermission(repo: RepoRef, user: string): Promise<Permission> {
    if (!user) return "none";
    const answer = await this.client.requestOrNull({
      method: "GET",
      path: `${this.base(repo)}/collaborators/${seg(user)}/permission`,
      schema: permissionSchema,
    });
    if (answer === null) return "none";
    const permission = mapGiteePermission(answer.permission);
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

interface ArchiveEntry {
  path: string;
  mode: string;
  type: string;
  sha: string;
}

/** A deterministic tar.gz (fixed mtime, sorted entries) with everything under `top/`. */
async function buildTarGz(top: string, entries: readonly ArchiveEntry[], blobs: ReadonlyMap<string, Buffer>): Promise<Buffer> {
  const pack = createPack();
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve, reject) => {
    pack.on("data", (chunk: unknown) => {
      chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array));
    });
    pack.on("end", () => resolve());
    pack.on("error", reject);
  });
  const mtime = new Date(0);
  const add = (headers: Parameters<typeof pack.entry>[0], content?: Buffer): Promise<void> =>
    new Promise((resolve, reject) => {
      pack.entry(headers, content ?? Buffer.alloc(0), (error) => (error ? reject(error) : resolve()));
    });

  await add({ name: `${top}/`, type: "directory", mode: 0o755, mtime });
  const sorted = [...entries].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  for (const entry of sorted) {
    const name = `${top}/${entry.path}`;
    if (entry.type === "tree") {
      await add({ name: `${name}/`, type: "directory", mode: 0o755, mtime });
      continue;
    }
    const content = blobs.get(entry.sha) ?? Buffer.alloc(0);
    if (entry.mode === "120000") {
      await add({ name, type: "symlink", linkname: content.toString("utf8"), mode: 0o777, mtime });
    } else {
      await add({ name, type: "file", mode: entry.mode === "100755" ? 0o755 : 0o644, size: content.length, mtime }, content);
    }
  }
  pack.finalize();
  await done;
  return gzipSync(Buffer.concat(chunks));
}
