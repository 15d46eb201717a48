/**
 * Benchmark: the same PR pipeline (build → push → preview healthy → tests in a one-shot container
 * on the preview's network → JUnit out) through berth and by hand with the docker CLI, on the same
 * engine and registry, in one run, as a ratio berth/cli (goal ≤ 1.1×). Prints numbers; asserts
 * nothing. Needs the integration services:
 *
 *   bash scripts/services.sh start
 *   npm run bench:pipeline
 */
import { execFile as execFileCallback } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { gunzipSync, gzipSync } from "node:zlib";
import { pino } from "pino";
import * as tar from "tar-stream";
import { parse as parseYaml } from "yaml";
import { createDockerClient } from "../src/adapters/docker/docker-client.js";
import { DockerImageBuilder } from "../src/adapters/docker/image-builder.js";
import { DistributionClient } from "../src/adapters/registry/distribution-client.js";
import { DistributionCleaner } from "../src/adapters/registry/distribution-cleaner.js";
import { createRedactor } from "../src/domain/redact.js";
import { prKeyOf } from "../src/domain/records.js";
import { DockerTarget } from "../src/targets/docker-target.js";
import { FakeGitHubApi } from "../test/fakes/github-api.js";
import { pullRequestPayload } from "../test/helpers/github-payloads.js";
import { createHarness, type Harness } from "../test/helpers/probot-harness.js";
import { SAMPLE_REPORT_PATH, sampleRepoConfig, sampleSource } from "../test/helpers/sample-app.js";
import { requireServices, type TestServices } from "../test/helpers/services.js";
import { median, secs } from "./stats.js";

const execFileAsync = promisify(execFileCallback);
const ROUNDS = 3;
const PAD_BYTES = 10 * 1024 * 1024;
const BENCH_LABEL = "berth.bench=pipeline-vs-cli";
const BERTH_REPO = "bench/pipeline";
const HEALTH_INTERVAL_MS = 500; // what berth's deploy uses between probes

let services: TestServices;
try {
  services = requireServices();
} catch (err) {
  console.error(`bench:pipeline: ${(err as Error).message}`);
  process.exit(1);
}
const { dockerHost, registry, busybox } = services;
const cliEnv = { ...process.env, DOCKER_HOST: dockerHost, DOCKER_BUILDKIT: "0" };

async function docker(...args: string[]): Promise<string> {
  const { stdout } = await execFileAsync("docker", args, { env: cliEnv, maxBuffer: 64 * 1024 * 1024 });
  return stdout.trim();
}

/** Best-effort clean-up step: never throws. */
async function quietly(...args: string[]): Promise<void> {
  await docker(...args).catch(() => undefined);
}

const config = parseYaml(sampleRepoConfig("ok")) as {
  build: { args: Record<string, string> };
  preview: { port: number; healthPath: string; env: Record<string, string> };
  test: { reports: string; command: string[] };
};

/** The sample app at one commit, padded with ~10 MB of random bytes under www/ (re-packed). */
async function paddedSource(marker: string, top: string): Promise<Buffer> {
  const source = await sampleSource({ variant: "ok", marker, busybox, topFolder: top });
  const extract = tar.extract();
  const pack = tar.pack();
  const done = new Promise<void>((resolve, reject) => {
    extract.on("entry", (header, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on("data", (c: unknown) => {
        chunks.push(c as Buffer);
      });
      stream.on("end", () => {
        pack.entry(header, Buffer.concat(chunks), next);
      });
      stream.on("error", reject);
    });
    extract.on("finish", () => {
      pack.entry({ name: `${top}/www/padding.bin`, mode: 0o644 }, randomBytes(PAD_BYTES));
      pack.finalize();
      resolve();
    });
    extract.on("error", reject);
  });
  extract.end(gunzipSync(source.data));
  const chunks: Buffer[] = [];
  const collected = (async () => {
    for await (const chunk of pack) chunks.push(chunk as Buffer);
  })();
  await done;
  await collected;
  return gzipSync(Buffer.concat(chunks));
}

