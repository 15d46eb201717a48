/**
 * A command the dashboard wrote (`via: dashboard`) goes through the dispatcher like a comment,
 * minus what only a real comment has: the host is not asked to confirm it (Gitee would look the
 * comment id up) and no reaction is made. A user's permission is still asked of the host; the
 * dashboard admin acts as admin. An ordinary comment is still confirmed and reacted to.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { CodeHost } from "../../src/domain/ports.js";
import type { BotEvent, Permission, PullRef } from "../../src/domain/types.js";
import { dispatchEvent, type DispatcherDeps } from "../../src/pipeline/dispatcher.js";
import { HostRouter } from "../../src/pipeline/host-router.js";
import { SqliteStore } from "../../src/pipeline/store-sqlite.js";

const REPO = { host: "gitee" as const, owner: "acme", name: "app", defaultBranch: "master", htmlUrl: "https://gitee.com/acme/app" };
const PR: PullRef = { repo: REPO, number: 5, headSha: "c".repeat(40), headRef: "f", baseRef: "master", fromFork: false, url: "https://gitee.com/acme/app/pulls/5", author: "x", state: "open" };

let dir: string;
let store: SqliteStore;
const calls: string[] = [];

function host(permissions: Record<string, Permission>): CodeHost {
  return {
    kind: "gitee",
    confirmEvent: async (event: BotEvent) => (calls.push("confirm"), event),
    getPermission: async (_repo: unknown, user: string) => (calls.push(`permission ${user}`), permissions[user] ?? "none"),
    reactToComment: async () => void calls.push("react"),
    createComment: async (_repo: unknown, _pr: number, body: string) => (calls.push(`reply ${body}`), { id: "1" }),
    getPull: async () => PR,
  } as unknown as CodeHost;
}

function deps(codeHost: CodeHost): DispatcherDeps {
  return {
    store,
    hosts: new HostRouter({ gitee: codeHost }),
    scheduler: { stopActive: async () => void calls.push("stop"), kick: () => {} } as unknown as DispatcherDeps["scheduler"],
    publisher: { request: () => {} } as unknown as DispatcherDeps["publisher"],
    loadConfig: async () => ({ kind: "missing", path: ".gitee/berth.yml" }),
    enabledTargets: ["docker"],
    targets: {},
    wake: () => void calls.push("wake"),
    reportStatus: async () => void calls.push("status"),
    log: pino({ level: "silent" }),
    now: () => 1,
    newId: () => "id",
  };
}

function cancel(author: string, via?: { kind: "dashboard"; admin: boolean }): BotEvent {
  return { kind: "pr-comment", deliveryId: `d-${author}`, repo: REPO, prNumber: 5, commentId: via ? "" : "77", author, body: "/cancel", ...(via ? { via } : {}) };
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "berth-dispatch-dash-"));
  store = SqliteStore.open(dir);
  calls.length = 0;
});
afterEach(async () => {
  await store.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("dashboard commands in the dispatcher", () => {
  it("are neither confirmed nor reacted to; the user's permission is still the host's", async () => {
    await dispatchEvent(cancel("alice", { kind: "dashboard", admin: false }), deps(host({ alice: "write" })));
    expect(calls).toEqual(["permission alice", "reply Nothing of this PR is queued or running; there is nothing to cancel."]);
    calls.length = 0;
    await dispatchEvent(cancel("bob", { kind: "dashboard", admin: false }), deps(host({ bob: "read" })));
    expect(calls).toEqual(["permission bob", "reply `/cancel` needs write permission on this repository; @bob has read. Nothing was run."]);
  });

  it("from the admin act as admin without asking the host", async () => {
    await dispatchEvent(cancel("berth-dashboard-admin", { kind: "dashboard", admin: true }), deps(host({})));
    expect(calls).toEqual(["reply Nothing of this PR is queued or running; there is nothing to cancel."]);
  });

  it("leave ordinary comments as they were: confirmed, permission, reaction", async () => {
    await dispatchEvent(cancel("alice"), deps(host({ alice: "write" })));
    expect(calls).toEqual(["confirm", "permission alice", "react", "reply Nothing of this PR is queued or running; there is nothing to cancel."]);
  });
});
