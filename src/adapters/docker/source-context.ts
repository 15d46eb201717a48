/**
 * From a code host's source archive to a Docker build context.
 *
 * GitHub (and Gitee) return a gzip'd tar whose entries all sit under one folder such as
 * `owner-repo-sha7/`. The engine wants a plain tar rooted at the build context. The archive is
 * attacker-controlled, so every entry name is checked before it is re-rooted.
 */
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import * as tar from "tar-stream";
import type { SourceArchive } from "../../domain/ports.js";

/** Default ceiling on the unpacked size of a build context (a gzip bomb must not exhaust memory). */
export const DEFAULT_MAX_CONTEXT_BYTES = 512 * 1024 * 1024;

/**
 * What unpacking a source archive may cost, whatever the build context keeps: entries read, and
 * bytes the gzip stream inflates to (headers, names and skipped files included).
 */
export const SOURCE_ARCHIVE_LIMITS = {
  /** Entries (files, folders, links) of the archive. */
  entries: 100_000,
  /** Bytes the archive inflates to. */
  unpackedBytes: 1024 * 1024 * 1024,
} as const;

const BLOCK = 512;

function blocks(bytes: number): number {
  return Math.ceil(bytes / BLOCK) * BLOCK;
}

/**
 * Bytes a tar entry takes: its 512-byte header, its data padded to 512, and for names or link
 * targets over 100 bytes the PAX extended header that carries them (a header plus its records).
 */
export function tarEntryCost(header: { name: string; linkname?: string | null; size?: number }): number {
  const name = Buffer.byteLength(header.name);
  const link = header.linkname ? Buffer.byteLength(header.linkname) : 0;
  const pax = name > 100 || link > 100 ? BLOCK + blocks(name + link + 64) : 0;
  return BLOCK + blocks(header.size ?? 0) + pax;
}

/** `512 MiB`, `32 KiB`: sizes in messages. */
export function sizeText(bytes: number): string {
  return bytes >= 1024 * 1024 ? `${Math.round(bytes / (1024 * 1024))} MiB` : `${Math.round(bytes / 1024)} KiB`;
}

/**
 * A pass-through that fails once more than `max` bytes came through: put after the gunzip, it
 * stops a gzip bomb at the limit instead of after inflating it.
 */
export function inflateLimit(max: number): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      seen += chunk.length;
      if (seen > max) callback(new SourceContextError(`source archive unpacks to more than ${sizeText(max)}`));
      else callback(null, chunk);
    },
  });
}

/** The error for an archive the gzip or tar reader gave up on. */
export function unreadableArchive(err: unknown): SourceContextError {
  if (err instanceof SourceContextError) return err;
  const reason = err instanceof Error ? err.message : String(err);
  return new SourceContextError(`source archive is not a readable tar.gz: ${reason}`);
}

/** The source cannot become a build context; the message is meant for the PR author. */
export class SourceContextError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SourceContextError";
  }
}

export interface BuildContextOptions {
  /** Folder inside the repository used as build context; `.` = the repository root. */
  context: string;
  /** Dockerfile path relative to the context; it must exist there. */
  dockerfile: string;
  /**
   * Ceiling on the bytes of the context tar: files kept plus their tar headers and long names.
   * Default {@link DEFAULT_MAX_CONTEXT_BYTES}.
   */
  maxBytes?: number;
  /** Ceiling on archive entries read. Default {@link SOURCE_ARCHIVE_LIMITS}.entries. */
  maxEntries?: number;
  /** Ceiling on the bytes the archive inflates to. Default {@link SOURCE_ARCHIVE_LIMITS}.unpackedBytes. */
  maxUnpackedBytes?: number;
}

/** A build context ready to send to the engine. */
export interface BuildContext {
  /** Uncompressed tar rooted at the context folder. */
  tar: Buffer;
  /** Regular files in it. */
  files: number;
  /** Entries skipped because Docker cannot use them (devices, FIFOs). */
  skipped: number;
}

/**
 * Split a relative path into segments, refusing anything that could leave its root: absolute
 * paths, `..`, backslash-rooted or drive-letter names. `.` and empty segments are dropped.
 */
function safeSegments(path: string, what: string): string[] {
  if (path.startsWith("/") || /^[a-zA-Z]:[\\/]/.test(path) || path.startsWith("\\")) {
    throw new SourceContextError(`${what} '${path}' is an absolute path`);
  }
  const segments = path.split("/").filter((s) => s !== "" && s !== ".");
  if (segments.includes("..")) throw new SourceContextError(`${what} '${path}' points outside its folder ('..')`);
  return segments;
}

function startsWith(segments: readonly string[], prefix: readonly string[]): boolean {
  return prefix.length <= segments.length && prefix.every((s, i) => segments[i] === s);
}

/** Whether the Dockerfile exists as a file, following symlinks inside the context like the builder does. */
function dockerfileExists(path: string[], types: Map<string, { type: string; linkname?: string }>): boolean {
  let current = path;
  for (let hops = 0; hops < 16; hops++) {
    const entry = types.get(current.join("/"));
    if (!entry) return false;
    if (entry.type === "file" || entry.type === "contiguous-file" || entry.type === "link") return true;
    if (entry.type !== "symlink" || entry.linkname === undefined) return false;
    // Links resolve inside the context: absolute targets from its root, `..` never above it.
    const base = entry.linkname.startsWith("/") ? [] : current.slice(0, -1);
    const next = [...base];
    for (const part of entry.linkname.split("/")) {
      if (part === "" || part === ".") continue;
      if (part === "..") next.pop();
      else next.push(part);
    }
    current = next;
  }
  return false;
}

