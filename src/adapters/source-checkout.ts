/**
 * Unpack a commit's source archive into a fresh temporary folder (for configs that point into the
 * repository at deploy time, such as a Helm chart). Entries are attacker-controlled: paths that
 * leave the folder and links of any kind are skipped, never followed. A corrupt, truncated or
 * oversized archive rejects with a {@link SourceContextError} (the stage fails); the folder is
 * removed again.
 */
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, posix } from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGunzip } from "node:zlib";
import * as tar from "tar-stream";
import type { SourceArchive, SourceCheckout } from "../domain/ports.js";
import { inflateLimit, sizeText, SOURCE_ARCHIVE_LIMITS, SourceContextError, tarEntryCost, unreadableArchive } from "./docker/source-context.js";

/** Largest source berth unpacks: files written plus their headers and names. */
const MAX_BYTES = 512 * 1024 * 1024;

export interface CheckoutLimits {
  /** Bytes of the files written plus their tar headers and long names. Default 512 MiB. */
  bytes: number;
  /** Entries read. */
  entries: number;
  /** Bytes the archive inflates to. */
  unpackedBytes: number;
}

const DEFAULT_LIMITS: CheckoutLimits = { bytes: MAX_BYTES, ...SOURCE_ARCHIVE_LIMITS };

/** Relative path inside the archive with its top-level folder stripped, or null when unsafe. */
function innerPath(name: string): string | null {
  const parts = posix.normalize(name.replace(/\\/g, "/")).split("/").filter((p) => p !== "" && p !== ".");
  parts.shift();
  if (parts.length === 0 || parts.some((p) => p === "..")) return null;
  return parts.join("/");
}

/** Unpack `archive` (entries under one top-level folder) into a new temporary folder. */
export async function checkoutSource(archive: SourceArchive, limits: CheckoutLimits = DEFAULT_LIMITS): Promise<SourceCheckout> {
  if (archive.format !== "tar.gz") throw new SourceContextError(`unsupported source archive format '${String(archive.format)}'`);
  const dir = await mkdtemp(join(tmpdir(), "berth-src-"));
  const dispose = () => rm(dir, { recursive: true, force: true });
  const extract = tar.extract();
  // pipeline, not pipe: an error of any stage (bad gzip, truncated tar) rejects here instead of
  // being emitted on a stream nobody listens to, which would crash the process.
  const feeding = pipeline(Readable.from([archive.data]), createGunzip(), inflateLimit(limits.unpackedBytes), extract);
  feeding.catch(() => undefined); // surfaces through the iterator below
  try {
    let total = 0;
    let entries = 0;
    for await (const entry of extract) {
      if (++entries > limits.entries) throw new SourceContextError(`source archive has more than ${limits.entries} entries`);
      const path = innerPath(entry.header.name);
      if (path && entry.header.type === "file") {
        total += tarEntryCost({ name: path, size: 0 });
        const chunks: Buffer[] = [];
        for await (const chunk of entry) {
          total += (chunk as Buffer).length;
          if (total > limits.bytes) throw new SourceContextError(`the source is larger than ${sizeText(limits.bytes)} (files, names and tar headers)`);
          chunks.push(chunk as Buffer);
        }
        if (total > limits.bytes) throw new SourceContextError(`the source is larger than ${sizeText(limits.bytes)} (files, names and tar headers)`);
        const target = join(dir, path);
        await mkdir(dirname(target), { recursive: true });
        await writeFile(target, Buffer.concat(chunks), { mode: (entry.header.mode ?? 0o644) & 0o755 });
      } else {
        entry.resume();
      }
    }
    await feeding;
    return { dir, dispose };
  } catch (err) {
    extract.destroy();
    await dispose();
    throw unreadableArchive(err);
  }
}
