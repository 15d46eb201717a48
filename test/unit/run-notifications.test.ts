/**
 * Which run events are chat events and what their messages say, pure: a preview deployed, an
 * environment deployed (tag flow, no PR), a preview removed, a failed run with its failing stage,
 * tests and links; nothing else.
 */
import { describe, expect, it } from "vitest";
import { parseRepoConfig } from "../../src/config/repo-config.js";
import type { PullRecord, RunRecord, StageRecord } from "../../src/domain/records.js";
import { channelsFor, messageOf, notifyEventOf } from "../../src/notify/run-notifications.js";
import type { RunEvent } from "../../src/pipeline/run-events.js";

const REPO = { host: "gitee" as const, owner: "acme", name: "shop", defaultBranch: "master", htmlUrl: "https://gitee.com/acme/shop" };
const SHA = "abcdef0123456789abcdef0123456789abcdef01";
const BASE = "https://berth.example.com/reports";

const run = (extra: Partial<RunRecord> = {}): RunRecord => ({
  id: "r1",
  prKey: "gitee:acme/shop#4",
  repo: REPO,
  prNumber: 4,
  sha: SHA,
  kind: "pipeline",
  plan: ["build", "deploy"],
  trigger: "push",
  status: "running",
  reuseImage: false,
  attempts: 0,
  createdAt: 1,
  ...extra,
});

const pull: PullRecord = { prKey: "gitee:acme/shop#4", repo: REPO, prNumber: 4, headSha: SHA, state: "open", fromFork: false, url: "https://gitee.com/acme/shop/pulls/4", title: "优化 购物车", headRef: "feat/cart" };

describe("run events as chat events", () => {
  it("tells a deployed preview, with the PR's title, branch and link", () => {
    const event: RunEvent = { type: "stage-finished", run: run(), stage: "deploy", ok: true, detail: { logId: "l1" }, facts: { preview: { target: "docker", url: "http://127.0.0.1:41000/", internalUrl: "http://preview-4:8080" } }, at: 2 };
    expect(notifyEventOf(event)).toBe("preview-ready");
    expect(messageOf("preview-ready", event, { pull, reportBaseUrl: BASE })).toEqual({
      event: "preview-ready",
      repo: "acme/shop",
      repoUrl: "https://gitee.com/acme/shop",
      pr: { number: 4, url: "https://gitee.com/acme/shop/pulls/4", title: "优化 购物车", branch: "feat/cart" },
      sha: SHA,
      headline: "Preview ready",
      previewUrl: "http://127.0.0.1:41000/",
      logUrl: "https://berth.example.com/reports/logs/l1",
      failingTests: [],
    });
  });

  it("tells an environment deployed by a tag, without a PR", () => {
    const release = run({ prNumber: 0, prKey: "gitee:acme/shop@production", kind: "release", release: { tag: "v1.2.0", environment: "production" } });
    const environment = { key: "gitee:acme/shop@production", repo: REPO, environment: "production", tag: "v1.2.0", sha: SHA, image: { ref: "r/x:v1.2.0", digest: "sha256:1", pushed: true }, url: "https://shop.example.com", target: "kubernetes" as const };
    const event: RunEvent = { type: "stage-finished", run: release, stage: "deploy", ok: true, detail: {}, facts: { environment }, at: 2 };
    expect(notifyEventOf(event)).toBe("environment-deployed");
    const message = messageOf("environment-deployed", event, { reportBaseUrl: BASE });
    expect(message.pr).toBeUndefined();
    expect(message).toMatchObject({ headline: "Deployed to production", environment: { name: "production", tag: "v1.2.0", url: "https://shop.example.com" } });
  });

  it("tells a removed preview, and a failed run with its failing stage, tests and links", () => {
    const removed: RunEvent = { type: "stage-finished", run: run({ kind: "delete", plan: ["delete"] }), stage: "delete", ok: true, detail: { reason: "the PR was closed" }, facts: { previewRemoved: true }, at: 2 };
    expect(notifyEventOf(removed)).toBe("preview-removed");
    expect(messageOf("preview-removed", removed, { reportBaseUrl: BASE })).toMatchObject({ headline: "Preview removed", reason: "the PR was closed" });

    const stages: StageRecord[] = [
      { runId: "r1", name: "build", state: "passed", detail: {} },
      { runId: "r1", name: "deploy", state: "passed", detail: {} },
      {
        runId: "r1",
        name: "test",
        state: "failed",
        detail: {
          logId: "l3",
          tests: { total: 9, passed: 1, failed: 8, skipped: 0, reportId: "rep", exitCode: 1, timedOut: false, firstFailures: Array.from({ length: 8 }, (_, i) => ({ name: `t${i}`, message: "no" })) },
        },
      },
    ];
    const failed: RunEvent = { type: "run-finished", run: run(), status: "failed", reason: "test failed", at: 3 };
    expect(notifyEventOf(failed)).toBe("failed");
    const message = messageOf("failed", failed, { pull: { ...pull, preview: { target: "docker", sha: SHA, url: "http://p/", internalUrl: "http://i/", runId: "r1", deployedAt: 2 } }, stages, reportBaseUrl: BASE });
    expect(message).toMatchObject({
      headline: "Pipeline failed at test",
      reason: "test failed",
      tests: { passed: 1, failed: 8, skipped: 0 },
      reportUrl: "https://berth.example.com/reports/rep",
      logUrl: "https://berth.example.com/reports/logs/l3",
      previewUrl: "http://p/",
    });
    expect(message.failingTests.map((t) => t.name)).toEqual(["t0", "t1", "t2", "t3", "t4"]);
  });

  it("ignores passing runs, cancelled and superseded runs, failed stages and stages without facts", () => {
    const r = run();
    expect(notifyEventOf({ type: "run-finished", run: r, status: "passed", at: 1 })).toBeUndefined();
    expect(notifyEventOf({ type: "run-finished", run: r, status: "superseded", at: 1 })).toBeUndefined();
    expect(notifyEventOf({ type: "run-finished", run: r, status: "cancelled", at: 1 })).toBeUndefined();
    expect(notifyEventOf({ type: "stage-finished", run: r, stage: "build", ok: true, detail: {}, facts: {}, at: 1 })).toBeUndefined();
    expect(notifyEventOf({ type: "stage-finished", run: r, stage: "deploy", ok: false, detail: {}, facts: {}, at: 1 })).toBeUndefined();
    expect(notifyEventOf({ type: "run-started", run: r, at: 1 })).toBeUndefined();
  });

  it("lists each channel a config names for an event once", () => {
    const parsed = parseRepoConfig("notify:\n  - channel: a\n    on: [failed]\n  - channel: b\n    on: [preview-ready]\n  - channel: a\n    on: [failed, preview-ready]\n");
    const config = parsed.ok ? parsed.config : undefined;
    expect(channelsFor(config, "failed")).toEqual(["a"]);
    expect(channelsFor(config, "preview-ready")).toEqual(["b", "a"]);
    expect(channelsFor(undefined, "failed")).toEqual([]);
  });
});