/**
 * Build the context tar for `options.context` out of a source archive: strip the archive's top
 * folder, keep only the context folder (re-rooted at `/`), keep modes, times and symlinks, and
 * check that the Dockerfile is there. The result is buffered: the archive is in memory already,
 * and the Dockerfile check needs the whole listing before the engine sees a byte.
 *
 * Throws {@link SourceContextError} for an unusable archive (bad gzip/tar, entries outside the
 * top folder, `..` or absolute names, hard links leaving the context, too large, context folder or
 * Dockerfile missing).
 */
export async function createBuildContext(archive: SourceArchive, options: BuildContextOptions): Promise<BuildContext> {
  if (archive.format !== "tar.gz") throw new SourceContextError(`unsupported source archive format '${String(archive.format)}'`);
  const contextPath = safeSegments(options.context, "build context");
  const dockerfilePath = safeSegments(options.dockerfile, "Dockerfile path");
  if (dockerfilePath.length === 0) throw new SourceContextError(`Dockerfile path '${options.dockerfile}' names no file`);
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_CONTEXT_BYTES;
  const maxEntries = options.maxEntries ?? SOURCE_ARCHIVE_LIMITS.entries;
  const maxUnpackedBytes = options.maxUnpackedBytes ?? SOURCE_ARCHIVE_LIMITS.unpackedBytes;
  const tooLarge = () => new SourceContextError(`build context is larger than ${sizeText(maxBytes)} (files, names and tar headers)`);

  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on("data", (chunk: unknown) => chunks.push(chunk as Buffer));
  const packed = new Promise<void>((resolve, reject) => {
    pack.on("end", resolve);
    pack.on("error", reject);
  });
  packed.catch(() => undefined); // awaited at the end; a pack error must not go unhandled before that

  const extract = tar.extract();
  const feeding = pipeline(Readable.from([archive.data]), createGunzip(), inflateLimit(maxUnpackedBytes), extract);
  // Errors of the feed surface through the iterator below; this keeps them from going unhandled.
  feeding.catch(() => undefined);

  let top: string | undefined;
  let contextFound = contextPath.length === 0;
  let entriesSeen = 0;
  let bytes = 0;
  let files = 0;
  let skipped = 0;
  const kept = new Map<string, { type: string; linkname?: string }>();

  try {
    for await (const entry of extract) {
      if (++entriesSeen > maxEntries) throw new SourceContextError(`source archive has more than ${maxEntries} entries`);
      const header = entry.header;
      const segments = safeSegments(header.name, "archive entry");
      const [first, ...rest] = segments;
      if (first === undefined) {
        entry.resume();
        continue;
      }
      if (top === undefined) top = first;
      if (first !== top || (rest.length === 0 && header.type !== "directory")) {
        throw new SourceContextError(`archive entry '${header.name}' is not under the single top-level folder '${top}/'`);
      }
      const inContext = startsWith(rest, contextPath);
      if (inContext) contextFound = true;
      const relative = inContext ? rest.slice(contextPath.length) : [];
      if (!inContext || relative.length === 0) {
        entry.resume();
        continue;
      }
      const name = relative.join("/");
      // What the kept entry costs in the context tar, before its data: header and long name.
      bytes += tarEntryCost({ name, linkname: header.linkname ?? null, size: 0 });
      if (bytes > maxBytes) throw tooLarge();
      const common = { mode: header.mode, uid: header.uid, gid: header.gid, uname: header.uname, gname: header.gname, mtime: header.mtime };

      switch (header.type) {
        case "file":
        case "contiguous-file": {
          const parts: Buffer[] = [];
          for await (const part of entry) {
            bytes += (part as Buffer).length;
            if (bytes > maxBytes) throw tooLarge();
            parts.push(part as Buffer);
          }
          bytes += blocks(header.size ?? 0) - (header.size ?? 0);
          pack.entry({ ...common, name, type: "file" }, Buffer.concat(parts));
          kept.set(name, { type: "file" });
          files++;
          break;
        }
        case "directory":
          entry.resume();
          pack.entry({ ...common, name, type: "directory" });
          kept.set(name, { type: "directory" });
          break;
        case "symlink": {
          entry.resume();
          // The target is kept verbatim: the builder resolves links inside the context.
          const linkname = header.linkname ?? "";
          pack.entry({ ...common, name, type: "symlink", linkname });
          kept.set(name, { type: "symlink", linkname });
          break;
        }
        case "link": {
          entry.resume();
          const target = safeSegments(header.linkname ?? "", "hard link target");
          const targetRest = target.slice(1);
          if (target[0] !== top || !startsWith(targetRest, contextPath) || targetRest.length === contextPath.length) {
            throw new SourceContextError(`hard link '${header.name}' points outside the build context`);
          }
          const linkname = targetRest.slice(contextPath.length).join("/");
          pack.entry({ ...common, name, type: "link", linkname });
          kept.set(name, { type: "link", linkname });
          break;
        }
        default:
          // Devices, FIFOs and the like cannot come from git and have no place in a build context.
          entry.resume();
          skipped++;
      }
    }
    await feeding;
  } catch (err) {
    extract.destroy();
    pack.destroy();
    throw unreadableArchive(err);
  }

  if (entriesSeen === 0) throw new SourceContextError("source archive is empty");
  if (!contextFound) throw new SourceContextError(`build context folder '${options.context}' does not exist in the repository`);
  if (!dockerfileExists(dockerfilePath, kept)) {
    const where = contextPath.length ? `the build context '${options.context}'` : "the repository root";
    throw new SourceContextError(`Dockerfile '${options.dockerfile}' not found in ${where}`);
  }
  pack.finalize();
  await packed;
  return { tar: Buffer.concat(chunks), files, skipped };
}
