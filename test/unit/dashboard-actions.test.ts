/**
 * Dashboard actions follow the slash commands' permission rules and become the event a comment
 * would: refused below the command's permission (audited), "not found" for a PR the user cannot
 * read (not audited), accepted as a `pr-comment` with the command text written for the user.
 */
import { describe, expect, it } from "vitest";
import { pino } from "pino";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { CodeHost } from "../../src/domain/ports.js";
import type { PullRecord } from "../../src/domain/records.js";
import type { BotEvent, Permission } from "../../src/domain/types.js";
import { SqliteStore } from "../../src/pipeline/store-sqlite.js";
import type { Session } from "../../src/web/auth/session.js";
import { actionRequestSchema, performAction, type ActionDeps } from "../../src/web/dashboard/actions.js";

const REPO = { host: "github" as const, owner: "acme", name: "app", installationId: 1, defaultBranch: "main", htmlUrl: "https://github.com/acme/app" };
const PULL: PullRecord = { prKey: "github:acme/app#4", repo: REPO, prNumber: 4, headSha: "a".repeat(40), state: "open", fromFork: false, url: "https://github.com/acme/app/pull/4" };
const alice: Session = { user: { kind: "oauth", host: "github", login: "alice", token: "t" }, csrf: "x".repeat(32) };

async function withStore(work: (store: SqliteStore) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "berth-actions-"));
  const store = SqliteStore.open(dir);
  try {
    await store.savePull(PULL);
    await work(store);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

function deps(store: SqliteStore, permissions: Record<string, Permission>, accepted: BotEvent[], readable = true): ActionDeps {
  const host = { getPermission: async (_repo: unknown, login: string) => permissions[login] ?? "none" } as unknown as CodeHost;
  return { store, codeHost: () => host, accept: async (event) => (accepted.push(event), true), canRead: async () => readable, log: pino({ level: "silent" }), now: () => 42 };
}

describe("dashboard actions", () => {
  it("queue the command as alice's comment when she has its permission", async () => {
    await withStore(async (store) => {
      const accepted: BotEvent[] = [];
      const outcome = await performAction({ action: "retest", repo: "github:acme/app", pr: 4 }, alice, deps(store, { alice: "write" }, accepted));
      expect(outcome).toMatchObject({ status: 202, result: "accepted" });
      expect(accepted).toEqual([{ kind: "pr-comment", deliveryId: expect.stringMatching(/^dashboard-/), repo: REPO, prNumber: 4, commentId: "", author: "alice", body: "/test", createdAt: 42, via: { kind: "dashboard", admin: false } }]);
      expect(await store.auditLog({ limit: 5 })).toEqual([{ seq: expect.any(Number), at: 42, actor: "github:alice", repoKey: "github:acme/app", action: "test", target: "#4", result: "accepted" }]);
    });
  });

  it("refuse below the command's permission, and audit the refusal", async () => {
    await withStore(async (store) => {
      const accepted: BotEvent[] = [];
      const outcome = await performAction({ action: "delete", repo: "github:acme/app", pr: 4 }, alice, deps(store, { alice: "triage" }, accepted));
      expect(outcome).toEqual({ status: 403, result: "refused", message: "Refused: /delete needs write permission; alice has triage." });
      expect(accepted).toEqual([]);
      expect((await store.auditLog({ limit: 5 }))[0]).toMatchObject({ result: "refused", detail: "/delete needs write permission; alice has triage" });
    });
  });

  it("answer not found for a PR berth does not know or the user cannot read, without a trace", async () => {
    await withStore(async (store) => {
      const accepted: BotEvent[] = [];
      expect((await performAction({ action: "cancel", repo: "github:acme/app", pr: 9 }, alice, deps(store, { alice: "admin" }, accepted))).status).toBe(404);
      expect((await performAction({ action: "cancel", repo: "github:acme/app", pr: 4 }, alice, deps(store, { alice: "admin" }, accepted, false))).status).toBe(404);
      expect(accepted).toEqual([]);
      expect(await store.auditLog({ limit: 5 })).toEqual([]);
    });
  });

  it("let the admin act as admin, and a user of another host not at all", async () => {
    await withStore(async (store) => {
      const accepted: BotEvent[] = [];
      const admin = await performAction({ action: "keep", repo: "github:acme/app", pr: 4 }, { user: { kind: "admin" }, csrf: "y".repeat(32) }, deps(store, {}, accepted));
      expect(admin.status).toBe(202);
      expect(accepted[0]).toMatchObject({ author: "berth-dashboard-admin", body: "/keep", via: { kind: "dashboard", admin: true } });
      const gitee = await performAction({ action: "keep", repo: "github:acme/app", pr: 4 }, { user: { kind: "oauth", host: "gitee", login: "alice", token: "t" }, csrf: "y".repeat(32) }, deps(store, { alice: "admin" }, accepted));
      expect(gitee.status).toBe(403);
      expect(accepted).toHaveLength(1);
    });
  });

  it("validate the request at the boundary", () => {
    expect(actionRequestSchema.safeParse({ action: "delete", repo: "github:acme/app", pr: "3" }).success).toBe(true);
    for (const bad of [{ action: "rm -rf", repo: "github:acme/app", pr: "3" }, { action: "delete", repo: "gitlab:acme/app", pr: "3" }, { action: "delete", repo: "github:acme/app/x", pr: "3" }, { action: "delete", repo: "github:acme/app", pr: "0" }, { action: "delete", repo: "github:acme/app", pr: "1e99" }]) {
      expect(actionRequestSchema.safeParse(bad).success, JSON.stringify(bad)).toBe(false);
    }
  });
});
