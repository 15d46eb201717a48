import { Readable } from "node:stream";
import { gzipSync } from "node:zlib";
import * as tar from "tar-stream";
import { describe, expect, it } from "vitest";
import { createBuildContext, SourceContextError } from "../../src/adapters/docker/source-context.js";
import type { SourceArchive } from "../../src/domain/ports.js";

type Entry =
  | { name: string; type?: "file"; content?: string; mode?: number }
  | { name: string; type: "directory"; mode?: number }
  | { name: string; type: "symlink" | "link"; linkname: string }
  | { name: string; type: "fifo" };

/** A tar.gz shaped like GitHub's tarball API answer, built from raw entries (no name checks). */
async function archive(entries: Entry[]): Promise<SourceArchive> {
  const pack = tar.pack();
  for (const e of entries) {
    if (e.type === undefined || e.type === "file") pack.entry({ name: e.name, mode: e.mode ?? 0o644 }, e.content ?? "");
    else if (e.type === "directory") pack.entry({ name: e.name, type: "directory", mode: e.mode ?? 0o755 });
    else if (e.type === "fifo") pack.entry({ name: e.name, type: "fifo" });
    else if (e.type === "symlink" || e.type === "link") pack.entry({ name: e.name, type: e.type, linkname: e.linkname });
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack) chunks.push(chunk as Buffer);
  return { format: "tar.gz", data: gzipSync(Buffer.concat(chunks)) };
}

interface ListedEntry {
  name: string;
  type: string;
  mode: number;
  linkname?: string;
  content?: string;
}

async function list(tarBuffer: Buffer): Promise<ListedEntry[]> {
  const extract = tar.extract();
  Readable.from([tarBuffer]).pipe(extract);
  const out: ListedEntry[] = [];
  for await (const entry of extract) {
    const chunks: Buffer[] = [];
    for await (const c of entry) chunks.push(c as Buffer);
    const item: ListedEntry = { name: entry.header.name, type: entry.header.type ?? "file", mode: entry.header.mode ?? 0 };
    if (entry.header.linkname) item.linkname = entry.header.linkname;
    if (item.type === "file") item.content = Buffer.concat(chunks).toString();
    out.push(item);
  }
  return out;
}

const TOP = "acme-app-abc1234";

