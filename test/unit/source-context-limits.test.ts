import { gzipSync } from "node:zlib";
import * as tar from "tar-stream";
import { describe, expect, it } from "vitest";
import { createBuildContext, SourceContextError, tarEntryCost } from "../../src/adapters/docker/source-context.js";
import type { SourceArchive } from "../../src/domain/ports.js";

const TOP = "acme-app-abc1234";

async function tarOf(entries: Array<{ name: string; content?: string | Buffer }>): Promise<Buffer> {
  const pack = tar.pack();
  for (const e of entries) pack.entry({ name: e.name, mode: 0o644 }, e.content ?? "");
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

async function archive(entries: Array<{ name: string; content?: string | Buffer }>): Promise<SourceArchive> {
  return { format: "tar.gz", data: gzipSync(await tarOf(entries)) };
}

const DOCKERFILE = { name: `${TOP}/Dockerfile`, content: "FROM scratch\n" };
const build = (source: SourceArchive, options: Partial<Parameters<typeof createBuildContext>[1]> = {}) =>
  createBuildContext(source, { context: ".", dockerfile: "Dockerfile", ...options });

describe("createBuildContext limits", () => {
  it("counts tar headers against the size limit, so many empty files cannot slip under it", async () => {
    const empties = Array.from({ length: 2000 }, (_, i) => ({ name: `${TOP}/e/${i}` }));
    const source = await archive([DOCKERFILE, ...empties]);
    await expect(build(source, { maxBytes: 512 * 1024 })).rejects.toThrow("build context is larger than 512 KiB (files, names and tar headers)");
    await expect(build(source, { maxBytes: 2 * 1024 * 1024 })).resolves.toMatchObject({ files: 2001 });
  });

  it("counts long (PAX) names against the size limit", async () => {
    const longNames = Array.from({ length: 200 }, (_, i) => ({ name: `${TOP}/${"n".repeat(2000)}${i}` }));
    const source = await archive([DOCKERFILE, ...longNames]);
    // 200 headers alone are 100 KiB; with their 2 KB names they pass 600 KiB.
    await expect(build(source, { maxBytes: 600 * 1024 })).rejects.toThrow(/larger than 600 KiB/);
    expect(tarEntryCost({ name: "a".repeat(2000) })).toBe(512 + 512 + 2560);
    expect(tarEntryCost({ name: "short", size: 1 })).toBe(1024);
  });

  it("caps the number of entries, inside or outside the context", async () => {
    const source = await archive([DOCKERFILE, ...Array.from({ length: 50 }, (_, i) => ({ name: `${TOP}/elsewhere/${i}` }))]);
    await expect(build(source, { maxEntries: 20 })).rejects.toThrow("source archive has more than 20 entries");
  });

  it("stops a gzip bomb at the unpacked limit even when it sits outside the context", async () => {
    const bomb = await archive([{ name: `${TOP}/web/Dockerfile`, content: "FROM scratch\n" }, { name: `${TOP}/other/zeros.bin`, content: Buffer.alloc(32 * 1024 * 1024) }]);
    expect(bomb.data.length).toBeLessThan(100 * 1024);
    const err = await build(bomb, { context: "web", maxUnpackedBytes: 8 * 1024 * 1024 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SourceContextError);
    expect((err as Error).message).toBe("source archive unpacks to more than 8 MiB");
  });

  it("rejects a truncated archive as unreadable", async () => {
    const whole = (await archive([DOCKERFILE, { name: `${TOP}/data.bin`, content: Buffer.from(Array.from({ length: 200_000 }, (_, i) => (i * 7919) % 251)) }])).data;
    for (const cut of [10, Math.floor(whole.length / 2), whole.length - 4]) {
      const err = await build({ format: "tar.gz", data: whole.subarray(0, cut) }).catch((e: unknown) => e);
      expect(err, `cut at ${cut}`).toBeInstanceOf(SourceContextError);
      expect((err as Error).message).toMatch(/^source archive is not a readable tar.gz: /);
    }
  });

  it("rejects garbage after a gzip header, and a gzip of something that is not a tar", async () => {
    const garbage = Buffer.concat([Buffer.from([0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 3]), Buffer.from("definitely not deflate data".repeat(20))]);
    await expect(build({ format: "tar.gz", data: garbage })).rejects.toThrow(/^source archive is not a readable tar.gz: /);
    await expect(build({ format: "tar.gz", data: gzipSync(Buffer.from("x".repeat(5000))) })).rejects.toThrow(SourceContextError);
  });
});
