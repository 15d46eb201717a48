/**
 * What the dashboard reads from and writes to the store port, on every adapter: the newest runs
 * overall and by repository (release runs of a repository included, other repositories' left out),
 * and the audit log of dashboard actions (newest first, by repository, hostile text kept as text).
 */
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import Database from "better-sqlite3";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { RunRecord } from "../../src/domain/records.js";
import type { RepoRef } from "../../src/domain/types.js";
import { SqliteStore } from "../../src/pipeline/store-sqlite.js";
import type { Store } from "../../src/pipeline/store.js";
import { cleanupStoreBackends, storeBackends } from "../helpers/store-backends.js";

const REPO = { host: "github" as const, owner: "acme", name: "app", installationId: 1, defaultBranch: "main", htmlUrl: "https://github.com/acme/app" };
const OTHER = { ...REPO, name: "app-other", htmlUrl: "https://github.com/acme/app-other" };
const GITEE = { ...REPO, host: "gitee" as const };

function run(id: string, repo: RepoRef = REPO, extra: Partial<RunRecord> = {}): RunRecord {
  return {
    id,
    prKey: `${repo.host}:${repo.owner}/${repo.name}#1`,
    repo,
    prNumber: 1,
    sha: "a".repeat(40),
    kind: "pipeline",
    plan: ["build"],
    trigger: "push",
    status: "queued",
    reuseImage: false,
    attempts: 0,
    createdAt: 1_000,
    ...extra,
  };
}

afterAll(cleanupStoreBackends);

describe.each(storeBackends)("dashboard queries on $name", (backend) => {
  const test = it.skipIf(backend.skip !== undefined);
  let store: Store;

  beforeEach(async () => {
    if (!backend.skip) store = await backend.open();
  });
  afterEach(async () => {
    if (!backend.skip) await store.close();
  });

  test("recentRuns: newest first, overall or of one repository (its releases too), bounded", async () => {
    await store.insertRun(run("r1"));
    await store.insertRun(run("o1", OTHER));
    await store.insertRun(run("g1", GITEE));
    await store.insertRun(run("rel", REPO, { kind: "release", prKey: "github:acme/app@production", prNumber: 0 }));
    await store.insertRun(run("r2"));
    await store.updateRun("r1", { status: "failed" });
    expect((await store.recentRuns({ limit: 10 })).map((r) => r.id)).toEqual(["r2", "rel", "g1", "o1", "r1"]);
    expect((await store.recentRuns({ limit: 2 })).map((r) => r.id)).toEqual(["r2", "rel"]);
    expect((await store.recentRuns({ limit: 10, repoKey: "github:acme/app" })).map((r) => r.id)).toEqual(["r2", "rel", "r1"]);
    expect((await store.recentRuns({ limit: 10, repoKey: "gitee:acme/app" })).map((r) => r.id)).toEqual(["g1"]);
    expect(await store.recentRuns({ limit: 10, repoKey: "github:acme/nothing" })).toEqual([]);
    expect((await store.recentRuns({ limit: 10, repoKey: "github:acme/app" })).find((r) => r.id === "r1")?.status).toBe("failed");
  });

  test("auditLog: entries read back as written, newest first, by repository", async () => {
    const hostile = "<script>alert(1)</script>\u0000'; DROP TABLE audit_log; --";
    await store.recordAudit({ at: 1_000, actor: "github:octocat", repoKey: "github:acme/app", action: "delete", target: "#1", result: "accepted" });
    await store.recordAudit({ at: 2_000, actor: "github:mallory", repoKey: "github:acme/app-other", action: "cancel", target: "run-9", result: "refused", detail: hostile });
    await store.recordAudit({ at: 3_000, actor: "admin", repoKey: "github:acme/app", action: "keep", target: "#1", result: "failed", detail: "no preview" });
    const all = await store.auditLog({ limit: 10 });
    expect(all.map((e) => e.at)).toEqual([3_000, 2_000, 1_000]);
    expect(all[2]).toStrictEqual({ seq: all[2]!.seq, at: 1_000, actor: "github:octocat", repoKey: "github:acme/app", action: "delete", target: "#1", result: "accepted" });
    expect(typeof all[2]!.seq).toBe("number");
    expect(all[0]!.seq).toBeGreaterThan(all[1]!.seq);
    // PostgreSQL text holds no NUL: it is kept as U+FFFD there.
    expect(all[1]!.detail?.replace("\uFFFD", "\u0000")).toBe(hostile);
    expect((await store.auditLog({ limit: 10, repoKeys: ["github:acme/app"] })).map((e) => e.action)).toEqual(["keep", "delete"]);
    expect((await store.auditLog({ limit: 1, repoKeys: ["github:acme/app", "github:acme/app-other"] })).map((e) => e.action)).toEqual(["keep"]);
    expect(await store.auditLog({ limit: 10, repoKeys: [] })).toEqual([]);
    expect(await store.auditLog({ limit: 10 })).toHaveLength(3);
  });
});

describe("SQLite versioned migration", () => {
  it("brings a database of the previous schema up (runs kept and found by repository) and runs once", async () => {
    const dir = mkdtempSync(join(tmpdir(), "berth-store-migrate-"));
    try {
      const first = SqliteStore.open(dir);
      await first.insertRun(run("old"));
      await first.close();
      // Undo version 1 the way a database of the previous release looks: no audit table, no repo column.
      const raw = new Database(join(dir, "berth.sqlite"));
      raw.exec("DROP INDEX runs_by_repo; DROP TABLE audit_log; ALTER TABLE runs DROP COLUMN repo_key; PRAGMA user_version = 0;");
      raw.close();
      const again = SqliteStore.open(dir);
      expect((await again.recentRuns({ limit: 5, repoKey: "github:acme/app" })).map((r) => r.id)).toEqual(["old"]);
      await again.recordAudit({ at: 1, actor: "admin", repoKey: "github:acme/app", action: "delete", target: "#1", result: "accepted" });
      await again.close();
      const third = SqliteStore.open(dir);
      expect(await third.auditLog({ limit: 5 })).toHaveLength(1);
      await third.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