// ---------------------------------------------------------------- by hand, with the docker CLI

const tempDirs: string[] = [];

async function cliPipeline(n: number, archive: Buffer, top: string): Promise<{ ms: number; cleanupMs: number }> {
  const dir = mkdtempSync(join(tmpdir(), "berth-bench-cli-"));
  tempDirs.push(dir);
  const image = `${registry}/bench-cli/app:${n}`;
  const network = `berth-bench-cli-${process.pid}-${n}`;
  const preview = `berth-bench-cli-app-${process.pid}-${n}`;
  const tester = `berth-bench-cli-test-${process.pid}-${n}`;
  const started = performance.now();
  try {
    writeFileSync(join(dir, "source.tar.gz"), archive);
    await execFileAsync("tar", ["-xzf", join(dir, "source.tar.gz"), "-C", dir]);
    const context = join(dir, top);
    const buildArgs = Object.entries(config.build.args).flatMap(([k, v]) => ["--build-arg", `${k}=${v}`]);
    await docker("build", "--label", BENCH_LABEL, ...buildArgs, "-t", image, context);
    await docker("push", image);
    await docker("network", "create", "--label", BENCH_LABEL, network);
    const env = Object.entries(config.preview.env).flatMap(([k, v]) => ["-e", `${k}=${v}`]);
    await docker("run", "-d", "--label", BENCH_LABEL, "--name", preview, "--network", network, ...env, "-p", `127.0.0.1::${config.preview.port}`, image);
    const mapping = await docker("port", preview, `${config.preview.port}/tcp`);
    const hostPort = /:(\d+)\s*$/m.exec(mapping.split("\n")[0] ?? "")?.[1];
    if (!hostPort) throw new Error(`no published port in ${JSON.stringify(mapping)}`);
    await waitHealthy(`http://127.0.0.1:${hostPort}${config.preview.healthPath}`, 30_000);
    const [program, ...args] = config.test.command;
    if (!program) throw new Error("empty test command");
    await docker(
      "run", "--label", BENCH_LABEL, "--name", tester, "--network", network,
      "-e", `PREVIEW_URL=http://${preview}:${config.preview.port}`, "-e", `BERTH_SHA=${n}`, "-e", `BERTH_PR=${n}`,
      "--entrypoint", program, image, ...args,
    );
    await docker("cp", `${tester}:${config.test.reports}`, join(dir, "reports"));
    await docker("rm", "-f", tester);
    const ms = performance.now() - started;
    const junit = join(dir, "reports", SAMPLE_REPORT_PATH.slice(config.test.reports.length));
    if (!existsSync(junit)) throw new Error(`cli: no JUnit file at ${junit}`);
    const cleanupStarted = performance.now();
    await docker("rm", "-f", preview);
    await docker("network", "rm", network);
    return { ms, cleanupMs: performance.now() - cleanupStarted };
  } finally {
    await quietly("rm", "-f", tester, preview);
    await quietly("network", "rm", network);
    rmSync(dir, { recursive: true, force: true });
  }
}

