/**
 * Unpack a commit's source archive into a fresh temporary folder (for configs that point into the
 * repository at deploy time, such as a Helm chart). Entries are attacker-controlled: paths that
 * leave the folder and links of any kind are skipped, never followed.
 */
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, posix } from "node:path";
import { Readable } from "node:stream";
import { createGunzip } from "node:zlib";
import * as tar from "tar-stream";
import type { SourceArchive, SourceCheckout } from "../domain/ports.js";

/** Largest source berth unpacks. */
const MAX_BYTES = 512 * 1024 * 1024;

/** Relative path inside the archive with its top-level folder stripped, or null when unsafe. */
function innerPath(name: string): string | null {
  const parts = posix.normalize(name.replace(/\\/g, "/")).split("/").filter((p) => p !== "" && p !== ".");
  parts.shift();
  if (parts.length === 0 || parts.some((p) => p === "..")) return null;
  return parts.join("/");
}

/** Unpack `archive` (entries under one top-level folder) into a new temporary folder. */
export async function checkoutSource(archive: SourceArchive): Promise<SourceCheckout> {
  const dir = await mkdtemp(join(tmpdir(), "berth-src-"));
  const dispose = () => rm(dir, { recursive: true, force: true });
  try {
    const extract = tar.extract();
    let total = 0;
    const done = (async () => {
      for await (const entry of extract) {
        const path = innerPath(entry.header.name);
        if (path && entry.header.type === "file") {
          const chunks: Buffer[] = [];
          for await (const chunk of entry) {
            total += (chunk as Buffer).length;
            if (total > MAX_BYTES) throw new Error(`the source is larger than ${MAX_BYTES} bytes`);
            chunks.push(chunk as Buffer);
          }
          const target = join(dir, path);
          await mkdir(dirname(target), { recursive: true });
          await writeFile(target, Buffer.concat(chunks), { mode: (entry.header.mode ?? 0o644) & 0o755 });
        } else {
          entry.resume();
        }
      }
    })();
    Readable.from(archive.data).pipe(createGunzip()).pipe(extract);
    await done;
    return { dir, dispose };
  } catch (err) {
    await dispose();
    throw err;
  }
}
