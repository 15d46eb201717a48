/**
 * Work leases (a PR's comment, a status group): held while the work runs, renewed so a slow host
 * call never loses them, short so a replica that died mid-work frees them within one lease.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, expect, it } from "vitest";
import { withRenewedLease } from "../../src/pipeline/renewed-lease.js";
import { SqliteStore } from "../../src/pipeline/store-sqlite.js";

let dir: string;
let store: SqliteStore;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "berth-lease-"));
  store = SqliteStore.open(dir);
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

it("keeps the lease through work longer than the lease itself, and no one else gets it meanwhile", async () => {
  const ms = 90;
  let refusedMeanwhile = 0;
  const result = await withRenewedLease(store, { name: "comment:pr", owner: "a", ms, now: Date.now }, async (lost) => {
    for (let i = 0; i < 6; i++) {
      await sleep(ms / 2);
      const other = await withRenewedLease(store, { name: "comment:pr", owner: "b", ms, now: Date.now }, async () => "b wrote");
      if (!other.held) refusedMeanwhile++;
    }
    return lost.aborted ? "lost" : "a wrote";
  });
  expect(result).toEqual({ held: true, value: "a wrote" });
  expect(refusedMeanwhile).toBe(6);
  // Released at the end: the next writer gets it at once.
  expect(await withRenewedLease(store, { name: "comment:pr", owner: "b", ms, now: Date.now }, async () => "b wrote")).toEqual({ held: true, value: "b wrote" });
});

it("is free again one lease after its holder died (no renewals, no release)", async () => {
  const ms = 80;
  const died = Date.now();
  expect(await store.acquireLease("status:acme", "dead-replica", died + ms, died)).toBe(true);
  expect((await withRenewedLease(store, { name: "status:acme", owner: "b", ms, now: Date.now }, async () => 1)).held).toBe(false);
  await sleep(ms + 20);
  expect(await withRenewedLease(store, { name: "status:acme", owner: "b", ms, now: Date.now }, async () => 1)).toEqual({ held: true, value: 1 });
});