describe("createBuildContext", () => {
  it("strips the top-level folder and keeps contents, modes and symlinks", async () => {
    const source = await archive([
      { name: `${TOP}/`, type: "directory" },
      { name: `${TOP}/Dockerfile`, content: "FROM scratch\n" },
      { name: `${TOP}/bin/`, type: "directory" },
      { name: `${TOP}/bin/run.sh`, content: "#!/bin/sh\n", mode: 0o755 },
      { name: `${TOP}/current`, type: "symlink", linkname: "bin/run.sh" },
    ]);
    const context = await createBuildContext(source, { context: ".", dockerfile: "Dockerfile" });
    const entries = await list(context.tar);
    expect(entries).toEqual([
      { name: "Dockerfile", type: "file", mode: 0o644, content: "FROM scratch\n" },
      { name: "bin", type: "directory", mode: 0o755 },
      { name: "bin/run.sh", type: "file", mode: 0o755, content: "#!/bin/sh\n" },
      { name: "current", type: "symlink", mode: expect.any(Number), linkname: "bin/run.sh" },
    ]);
    expect(context.files).toBe(2);
  });

  it("keeps only the context folder, re-rooted, with hard links rewritten", async () => {
    const source = await archive([
      { name: `${TOP}/README.md`, content: "outside" },
      { name: `${TOP}/services/web/`, type: "directory" },
      { name: `${TOP}/services/web/docker/Dockerfile.prod`, content: "FROM scratch\n" },
      { name: `${TOP}/services/web/app.txt`, content: "app" },
      { name: `${TOP}/services/web/app-copy.txt`, type: "link", linkname: `${TOP}/services/web/app.txt` },
      { name: `${TOP}/services/webber/other.txt`, content: "a sibling with the same prefix" },
    ]);
    const context = await createBuildContext(source, { context: "./services/web/", dockerfile: "docker/Dockerfile.prod" });
    const names = (await list(context.tar)).map((e) => [e.name, e.type, e.linkname ?? e.content]);
    expect(names).toEqual([
      ["docker/Dockerfile.prod", "file", "FROM scratch\n"],
      ["app.txt", "file", "app"],
      ["app-copy.txt", "link", "app.txt"],
    ]);
  });

  it("refuses entries that climb out with '..'", async () => {
    const source = await archive([
      { name: `${TOP}/Dockerfile`, content: "FROM scratch\n" },
      { name: `${TOP}/../../etc/cron.d/evil`, content: "* * * * * root sh" },
    ]);
    await expect(createBuildContext(source, { context: ".", dockerfile: "Dockerfile" })).rejects.toThrow(
      new SourceContextError(`archive entry '${TOP}/../../etc/cron.d/evil' points outside its folder ('..')`),
    );
  });

  it("refuses absolute entry names", async () => {
    const source = await archive([
      { name: `${TOP}/Dockerfile`, content: "FROM scratch\n" },
      { name: "/etc/passwd", content: "root::0:0" },
    ]);
    await expect(createBuildContext(source, { context: ".", dockerfile: "Dockerfile" })).rejects.toThrow(/'\/etc\/passwd' is an absolute path/);
  });

  it("refuses entries outside the single top-level folder", async () => {
    const source = await archive([
      { name: `${TOP}/Dockerfile`, content: "FROM scratch\n" },
      { name: "intruder/Dockerfile", content: "FROM scratch\n" },
    ]);
    await expect(createBuildContext(source, { context: ".", dockerfile: "Dockerfile" })).rejects.toThrow(
      /'intruder\/Dockerfile' is not under the single top-level folder 'acme-app-abc1234\/'/,
    );
  });

  it("refuses hard links whose target lies outside the context", async () => {
    const source = await archive([
      { name: `${TOP}/secrets.txt`, content: "outside the context" },
      { name: `${TOP}/web/Dockerfile`, content: "FROM scratch\n" },
      { name: `${TOP}/web/leak.txt`, type: "link", linkname: `${TOP}/secrets.txt` },
    ]);
    await expect(createBuildContext(source, { context: "web", dockerfile: "Dockerfile" })).rejects.toThrow(
      /hard link '.*web\/leak.txt' points outside the build context/,
    );
  });

  it("fails clearly when the Dockerfile is not in the context", async () => {
    const source = await archive([
      { name: `${TOP}/Dockerfile`, content: "FROM scratch\n" },
      { name: `${TOP}/web/index.html`, content: "<p>hi</p>" },
    ]);
    await expect(createBuildContext(source, { context: "web", dockerfile: "Dockerfile" })).rejects.toThrow(
      "Dockerfile 'Dockerfile' not found in the build context 'web'",
    );
    await expect(createBuildContext(source, { context: ".", dockerfile: "build/Dockerfile" })).rejects.toThrow(
      "Dockerfile 'build/Dockerfile' not found in the repository root",
    );
  });

  it("accepts a Dockerfile that is a symlink to a file inside the context, not a dangling one", async () => {
    const ok = await archive([
      { name: `${TOP}/docker/Dockerfile.real`, content: "FROM scratch\n" },
      { name: `${TOP}/Dockerfile`, type: "symlink", linkname: "docker/Dockerfile.real" },
    ]);
    await expect(createBuildContext(ok, { context: ".", dockerfile: "Dockerfile" })).resolves.toMatchObject({ files: 1 });
    const dangling = await archive([{ name: `${TOP}/Dockerfile`, type: "symlink", linkname: "nowhere" }]);
    await expect(createBuildContext(dangling, { context: ".", dockerfile: "Dockerfile" })).rejects.toThrow(/not found/);
  });

  it("fails clearly when the context folder does not exist", async () => {
    const source = await archive([{ name: `${TOP}/Dockerfile`, content: "FROM scratch\n" }]);
    await expect(createBuildContext(source, { context: "missing/dir", dockerfile: "Dockerfile" })).rejects.toThrow(
      "build context folder 'missing/dir' does not exist in the repository",
    );
  });

  it("refuses a context or Dockerfile path that escapes", async () => {
    const source = await archive([{ name: `${TOP}/Dockerfile`, content: "FROM scratch\n" }]);
    await expect(createBuildContext(source, { context: "../other", dockerfile: "Dockerfile" })).rejects.toThrow(/'\.\.'/);
    await expect(createBuildContext(source, { context: ".", dockerfile: "/Dockerfile" })).rejects.toThrow(/absolute/);
  });

  it("keeps long (PAX) names intact and skips FIFOs", async () => {
    const deep = `${"very-long-folder-name/".repeat(8)}file.txt`;
    const source = await archive([
      { name: `${TOP}/Dockerfile`, content: "FROM scratch\n" },
      { name: `${TOP}/${deep}`, content: "deep" },
      { name: `${TOP}/pipe`, type: "fifo" },
    ]);
    const context = await createBuildContext(source, { context: ".", dockerfile: "Dockerfile" });
    const entries = await list(context.tar);
    expect(entries.map((e) => e.name)).toEqual(["Dockerfile", deep]);
    expect(context.skipped).toBe(1);
  });

  it("enforces the size ceiling", async () => {
    const source = await archive([
      { name: `${TOP}/Dockerfile`, content: "FROM scratch\n" },
      { name: `${TOP}/big.bin`, content: "x".repeat(4096) },
    ]);
    await expect(createBuildContext(source, { context: ".", dockerfile: "Dockerfile", maxBytes: 1024 })).rejects.toThrow(/larger than/);
  });

  it("reports a corrupt archive as such", async () => {
    await expect(createBuildContext({ format: "tar.gz", data: Buffer.from("not gzip at all") }, { context: ".", dockerfile: "Dockerfile" })).rejects.toThrow(
      /source archive is not a readable tar.gz/,
    );
    await expect(createBuildContext({ format: "tar.gz", data: gzipSync(Buffer.alloc(0)) }, { context: ".", dockerfile: "Dockerfile" })).rejects.toThrow(
      /source archive is empty/,
    );
  });
});
