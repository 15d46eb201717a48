/**
 * `/cancel` through the front door: a maintainer's comment stops the PR's running build (the run
 * and its stage end cancelled, saying who asked), a second `/cancel` has nothing left to stop and
 * says so, and a reader is refused like for every write command. No network: nock, and fail on
 * unused mocks.
 */
import nock from "nock";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { prKeyOf } from "../../src/domain/records.js";
import { deferred, FakeBuilder, FakeTarget } from "../fakes/fake-adapters.js";
import { mockGitHub } from "../helpers/github-nock.js";
import { prCommentPayload, pullRequestPayload } from "../helpers/github-payloads.js";
import { createHarness, type Harness } from "../helpers/probot-harness.js";

const CONFIG = "preview:\n  port: 8080\n  healthPath: /health\n";
const SHA = "1".repeat(40);
let harness: Harness | undefined;

beforeEach(() => {
  nock.disableNetConnect();
});

afterEach(async () => {
  await harness?.close();
  harness = undefined;
  const pending = nock.pendingMocks();
  nock.cleanAll();
  nock.enableNetConnect();
  expect(pending).toEqual([]);
});

describe("/cancel", () => {
  it("stops the running build of the PR, then has nothing left to cancel; a reader is refused", async () => {
    const opened = pullRequestPayload({ action: "opened", headSha: SHA });
    const github = mockGitHub({ config: CONFIG, permissions: { maintainer: "write", reader: "read" }, pull: opened.pull_request, endpoints: ["token", "config", "tarball", "listComments", "createComment", "editComment", "status", "permission", "reaction", "pull"] });
    const builder = new FakeBuilder();
    const gate = deferred();
    builder.gate = gate.promise;
    harness = await createHarness({ builder, target: new FakeTarget() });
    await harness.probot.receive({ id: "open-1", name: "pull_request", payload: opened } as never);
    while (builder.builds.length === 0) await new Promise((r) => setTimeout(r, 10));

    await harness.deliver("issue_comment", prCommentPayload("/cancel", { author: "maintainer" }));
    const prKey = prKeyOf({ host: "github", owner: opened.repository.owner.login, name: opened.repository.name }, opened.number);
    const run = (await harness.store.latestPipelineRuns(prKey, 1))[0]!;
    expect(run.status).toBe("cancelled");
    const build = (await harness.store.stagesOf(run.id)).find((s) => s.name === "build");
    expect(build?.state).toBe("cancelled");
    expect(build?.detail.reason).toBe("cancelled by /cancel from @maintainer");
    expect(github.calls.some((c) => c.path.endsWith("/reactions") && c.body.content === "eyes")).toBe(true);

    await harness.deliver("issue_comment", prCommentPayload("/cancel", { author: "maintainer" }));
    expect(github.replies().at(-1)).toBe("Nothing of this PR is queued or running; there is nothing to cancel.");

    await harness.deliver("issue_comment", prCommentPayload("/cancel", { author: "reader" }));
    expect(github.replies().at(-1)).toBe("`/cancel` needs write permission on this repository; @reader has read. Nothing was run.");
    gate.release();
  });
});
