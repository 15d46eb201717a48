/**
 * Benchmark: many PRs of one installation against a GitHub that allows one write a second (as
 * GitHub asks of integrators; the fake refuses more like its secondary rate limit). One PR alone,
 * then 20 opened at once, through the real engine, Docker and registry. Prints pipeline wall times
 * (webhook → run finished, from the store), the time stages spent between one another (where a
 * stage awaiting a code host write would show), the writes and how long they took to drain; and,
 * as a control, the same 20 PRs against a GitHub without the limit (what the engine alone costs).
 * Asserts nothing. Needs the integration services:
 *
 *   bash scripts/services.sh start
 *   npm run bench:many-prs
 */
import { randomBytes } from "node:crypto";
import { pino } from "pino";
import { createDockerClient } from "../src/adapters/docker/docker-client.js";
import { DockerImageBuilder } from "../src/adapters/docker/image-builder.js";
import { DistributionClient } from "../src/adapters/registry/distribution-client.js";
import { DistributionCleaner } from "../src/adapters/registry/distribution-cleaner.js";
import { createRedactor } from "../src/domain/redact.js";
import { prKeyOf, type RunRecord } from "../src/domain/records.js";
import { DockerTarget } from "../src/targets/docker-target.js";
import { FakeGitHubApi } from "../test/fakes/github-api.js";
import { pullRequestPayload } from "../test/helpers/github-payloads.js";
import { createHarness, type Harness } from "../test/helpers/probot-harness.js";
import { sampleRepoConfig, sampleSource } from "../test/helpers/sample-app.js";
import { requireServices, type TestServices } from "../test/helpers/services.js";
import { median, secs } from "./stats.js";

const MANY = 20;
const PER_SECOND = 1;
const DRAIN_TIMEOUT_MS = 20 * 60_000;

let services: TestServices;
try {
  services = requireServices();
} catch (err) {
  console.error(`bench:many-prs: ${(err as Error).message}`);
  process.exit(1);
}
const { dockerHost, registry, busybox } = services;
const suffix = randomBytes(3).toString("hex");
const OWNER = "bench-many";
const NAME = `shop-${suffix}`;
const REPO = `${OWNER}/${NAME}`;
const NAMESPACE = `berth-bench-many-${suffix}`;
const repoRef = { host: "github" as const, owner: OWNER, name: NAME };

const engineClient = createDockerClient(dockerHost);
const log = pino({ level: process.env.BENCH_LOG_LEVEL ?? "silent" });
const redact = createRedactor([]);
const github = new FakeGitHubApi({ writeLimit: { perSecond: PER_SECOND } });
let harness: Harness | undefined;
const opened: number[] = [];

function shaOf(pr: number): string {
  return `${suffix}${pr.toString(16).padStart(3, "0")}`.repeat(40).slice(0, 40);
}

interface Batch {
  /** Webhook received → run finished, per PR (ms). */
  wallMs: number[];
  /** Run queued → run started, per PR (ms). */
  queuedMs: number[];
  /** Sum over the PRs of the time between one stage's end and the next one's start (ms). */
  gapsMs: number;
  accepted: number;
  refused: number;
  /** Last run finished → last accepted write (ms). */
  lastRunToLastWriteMs: number;
  /** First → last accepted write of the batch (ms). */
  writeDrainMs: number;
  /** Opened → `engine.drained()` (ms). */
  drainedMs: number;
  /** Each stage's duration per PR (ms). */
  stageMs: Record<string, number[]>;
  /** The batch's writes, relative to the webhook (ms). */
  writes: Array<{ what: string; atMs: number; accepted: boolean }>;
}

