/**
 * Bounds and checks of a downloaded source archive (GitHub tarball, Gitea/Forgejo/Gogs archive):
 * the same cap and the same refusal wording for every host. Unpacking has its own limits.
 */
import type { SourceArchive } from "../domain/ports.js";

/** Largest source archive (gzip'd, as downloaded) berth fetches; unpacking has its own limits. */
export const MAX_SOURCE_ARCHIVE_BYTES = 512 * 1024 * 1024;

/** The refusal of an archive over `maxBytes`. */
export function archiveTooLargeError(sha: string, maxBytes: number = MAX_SOURCE_ARCHIVE_BYTES): Error {
  return new Error(`the source archive of ${sha.slice(0, 7)} is larger than ${maxBytes / (1024 * 1024)} MiB; berth does not build it`);
}

/** `data` as a tar.gz `SourceArchive`; throws when it is not gzip'd. */
export function gzipSourceArchive(data: Buffer, sha: string): SourceArchive {
  if (data.length < 2 || data[0] !== 0x1f || data[1] !== 0x8b) throw new Error(`the source archive of ${sha.slice(0, 7)} is not a gzip'd tarball`);
  return { format: "tar.gz", data };
}
