/**
 * A commit's source as a tar.gz, read through Gitee's Git Data API. The v5 spec has no
 * archive/tarball endpoint, so the exact commit is read as `git/trees/{sha}?recursive=1` plus
 * `git/blobs/{sha}`, every blob is checked against its SHA, and a tar.gz with one top-level folder
 * `<owner>-<repo>-<sha7>/` is built from it. Its size and number of entries are capped: checked on
 * the tree's declared sizes before any blob is read, and again on the bytes received.
 */
import { createHash } from "node:crypto";
import { gzipSync } from "node:zlib";
import type { Logger } from "pino";
import { pack as createPack } from "tar-stream";
import { z } from "zod";
import type { SourceArchive } from "../../domain/ports.js";
import type { RepoRef } from "../../domain/types.js";
import { seg, type GiteeClient } from "./gitee-client.js";
import { giteeRepoPath } from "./gitee-repo-path.js";

/** Dependencies and limits of `downloadGiteeSource`. */
export interface GiteeSourceArchiveOptions {
  client: GiteeClient;
  log: Logger;
  /** Parallel blob downloads. Default 8. */
  blobConcurrency?: number;
  /** Largest source accepted (the sum of every file's size), in bytes. Default 512 MiB. */
  maxSourceBytes?: number;
  /** Most entries (files and folders) in a source tree. Default 100 000. */
  maxSourceEntries?: number;
}

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

/** One blob's content (`GET git/blobs/{sha}`), decoded. */
export async function readGiteeBlob(client: GiteeClient, repo: RepoRef, sha: string): Promise<Buffer> {
  const blob = await client.request({ method: "GET", path: `${giteeRepoPath(repo)}/git/blobs/${seg(sha)}`, schema: blobSchema });
  if (blob.encoding && blob.encoding !== "base64") {
    return Buffer.from(blob.content, blob.encoding === "utf-8" || blob.encoding === "utf8" ? "utf8" : "base64");
  }
  return Buffer.from(blob.content, "base64");
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

/** The source of `repo` at commit `sha` as a tar.gz under `<owner>-<repo>-<sha7>/`, within the caps. */
export async function downloadGiteeSource(options: GiteeSourceArchiveOptions, repo: RepoRef, sha: string): Promise<SourceArchive> {
  const { client, log } = options;
  const blobConcurrency = options.blobConcurrency ?? 8;
  const maxSourceBytes = options.maxSourceBytes ?? 512 * 1024 * 1024;
  const maxSourceEntries = options.maxSourceEntries ?? 100_000;
  if (!/^[0-9a-f]{40}(?:[0-9a-f]{24})?$/.test(sha)) throw new Error(`not a full commit SHA: ${sha.slice(0, 80)}`);
  const tree = await client.request({
    method: "GET",
    path: `${giteeRepoPath(repo)}/git/trees/${seg(sha)}`,
    query: { recursive: 1 },
    schema: treeSchema,
  });
  const label = `${repo.owner}/${repo.name}@${sha.slice(0, 7)}`;
  if (tree.truncated === true || tree.truncated === "true") {
    throw new Error(`the tree of ${label} is too large for the Gitee tree API (truncated)`);
  }
  if (tree.tree.length > maxSourceEntries) {
    throw new Error(`source of ${label} has ${tree.tree.length} entries, over berth's limit of ${maxSourceEntries}`);
  }
  const tooLarge = (bytes: number): Error => new Error(`source of ${label} is over berth's limit of ${maxSourceBytes} bytes (at least ${bytes})`);

  const entries = tree.tree.filter((entry) => {
    if (!isSafeEntryPath(entry.path)) {
      log.warn({ repo: `${repo.owner}/${repo.name}`, sha }, "gitee tree entry with unsafe path skipped");
      return false;
    }
    if (entry.type === "commit") {
      log.info({ repo: `${repo.owner}/${repo.name}`, path: entry.path }, "gitee submodule skipped in source archive");
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
  if (declared > maxSourceBytes) throw tooLarge(declared);

  const blobShas = [...uses.keys()];
  const blobs = new Map<string, Buffer>();
  let total = 0;
  await mapLimit(blobShas, blobConcurrency, async (blobSha) => {
    const data = await readGiteeBlob(client, repo, blobSha);
    if (gitBlobId(data, blobSha.length) !== blobSha) {
      throw new Error(`blob ${blobSha.slice(0, 12)} of ${label} does not match its SHA`);
    }
    total += data.length * (uses.get(blobSha) ?? 1);
    if (total > maxSourceBytes) throw tooLarge(total);
    blobs.set(blobSha, data);
  });

  const top = `${repo.owner}-${repo.name}-${sha.slice(0, 7)}`;
  const data = await buildTarGz(top, entries, blobs);
  log.info({ repo: `${repo.owner}/${repo.name}`, sha, files: blobShas.length, bytes: data.length }, "gitee source archived");
  return { format: "tar.gz", data };
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
