/**
 * Code host writes are off the critical path, against a GitHub that allows one write a second per
 * installation (as GitHub asks of integrators) and refuses more like its secondary rate limit.
 * Five PRs of one installation are opened at once on the real Docker engine and registry: the
 * stages run back to back while the writes drain for much longer; the fake never let more writes
 * through than its limit; and once drained every PR has one status comment showing its last state
 * and every stage's commit status is its final result.
 */
import { randomBytes } from "node:crypto";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDockerClient } from "../../src/adapters/docker/docker-client.js";
import { DockerImageBuilder } from "../../src/adapters/docker/image-builder.js";
import { DistributionClient } from "../../src/adapters/registry/distribution-client.js";
import { DistributionCleaner } from "../../src/adapters/registry/distribution-cleaner.js";
import { createRedactor } from "../../src/domain/redact.js";
import { prKeyOf, type RunRecord, type StageRecord } from "../../src/domain/records.js";
import { buildStatusView } from "../../src/pipeline/status-view.js";
import { renderStatusComment, STATUS_MARKER } from "../../src/render/status-comment.js";
import { DockerTarget } from "../../src/targets/docker-target.js";
import { FakeGitHubApi } from "../fakes/github-api.js";
import { pullRequestPayload } from "../helpers/github-payloads.js";
import { createHarness, type Harness } from "../helpers/probot-harness.js";
import { sampleRepoConfig, sampleSource } from "../helpers/sample-app.js";
import { requireServices } from "../helpers/services.js";

const services = requireServices();
const docker = createDockerClient(services.dockerHost);
const redact = createRedactor([]);
const log = pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" });
const PER_SECOND = 1;
const github = new FakeGitHubApi({ writeLimit: { perSecond: PER_SECOND } });
/** Unique per run: the engine and registry are shared with other test files. */
const suffix = randomBytes(3).toString("hex");
const OWNER = "acme-wl";
const REPO = `${OWNER}/shop-${suffix}`;
const NAMESPACE = `berth-wl-${suffix}`;
const PRS = [1, 2, 3, 4, 5];
let harness: Harness;

function shaOf(pr: number): string {
  return `${suffix}${pr.toString(16)}`.repeat(40).slice(0, 40);
}

beforeAll(async () => {
  await github.start();
  harness = await createHarness({
    baseUrl: github.url,
    registry: `${services.registry}/${NAMESPACE}`,
    commentIntervalMs: 2000, // berth's default
    builder: new DockerImageBuilder({ docker, log, redact }),
    target: new DockerTarget({ docker, previewHost: "127.0.0.1", log, redact }),
    registryCleaner: new DistributionCleaner({ client: new DistributionClient({ host: services.registry, log }), log }),
    // Every PR runs at once: the only thing they share is the installation's write limit.
    engine: { concurrency: PRS.length },
  });
});

afterAll(async () => {
  // Closing removes previews, networks and images through berth; whatever is left goes by label.
  if (harness) {
    await Promise.all(PRS.map((pr) => harness.probot.receive({ id: `wl-close-${suffix}-${pr}`, name: "pull_request", payload: pullRequestPayload({ action: "closed", repo: REPO, prNumber: pr, headSha: shaOf(pr) }) } as never)));
    await harness.engine.idle();
    await harness.close();
  }
  await github.stop();
  const left = await docker.listContainers({ all: true, filters: { label: [`berth.repo=${REPO}`] } });
  await Promise.all(left.map((c) => docker.getContainer(c.Id).remove({ force: true })));
}, 120_000);

/** Time between one stage's end and the next one's start, from the store's stage timestamps. */
function gapsOf(stages: StageRecord[]): number[] {
  const byName = new Map(stages.map((s) => [s.name, s]));
  const order = ["build", "deploy", "test"].map((name) => byName.get(name as StageRecord["name"]));
  const gaps: number[] = [];
  for (let i = 1; i < order.length; i++) {
    const before = order[i - 1];
    const after = order[i];
    if (before?.finishedAt === undefined || after?.startedAt === undefined) throw new Error(`stage without timestamps: ${JSON.stringify(order)}`);
    gaps.push(after.startedAt - before.finishedAt);
  }
  return gaps;
}

