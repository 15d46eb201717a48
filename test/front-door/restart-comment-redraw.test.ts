/**
 * A status comment edit lost to a crash is made at the next start: the state was recorded (the
 * journal wrote it) but berth died before the publisher wrote the comment. On start every open PR's
 * comment is rendered again and written only where its text changed.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import nock from "nock";
import { afterEach, beforeEach, expect, it } from "vitest";
import { createHash } from "node:crypto";
import type { RepoRef } from "../../src/domain/types.js";
import { prKeyOf } from "../../src/domain/records.js";
import { renderStatusComment } from "../../src/render/status-comment.js";
import { buildStatusView } from "../../src/pipeline/status-view.js";
import { SqliteStore } from "../../src/pipeline/store-sqlite.js";
import { FakeBuilder, FakeTarget } from "../fakes/fake-adapters.js";
import { mockGitHub } from "../helpers/github-nock.js";
import { INSTALLATION_ID } from "../helpers/github-payloads.js";
import { createHarness, type Harness } from "../helpers/probot-harness.js";

const REPO: RepoRef = { host: "github", owner: "Codertocat", name: "Hello-World", installationId: INSTALLATION_ID, defaultBranch: "master", htmlUrl: "https://github.com/Codertocat/Hello-World" };
const SHA = "5".repeat(40);

let dataDir: string;
let harness: Harness | undefined;

beforeEach(async () => {
  nock.disableNetConnect();
  dataDir = mkdtempSync(join(tmpdir(), "berth-redraw-"));
});

afterEach(async () => {
  await harness?.close();
  harness = undefined;
  rmSync(dataDir, { recursive: true, force: true });
  nock.cleanAll();
  nock.enableNetConnect();
});

it("edits the comment of an open PR whose recorded state the comment does not show yet, and leaves up-to-date and closed ones alone", async () => {
  const store = SqliteStore.open(dataDir);
  const pull = (prNumber: number, state: "open" | "closed", commentId: string) => ({
    prKey: prKeyOf(REPO, prNumber),
    repo: REPO,
    prNumber,
    headSha: SHA,
    state,
    fromFork: false,
    url: `https://github.com/Codertocat/Hello-World/pull/${prNumber}`,
    commentId,
    notice: { kind: "manual-deploy" as const, text: `state of PR ${prNumber} the comment must show` },
  });
  // PR 2: the state changed, the edit never happened (stale hash).
  await store.savePull({ ...pull(2, "open", "702"), commentHash: "stale" });
  // PR 3: its comment already shows what the store holds.
  const upToDate = pull(3, "open", "703");
  await store.savePull(upToDate);
  const view = await buildStatusView(store, upToDate.prKey, "https://berth.example.com/reports");
  await store.patchPull(upToDate.prKey, (p) => ({ ...p, commentHash: createHash("sha256").update(renderStatusComment(view!)).digest("hex") }));
  // PR 4: closed while its comment was stale: nothing to redraw on a closed PR.
  await store.savePull({ ...pull(4, "closed", "704"), commentHash: "stale" });
  await store.close();

  const github = mockGitHub({ config: null, endpoints: ["token", "editComment"] });
  harness = await createHarness({ builder: new FakeBuilder(), target: new FakeTarget(), dataDir });
  await harness.engine.idle();

  const edits = github.calls.filter((c) => c.method === "PATCH");
  expect(edits.map((c) => c.path)).toEqual(["/repos/Codertocat/Hello-World/issues/comments/702"]);
  expect(github.commentBodies()[0]).toContain("state of PR 2 the comment must show");
  expect((await harness.store.getPull(prKeyOf(REPO, 2)))?.commentHash).not.toBe("stale");
});