async function waitHealthy(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      await res.arrayBuffer();
      if (res.status < 500) return;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`cli: ${url} did not answer below 500 within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, HEALTH_INTERVAL_MS));
  }
}

// ---------------------------------------------------------------- through berth

const engineClient = createDockerClient(dockerHost);
const log = pino({ level: process.env.BENCH_LOG_LEVEL ?? "silent" });
const redact = createRedactor([]);
const github = new FakeGitHubApi();
let harness: Harness | undefined;

interface BerthRun {
  ms: number;
  apiCalls: number;
  stages: string;
}

async function berthPipeline(n: number, archive: Buffer): Promise<BerthRun> {
  const h = harness!;
  const sha = `${n.toString(16).padStart(2, "0")}`.repeat(20).slice(0, 40);
  const fake = github.repo(BERTH_REPO);
  fake.config = sampleRepoConfig("ok");
  fake.tarballs.set(sha, archive);
  const callsBefore = github.callsFor(BERTH_REPO).length;
  const tokensBefore = github.calls.filter((c) => c.path.includes("access_tokens")).length;

  const received = Date.now();
  const started = performance.now();
  await h.probot.receive({ id: `bench-open-${n}`, name: "pull_request", payload: pullRequestPayload({ action: "opened", repo: BERTH_REPO, prNumber: n, headSha: sha }) } as never);
  await h.engine.idle();
  const ms = performance.now() - started;
  const idleAt = Date.now();
  const apiCalls = github.callsFor(BERTH_REPO).length - callsBefore + github.calls.filter((c) => c.path.includes("access_tokens")).length - tokensBefore;

  const [owner, name] = BERTH_REPO.split("/") as [string, string];
  const run = (await h.store.latestPipelineRuns(prKeyOf({ host: "github", owner, name }, n), 1))[0];
  if (!run) throw new Error(`berth: no run recorded for PR #${n}`);
  const stages = await h.store.stagesOf(run.id);
  const failed = stages.filter((s) => s.state !== "passed");
  if (run.status !== "passed" || failed.length) {
    throw new Error(`berth: run ${run.status}: ${failed.map((s) => `${s.name}=${s.state} ${s.detail.reason ?? ""}`).join("; ")}`);
  }
  const parts = [`webhook→queued ${run.createdAt - received}`, `queued→started ${(run.startedAt ?? run.createdAt) - run.createdAt}`];
  let last = run.startedAt ?? run.createdAt;
  for (const s of stages) {
    parts.push(`gap ${(s.startedAt ?? last) - last}`, `${s.name} ${(s.finishedAt ?? 0) - (s.startedAt ?? 0)}`);
    last = s.finishedAt ?? last;
  }
  parts.push(`gap→run finished ${(run.finishedAt ?? last) - last}`, `run finished→idle ${idleAt - (run.finishedAt ?? last)}`);

  await h.probot.receive({ id: `bench-close-${n}`, name: "pull_request", payload: pullRequestPayload({ action: "closed", repo: BERTH_REPO, prNumber: n, headSha: sha }) } as never);
  await h.engine.idle();
  return { ms, apiCalls, stages: parts.join(" ms, ") + " ms" };
}

// ---------------------------------------------------------------- run


async function cleanup(): Promise<void> {
  await harness?.close().catch((err: unknown) => console.error(`cleanup: harness: ${(err as Error).message}`));
  await github.stop().catch(() => undefined);
  const ours = await docker("ps", "-aq", "--filter", `label=${BENCH_LABEL}`).catch(() => "");
  const berths = await docker("ps", "-aq", "--filter", `label=berth.repo=${BERTH_REPO}`).catch(() => "");
  const containers = `${ours}\n${berths}`.split("\n").filter(Boolean);
  if (containers.length) await quietly("rm", "-f", ...containers);
  const networks = (await docker("network", "ls", "-q", "--filter", `label=${BENCH_LABEL}`).catch(() => "")).split("\n").filter(Boolean);
  if (networks.length) await quietly("network", "rm", ...networks);
  const images = (await docker("images", "-q", "--filter", `label=${BENCH_LABEL}`).catch(() => "")).split("\n").filter(Boolean);
  const berthImages = (await docker("images", "--format", "{{.Repository}}:{{.Tag}}", "--filter", `reference=${registry}/berth-bench/*`).catch(() => "")).split("\n").filter(Boolean);
  if (images.length || berthImages.length) await quietly("rmi", "-f", ...new Set([...images, ...berthImages]));
  // The CLI's registry tags (berth's go with the PR's close).
  const distribution = new DistributionClient({ host: registry, log });
  // Each run's manifest is its own (its www layer differs), so deleting it by digest drops just that tag.
  const tags = await distribution.listTags("bench-cli/app").catch(() => [] as string[]);
  for (const tag of tags.filter((t) => /^\d+$/.test(t))) {
    const digest = await distribution.digestOf("bench-cli/app", tag).catch(() => null);
    if (digest) await distribution.deleteManifest("bench-cli/app", digest).catch(() => undefined);
  }
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
}