/** Open `prs` at once, wait until every write has landed, and read the runs back from the store. */
async function batch(prs: number[]): Promise<Batch> {
  const h = harness!;
  const fake = github.repo(REPO);
  for (const pr of prs) fake.tarballs.set(shaOf(pr), (await sampleSource({ variant: "ok", marker: `bench-many-${suffix}-${pr}`, busybox })).data);
  const writesBefore = github.writes.length;
  const received = Date.now();
  await Promise.all(prs.map((pr) => h.probot.receive({ id: `bench-many-open-${suffix}-${pr}`, name: "pull_request", payload: pullRequestPayload({ action: "opened", repo: REPO, prNumber: pr, headSha: shaOf(pr) }) } as never)));
  opened.push(...prs);
  await h.engine.drained(DRAIN_TIMEOUT_MS);
  const drainedMs = Date.now() - received;

  const runs: RunRecord[] = [];
  let gapsMs = 0;
  const stageMs: Record<string, number[]> = {};
  for (const pr of prs) {
    const run = (await h.store.latestPipelineRuns(prKeyOf(repoRef, pr), 1))[0];
    const stages = run ? await h.store.stagesOf(run.id) : [];
    if (!run || run.status !== "passed") throw new Error(`PR #${pr}: run ${run?.status ?? "missing"}: ${stages.map((s) => `${s.name}=${s.state} ${s.detail.reason ?? ""}`).join("; ")}`);
    runs.push(run);
    for (let i = 1; i < stages.length; i++) gapsMs += (stages[i]!.startedAt ?? 0) - (stages[i - 1]!.finishedAt ?? 0);
    for (const s of stages) (stageMs[s.name] ??= []).push((s.finishedAt ?? 0) - (s.startedAt ?? 0));
  }
  const writes = github.writes.slice(writesBefore);
  const acceptedAt = writes.filter((w) => w.accepted).map((w) => w.at);
  const lastRun = Math.max(...runs.map((r) => r.finishedAt ?? 0));
  return {
    wallMs: runs.map((r) => (r.finishedAt ?? 0) - received),
    queuedMs: runs.map((r) => (r.startedAt ?? r.createdAt) - r.createdAt),
    gapsMs,
    accepted: acceptedAt.length,
    refused: writes.length - acceptedAt.length,
    lastRunToLastWriteMs: Math.max(...acceptedAt) - lastRun,
    writeDrainMs: Math.max(...acceptedAt) - Math.min(...acceptedAt),
    drainedMs,
    stageMs,
    writes: writes.map((w) => ({ what: `${w.method} ${w.path.slice(`/repos/${REPO}/`.length).replace(/[0-9a-f]{40}$/, "<sha>")}`, atMs: w.at - received, accepted: w.accepted })),
  };
}

/** Median duration of each stage, e.g. `build 0.61 s, deploy 0.52 s, test 0.30 s`. */
function stageMedians(b: Batch): string {
  return Object.entries(b.stageMs).map(([name, ms]) => `${name} ${secs(median(ms))}`).join(", ");
}

/** Close `prs` and wait until berth removed their previews and images. */
async function close(prs: number[]): Promise<void> {
  const h = harness!;
  await Promise.all(prs.map((pr) => h.probot.receive({ id: `bench-many-close-${suffix}-${pr}`, name: "pull_request", payload: pullRequestPayload({ action: "closed", repo: REPO, prNumber: pr, headSha: shaOf(pr) }) } as never)));
  await h.engine.drained(DRAIN_TIMEOUT_MS);
  for (const pr of prs) opened.splice(opened.indexOf(pr), 1);
}


async function cleanup(): Promise<void> {
  if (harness && opened.length) {
    await Promise.all(opened.map((pr) => harness!.probot.receive({ id: `bench-many-cleanup-${suffix}-${pr}`, name: "pull_request", payload: pullRequestPayload({ action: "closed", repo: REPO, prNumber: pr, headSha: shaOf(pr) }) } as never).catch(() => undefined)));
    await harness.engine.idle().catch(() => undefined);
  }
  await harness?.close().catch((err: unknown) => console.error(`cleanup: harness: ${(err as Error).message}`));
  await github.stop().catch(() => undefined);
  const left = await engineClient.listContainers({ all: true, filters: { label: [`berth.repo=${REPO}`] } }).catch(() => []);
  await Promise.all(left.map((c) => engineClient.getContainer(c.Id).remove({ force: true }).catch(() => undefined)));
  const images = await engineClient.listImages({ filters: JSON.stringify({ reference: [`${registry}/${NAMESPACE}/*`] }) }).catch(() => []);
  for (const tag of images.flatMap((i) => i.RepoTags ?? [])) await engineClient.getImage(tag).remove({ force: true }).catch(() => undefined);
}

/** A berth on the fake GitHub, the real engine and registry, with a fresh store (and so a fresh pacer). */
function openHarness(): Promise<Harness> {
  return createHarness({
    baseUrl: github.url,
    registry: `${registry}/${NAMESPACE}`,
    commentIntervalMs: 2000, // berth's default BERTH_COMMENT_INTERVAL_MS
    builder: new DockerImageBuilder({ docker: engineClient, log, redact }),
    target: new DockerTarget({ docker: engineClient, previewHost: "127.0.0.1", log, redact }),
    registryCleaner: new DistributionCleaner({ client: new DistributionClient({ host: registry, log }), log }),
    // Every PR runs at once: what they share is the engine and the installation's write limit.
    engine: { concurrency: MANY },
  });
}

