/**
 * The entries of a tar.gz (source archives in tests): name, type, mode, content and link target.
 */
import { gunzipSync } from "node:zlib";
import { extract as createExtract } from "tar-stream";

export interface TarEntry {
  name: string;
  type: string;
  mode: number;
  content: Buffer;
  linkname?: string;
}

/** Every entry of a gzip'd tarball, in archive order. */
export async function tarEntries(data: Buffer): Promise<TarEntry[]> {
  const entries: TarEntry[] = [];
  const extract = createExtract();
  const done = (async () => {
    for await (const entry of extract) {
      const chunks: Buffer[] = [];
      for await (const chunk of entry) chunks.push(chunk as Buffer);
      entries.push({
        name: entry.header.name,
        type: entry.header.type ?? "file",
        mode: entry.header.mode ?? 0,
        content: Buffer.concat(chunks),
        ...(entry.header.linkname ? { linkname: entry.header.linkname } : {}),
      });
    }
  })();
  extract.end(gunzipSync(data));
  await done;
  return entries;
}

/** The regular files of an archive, top folder stripped, as a code-host fake stores a commit (mode 100644 or 100755). */
export async function commitFilesOf(data: Buffer): Promise<Record<string, { content: Buffer; mode: "100644" | "100755" }>> {
  const files: Record<string, { content: Buffer; mode: "100644" | "100755" }> = {};
  for (const entry of await tarEntries(data)) {
    if (entry.type !== "file") continue;
    files[entry.name.split("/").slice(1).join("/")] = { content: entry.content, mode: (entry.mode & 0o111) !== 0 ? "100755" : "100644" };
  }
  return files;
}