async function main(): Promise<void> {
  try {
    await docker("version", "--format", "{{.Server.Version}}");
  } catch (err) {
    throw new Error(`the test engine at ${dockerHost} does not answer (${(err as Error).message.split("\n")[0]}): run \`bash scripts/services.sh start\``);
  }
  await github.start();
  harness = await createHarness({
    baseUrl: github.url,
    registry: `${registry}/berth-bench`,
    commentIntervalMs: 2000, // berth's default BERTH_COMMENT_INTERVAL_MS
    builder: new DockerImageBuilder({ docker: engineClient, log, redact }),
    target: new DockerTarget({ docker: engineClient, previewHost: "127.0.0.1", log, redact }),
    registryCleaner: new DistributionCleaner({ client: new DistributionClient({ host: registry, log }), log }),
  });

  console.log(`pipeline: build → push → preview healthy → tests on the preview's network → JUnit out; engine ${dockerHost}, registry ${registry}`);
  console.log(`app: FROM scratch + busybox + ${PAD_BYTES / 1024 / 1024} MB random file under www/; a new marker and padding per run, so every run`);
  console.log("  rebuilds and pushes the www layer; the busybox layers come from the engine's layer cache for both ways alike.");
  console.log("cli: docker CLI, legacy builder (DOCKER_BUILDKIT=0, as berth's engine API build); timed up to the JUnit copied out, preview removal not timed");
  console.log("berth: pull_request.opened → engine idle (closing the PR afterwards is not timed)\n");

  // One warm-up of each way (not counted): primes the busybox layers, the registry repos, module loading.
  let n = 0;
  const next = async (): Promise<{ archive: Buffer; top: string; n: number }> => {
    n++;
    const top = `acme-bench-${n.toString(16).padStart(7, "0")}`;
    return { archive: await paddedSource(`bench-run-${n}-${randomBytes(4).toString("hex")}`, top), top, n };
  };
  const warmCli = await next();
  const warm = await cliPipeline(warmCli.n, warmCli.archive, warmCli.top);
  const warmBerth = await next();
  const warmB = await berthPipeline(warmBerth.n, warmBerth.archive);
  console.log(`warm-up (not counted): cli ${secs(warm.ms)}, berth ${secs(warmB.ms)}`);

  const cli: number[] = [];
  const cliCleanup: number[] = [];
  const berth: BerthRun[] = [];
  for (let round = 1; round <= ROUNDS; round++) {
    const a = await next();
    const c = await cliPipeline(a.n, a.archive, a.top);
    cli.push(c.ms);
    cliCleanup.push(c.cleanupMs);
    console.log(`round ${round}: cli   ${secs(c.ms)} (preview + network removal after it: ${secs(c.cleanupMs)})`);
    const b = await next();
    const r = await berthPipeline(b.n, b.archive);
    berth.push(r);
    console.log(`round ${round}: berth ${secs(r.ms)} (${r.apiCalls} GitHub API calls)`);
  }

  const cliMedian = median(cli);
  const berthMedian = median(berth.map((r) => r.ms));
  const lastBerth = berth.at(-1)!;
  console.log(`\nmedian of ${ROUNDS}: cli ${secs(cliMedian)}, berth ${secs(berthMedian)}`);
  console.log(`berth/cli = ${(berthMedian / cliMedian).toFixed(2)}× (goal ≤ 1.1×)`);
  console.log(`berth's last run, from the store: ${lastBerth.stages}`);
  console.log(`GitHub API calls of one berth pipeline (token included): ${lastBerth.apiCalls}`);
}

let failed = false;
try {
  await main();
} catch (err) {
  failed = true;
  console.error(`bench:pipeline failed: ${(err as Error).stack ?? String(err)}`);
} finally {
  await cleanup();
}
process.exit(failed ? 1 : 0);