async function main(): Promise<void> {
  await engineClient.ping().catch((err: unknown) => {
    throw new Error(`the test engine at ${dockerHost} does not answer (${(err as Error).message.split("\n")[0]}): run \`bash scripts/services.sh start\``);
  });
  await github.start();
  github.repo(REPO).config = sampleRepoConfig("ok");
  harness = await openHarness();

  console.log(`pipeline: build → push → preview healthy → tests; engine ${dockerHost}, registry ${registry}`);
  console.log(`fake GitHub: ${PER_SECOND} write/s per installation, more refused with 403 "secondary rate limit" + retry-after`);
  console.log("wall time: webhook received → run finished (store); writes: accepted statuses and comment creates/edits\n");

  // Warm-up (not counted): the busybox layers, the registry repository, module loading.
  const warm = await batch([1]);
  await close([1]);
  console.log(`warm-up (not counted): ${secs(warm.wallMs[0]!)}, ${warm.accepted} writes\n`);

  const one = await batch([2]);
  await close([2]);
  const oneMs = one.wallMs[0]!;
  console.log(`one PR alone: ${secs(oneMs)} wall (${stageMedians(one)}); stage gaps ${one.gapsMs} ms; ${one.accepted} writes accepted, ${one.refused} refused; last write ${secs(one.lastRunToLastWriteMs)} after the run finished`);
  console.log(`  its writes: ${one.writes.map((w) => `${w.what} +${secs(w.atMs)}${w.accepted ? "" : " (refused)"}`).join(", ")}`);

  const prs = Array.from({ length: MANY }, (_, i) => 100 + i);
  const many = await batch(prs);
  const med = median(many.wallMs);
  const max = Math.max(...many.wallMs);
  console.log(`\n${MANY} PRs at once (concurrency ${MANY}), ${PER_SECOND} write/s:`);
  console.log(`  pipeline wall time: median ${secs(med)}, max ${secs(max)}; median/one PR = ${(med / oneMs).toFixed(2)}×, max/one PR = ${(max / oneMs).toFixed(2)}×`);
  console.log(`  median stage durations: ${stageMedians(many)}`);
  console.log(`  queued → started: median ${median(many.queuedMs)} ms, max ${Math.max(...many.queuedMs)} ms`);
  console.log(`  time stages spent between stages, all ${MANY} runs together: ${many.gapsMs} ms (goal 0: no stage awaits a code host write)`);
  console.log(`  writes: ${many.accepted} accepted, ${many.refused} refused; ${(many.accepted / MANY).toFixed(1)} accepted writes per pipeline`);
  console.log(`  writes drained over ${secs(many.writeDrainMs)} (first → last accepted); last run finished → last write landed: ${secs(many.lastRunToLastWriteMs)}; opened → drained ${secs(many.drainedMs)}`);
  await close(prs);

  // Control: the same load without the write limit, so what is left of the slowdown is the engine's.
  // A new berth: the old one still paces its writes (it cannot know the limit went).
  await harness!.close();
  harness = await openHarness();
  github.writeLimit = undefined;
  const control = await batch(prs.map((pr) => pr + MANY));
  github.writeLimit = { perSecond: PER_SECOND };
  const controlMed = median(control.wallMs);
  console.log(`\ncontrol: ${MANY} PRs at once, no write limit:`);
  console.log(`  pipeline wall time: median ${secs(controlMed)}, max ${secs(Math.max(...control.wallMs))}; median/one PR = ${(controlMed / oneMs).toFixed(2)}×`);
  console.log(`  median stage durations: ${stageMedians(control)}; stage gaps ${control.gapsMs} ms; ${control.accepted} writes; last run finished → last write landed: ${secs(control.lastRunToLastWriteMs)}`);
  console.log(`\nwrite-limited median / unlimited median = ${(med / controlMed).toFixed(2)}× (1.0: the write limit costs the pipelines nothing)`);
  await close(prs.map((pr) => pr + MANY));
}

let failed = false;
try {
  await main();
} catch (err) {
  failed = true;
  console.error(`bench:many-prs failed: ${(err as Error).stack ?? String(err)}`);
} finally {
  await cleanup();
}
process.exit(failed ? 1 : 0);
