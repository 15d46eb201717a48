import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import * as tar from "tar-stream";
import { describe, expect, it } from "vitest";
import { SourceContextError } from "../../src/adapters/docker/source-context.js";
import { checkoutSource } from "../../src/adapters/source-checkout.js";
import type { SourceArchive } from "../../src/domain/ports.js";

const TOP = "acme-app-abc1234";

async function archive(entries: Array<{ name: string; content?: string | Buffer }>): Promise<SourceArchive> {
  const pack = tar.pack();
  for (const e of entries) pack.entry({ name: e.name, mode: 0o644 }, e.content ?? "");
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack) chunks.push(chunk as Buffer);
  return { format: "tar.gz", data: gzipSync(Buffer.concat(chunks)) };
}

const LIMITS = { bytes: 1024 * 1024, entries: 100, unpackedBytes: 4 * 1024 * 1024 };

async function rejection(promise: Promise<unknown>): Promise<Error> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SourceContextError);
  return err as Error;
}

describe("checkoutSource", () => {
  it("unpacks files under the top folder and skips escaping paths", async () => {
    const checkout = await checkoutSource(await archive([{ name: `${TOP}/chart/Chart.yaml`, content: "name: x\n" }, { name: `${TOP}/../evil`, content: "no" }]));
    try {
      expect(readFileSync(join(checkout.dir, "chart/Chart.yaml"), "utf8")).toBe("name: x\n");
      expect(existsSync(join(checkout.dir, "..", "evil"))).toBe(false);
    } finally {
      await checkout.dispose();
    }
  });

  it("rejects garbage bytes with a clear error instead of crashing the process", async () => {
    const err = await rejection(checkoutSource({ format: "tar.gz", data: Buffer.from("not gzip at all") }, LIMITS));
    expect(err.message).toMatch(/^source archive is not a readable tar.gz: /);
    const badDeflate = Buffer.concat([Buffer.from([0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 3]), Buffer.from("garbage".repeat(50))]);
    expect((await rejection(checkoutSource({ format: "tar.gz", data: badDeflate }, LIMITS))).message).toMatch(/^source archive is not a readable tar.gz: /);
  });

  it("rejects a truncated archive", async () => {
    const whole = (await archive([{ name: `${TOP}/data.bin`, content: Buffer.from(Array.from({ length: 200_000 }, (_, i) => (i * 7919) % 251)) }])).data;
    for (const cut of [10, Math.floor(whole.length / 2), whole.length - 4]) {
      expect((await rejection(checkoutSource({ format: "tar.gz", data: whole.subarray(0, cut) }, LIMITS))).message).toMatch(/^source archive is not a readable tar.gz: /);
    }
  });

  it("stops a gzip bomb, too many entries and too many bytes (headers counted)", async () => {
    const bomb = await archive([{ name: `${TOP}/zeros.bin`, content: Buffer.alloc(16 * 1024 * 1024) }]);
    expect((await rejection(checkoutSource(bomb, { ...LIMITS, bytes: 64 * 1024 * 1024 }))).message).toBe("source archive unpacks to more than 4 MiB");
    const many = await archive(Array.from({ length: 150 }, (_, i) => ({ name: `${TOP}/f${i}` })));
    expect((await rejection(checkoutSource(many, LIMITS))).message).toBe("source archive has more than 100 entries");
    const empties = await archive(Array.from({ length: 90 }, (_, i) => ({ name: `${TOP}/f${i}` })));
    expect((await rejection(checkoutSource(empties, { ...LIMITS, bytes: 32 * 1024 }))).message).toBe("the source is larger than 32 KiB (files, names and tar headers)");
  });
});