describe("five PRs of one installation against a write-limited GitHub", () => {
  it("runs the stages without waiting for writes, never exceeds the limit, and lands every final state", { timeout: 420_000 }, async () => {
    const fake = github.repo(REPO);
    fake.config = sampleRepoConfig("ok");
    for (const pr of PRS) fake.tarballs.set(shaOf(pr), (await sampleSource({ variant: "ok", marker: `write-limit-${suffix}-${pr}`, busybox: services.busybox })).data);

    const opened = Date.now();
    await Promise.all(PRS.map((pr) => harness.probot.receive({ id: `wl-open-${suffix}-${pr}`, name: "pull_request", payload: pullRequestPayload({ action: "opened", repo: REPO, prNumber: pr, headSha: shaOf(pr) }) } as never)));
    await harness.engine.drained(360_000);
    const drainedAt = Date.now();

    const repo = { host: "github" as const, owner: OWNER, name: `shop-${suffix}` };
    const runs = new Map<number, RunRecord>();
    const gaps: number[] = [];
    for (const pr of PRS) {
      const run = (await harness.store.latestPipelineRuns(prKeyOf(repo, pr), 1))[0];
      const stages = run ? await harness.store.stagesOf(run.id) : [];
      expect(run?.status, `PR #${pr}: ${stages.map((s) => `${s.name}=${s.state} ${s.detail.reason ?? ""}`).join("; ")}`).toBe("passed");
      runs.set(pr, run!);
      gaps.push(...gapsOf(stages));
    }

    // The writes of each PR: its statuses, its comment's creation and edits (accepted ones).
    const commentIssue = new Map([...github.comments.values()].map((c) => [String(c.id), Number(c.issue.split("#")[1])]));
    const prOfWrite = (path: string): number | undefined => {
      const rest = path.slice(`/repos/${REPO}/`.length);
      const status = /^statuses\/([0-9a-f]{40})$/.exec(rest);
      if (status) return PRS.find((pr) => shaOf(pr) === status[1]);
      const created = /^issues\/(\d+)\/comments$/.exec(rest);
      if (created) return Number(created[1]);
      const edited = /^issues\/comments\/(\d+)$/.exec(rest);
      return edited ? commentIssue.get(edited[1]!) : undefined;
    };
    const accepted = github.writes.filter((w) => w.accepted && w.path.startsWith(`/repos/${REPO}/`));
    const times = accepted.map((w) => w.at);
    const firstWrite = Math.min(...times);
    const lastWrite = Math.max(...times);
    const writeDrainMs = lastWrite - firstWrite;
    const sumOfGaps = gaps.reduce((a, b) => a + b, 0);
    const lastRunFinished = Math.max(...[...runs.values()].map((r) => r.finishedAt ?? Infinity));
    const medianRunMs = [...runs.values()].map((r) => (r.finishedAt ?? 0) - r.createdAt).sort((a, b) => a - b)[Math.floor(PRS.length / 2)]!;
    console.info(
      `write-limited GitHub (${PER_SECOND} write/s): ${PRS.length} PRs, ${github.acceptedWrites} writes accepted, ${github.refusedWrites} refused; ` +
        `writes drained over ${writeDrainMs} ms (last run finished ${lastWrite - lastRunFinished} ms before the last write); ` +
        `median run ${medianRunMs} ms; stage gaps ${gaps.join(", ")} ms (sum ${sumOfGaps} ms); opened→drained ${drainedAt - opened} ms`,
    );

    // (a) Stages did not wait for writes. Every run finished before its PR's last write landed…
    for (const [pr, run] of runs) {
      const last = Math.max(...accepted.filter((w) => prOfWrite(w.path) === pr).map((w) => w.at));
      expect(run.finishedAt, `PR #${pr}`).toBeLessThan(last);
    }
    // …no gap between two stages is as long as one write's turn (had a stage awaited a write, it would be)…
    const perWriteMs = writeDrainMs / (accepted.length - 1);
    for (const gap of gaps) expect(gap).toBeLessThan(perWriteMs);
    // …and all the gaps together are a small part of the time the writes took.
    expect(sumOfGaps).toBeLessThan(writeDrainMs * 0.1);
    expect(lastRunFinished).toBeLessThan(lastWrite);

    // (b) The fake never let more than PER_SECOND writes through in any one-second window.
    const all = github.acceptedWriteTimes;
    for (const start of all) expect(all.filter((t) => t >= start && t < start + 1000).length).toBeLessThanOrEqual(PER_SECOND);

    // Paced after the first refusals, berth drained its backlog at the allowed rate instead of
    // hammering: refusals are about the first burst (one per writer), far from one per write.
    expect(github.refusedWrites).toBeLessThan(github.acceptedWrites / 2);

    // (c) Drained: one status comment per PR showing exactly what the store says now…
    for (const pr of PRS) {
      const bodies = github.commentsOf(REPO, pr).filter((b) => b.includes(STATUS_MARKER));
      expect(bodies, `PR #${pr}`).toHaveLength(1);
      const view = await buildStatusView(harness.store, prKeyOf(repo, pr), harness.engine.reportBaseUrl);
      expect(bodies[0]).toBe(renderStatusComment(view!));
      expect(bodies[0]).toContain("| test | ✅ passed |");
    }
    // …and each stage's last commit status is its result: only pending before it, nothing after.
    for (const pr of PRS) {
      const states = new Map<string, string[]>();
      for (const s of github.statuses.filter((s) => s.repo === REPO && s.sha === shaOf(pr))) states.set(s.context, [...(states.get(s.context) ?? []), s.state]);
      expect([...states.keys()].sort(), `PR #${pr}`).toEqual(["berth/build", "berth/deploy", "berth/test"]);
      for (const [context, list] of states) {
        expect(list.at(-1), `PR #${pr} ${context}`).toBe("success");
        expect(list.slice(0, -1).every((state) => state === "pending"), `PR #${pr} ${context}: ${list.join(", ")}`).toBe(true);
      }
    }
    expect(await harness.store.outboxStatuses()).toEqual([]);
  });
});
