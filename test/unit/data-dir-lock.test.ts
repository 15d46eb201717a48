/**
 * Two berth processes on one data directory would run the same runs twice: the second one is
 * refused, naming the directory and the pid holding it. The holder is a real second process.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { DataDirLockedError, lockDataDir } from "../../src/pipeline/data-dir-lock.js";
import { SqliteStore } from "../../src/pipeline/store-sqlite.js";
import type { Store } from "../../src/pipeline/store.js";

const STORE_MODULE = pathToFileURL(resolve("src/pipeline/store-sqlite.ts")).href;

let dir: string;
let child: ChildProcess | undefined;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "berth-lock-"));
});
afterEach(async () => {
  child?.kill("SIGKILL");
  child = undefined;
  rmSync(dir, { recursive: true, force: true });
});

/** A child process that opens the store on `dir` and holds it until stdin closes (or it is killed). */
async function holdInChild(): Promise<ChildProcess> {
  const code = `
    const { SqliteStore } = await import(${JSON.stringify(STORE_MODULE)});
    const store = SqliteStore.open(${JSON.stringify(dir)});
    process.stdout.write("open\\n");
    process.stdin.on("end", async () => { await store.close(); process.stdout.write("closed\\n"); process.exit(0); });
    process.stdin.resume();
  `;
  const proc = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", code], { stdio: ["pipe", "pipe", "pipe"] });
  let output = "";
  proc.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString()));
  await new Promise<void>((ready, fail) => {
    proc.stdout?.on("data", (chunk: Buffer) => {
      if (chunk.toString().includes("open")) ready();
    });
    proc.on("exit", (code) => fail(new Error(`child exited with ${code}: ${output}`)));
  });
  return proc;
}

function openError(): unknown {
  try {
    void SqliteStore.open(dir).close();
  } catch (err) {
    return err;
  }
  return undefined;
}

describe("data directory lock", () => {
  it("refuses a second process on the same data directory, naming the directory and the holder's pid", async () => {
    child = await holdInChild();
    const started = Date.now();
    const err = openError();
    expect(Date.now() - started).toBeLessThan(1000); // refused at once, not after SQLite's busy wait
    expect(err).toBeInstanceOf(DataDirLockedError);
    expect((err as DataDirLockedError).holder?.pid).toBe(child.pid);
    expect((err as Error).message).toContain(`the data directory ${dir} is in use by berth process ${child.pid} on `);
    expect((err as Error).message).toContain("BERTH_DATA_DIR");
  }, 20_000);

  it("is released at close: the next process opens the directory", async () => {
    child = await holdInChild();
    expect(openError()).toBeInstanceOf(DataDirLockedError);
    const closed = new Promise((done) => child?.on("exit", done));
    child.stdin?.end();
    await closed;
    expect(openError()).toBeUndefined();
  }, 20_000);

  it("is taken over from a process that died holding it (no stale lock, whatever its side file says)", async () => {
    child = await holdInChild();
    const died = new Promise((done) => child?.on("exit", done));
    child.kill("SIGKILL");
    await died;
    const store = SqliteStore.open(dir);
    await store.close();
  }, 20_000);

  it("does not trust a side file alone: a leftover berth.lock.json of a live pid does not lock the directory", async () => {
    writeFileSync(join(dir, "berth.lock.json"), JSON.stringify({ pid: process.pid, hostname: "elsewhere", startedAt: "2020-01-01T00:00:00.000Z" }));
    const store = SqliteStore.open(dir);
    await store.close();
  });

  it("refuses a second open in the same process too, and releasing twice is harmless", async () => {
    const lock = lockDataDir(dir);
    expect(() => lockDataDir(dir)).toThrow(DataDirLockedError);
    lock.release();
    lock.release();
    lockDataDir(dir).release();
  });
});
