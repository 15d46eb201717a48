/**
 * DockerTarget against the real engine. The cases run in order and share one PR's preview: deploy,
 * replace, a failed replacement, tests against the preview, removal.
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { pino } from "pino";
import * as tar from "tar-stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDockerClient } from "../../src/adapters/docker/docker-client.js";
import { DockerImageBuilder } from "../../src/adapters/docker/image-builder.js";
import { parseRepoConfig, type PreviewConfig, type RepoConfig } from "../../src/config/repo-config.js";
import { CancelledError, type PreviewKey, type SourceArchive, type TestRequest } from "../../src/domain/ports.js";
import { repoPathOf } from "../../src/domain/preview-key.js";
import { createRedactor } from "../../src/domain/redact.js";
import { DockerTarget, dockerNetworkName } from "../../src/targets/docker-target.js";
import {
  SAMPLE_FAILURE_MESSAGE,
  SAMPLE_REPORT_PATH,
  SAMPLE_UNHEALTHY_LOG,
  sampleRepoConfig,
  sampleSource,
  type SampleVariant,
} from "../helpers/sample-app.js";
import { requireServices } from "../helpers/services.js";

const services = requireServices();
const docker = createDockerClient(services.dockerHost);
const log = pino({ level: "silent" });
const redact = createRedactor([]);
/** Every preview and test container of this file runs under these limits (BERTH_CONTAINER_LIMITS). */
const LIMITS = { memoryBytes: 256 * 1024 * 1024, nanoCpus: 5e8, pids: 128 };
const target = new DockerTarget({ docker, log, redact, limits: LIMITS });
const builder = new DockerImageBuilder({ docker, log, redact });

const suffix = randomBytes(3).toString("hex");
const imageLabel = { "berth.test": `docker-target-${suffix}` };
const repository = `berth-test/target-${suffix}`;
const key: PreviewKey = { host: "github", owner: "acme", name: `target-${suffix}`, pr: 7 };
const abortKey: PreviewKey = { host: "github", owner: "acme", name: `target-${suffix}`, pr: 8 };
/** The `berth.repo` label text of both keys, as berth has always written it. */
const repoLabel = `acme/target-${suffix}`;
const shaA = "a".repeat(40);
const shaB = "b".repeat(40);
const shaC = "c".repeat(40);
const markerA = `first-${suffix}`;
const markerB = `second-${suffix}`;
const never = new AbortController().signal;

function config(variant: SampleVariant): RepoConfig {
  const parsed = parseRepoConfig(sampleRepoConfig(variant));
  if (!parsed.ok) throw new Error(parsed.error);
  return parsed.config;
}

async function build(tag: string, source: SourceArchive): Promise<string> {
  const outcome = await builder.build({ source, context: ".", dockerfile: "Dockerfile", buildArgs: {}, labels: imageLabel, tag, signal: never });
  if (!outcome.ok) throw new Error(`${outcome.error}\n${outcome.logTail.join("\n")}`);
  return tag;
}

/** An image whose server exits at once (the fast-failure path of the health wait). */
async function crashingSource(): Promise<SourceArchive> {
  const pack = tar.pack();
  pack.entry({ name: "acme-crash-1234567/Dockerfile" }, 'FROM scratch\nCOPY busybox /bin/busybox\nCMD ["/bin/busybox", "sh", "-c", "echo cannot bind port >&2; exit 4"]\n');
  pack.entry({ name: "acme-crash-1234567/busybox", mode: 0o755 }, readFileSync(services.busybox));
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack) chunks.push(chunk as Buffer);
  return { format: "tar.gz", data: gzipSync(Buffer.concat(chunks)) };
}

/** A test run of image b against the PR's preview; each test says what differs. */
function testRequest(runId: string, command: string[], overrides: Partial<TestRequest> = {}): TestRequest {
  return { key, sha: shaB, runId, image: images.b, command, env: {}, reportsDir: "/reports", timeoutMs: 30_000, signal: never, ...overrides };
}

async function get(url: string): Promise<{ status: number; body: string }> {
  const response = await fetch(url, { signal: AbortSignal.timeout(5000) });
  return { status: response.status, body: await response.text() };
}

async function containersOf(k: PreviewKey, role?: string) {
  const label = [`berth.managed=true`, `berth.repo=${repoPathOf(k)}`, `berth.pr=${k.pr}`];
  if (role) label.push(`berth.role=${role}`);
  return docker.listContainers({ all: true, filters: { label } });
}

async function networksOf(k: PreviewKey) {
  return docker.listNetworks({ filters: { label: [`berth.repo=${repoPathOf(k)}`, `berth.pr=${k.pr}`] } });
}

const images = { a: "", b: "", unhealthy: "", crashing: "" };

beforeAll(async () => {
  images.a = await build(`${repository}:a`, await sampleSource({ variant: "ok", marker: markerA }));
  images.b = await build(`${repository}:b`, await sampleSource({ variant: "ok", marker: markerB }));
  images.unhealthy = await build(`${repository}:unhealthy`, await sampleSource({ variant: "unhealthy" }));
  images.crashing = await build(`${repository}:crashing`, await crashingSource());
});

afterAll(async () => {
  await target.remove(key);
  await target.remove(abortKey);
  const filters = { label: [`berth.test=${imageLabel["berth.test"]}`] };
  for (const image of await docker.listImages({ filters })) await docker.getImage(image.Id).remove({ force: true });
  expect(await docker.listImages({ all: true, filters })).toEqual([]);
  expect(await docker.listContainers({ all: true, filters: { label: [`berth.repo=${repoLabel}`] } })).toEqual([]);
  expect(await docker.listNetworks({ filters: { label: [`berth.repo=${repoLabel}`] } })).toEqual([]);
});

describe("DockerTarget (integration)", () => {
  const preview: PreviewConfig = config("ok").preview;
  let first: { url: string; internalUrl: string };
  let second: { url: string; internalUrl: string };

  it("deploys a labelled preview that answers with the marker on its URL", async () => {
    const lines: string[] = [];
    first = await target.deploy({ key, sha: shaA, runId: "run-a", image: images.a, preview, signal: never, onLog: (l) => lines.push(l) });
    expect(first.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    expect(first.internalUrl).toMatch(/^http:\/\/acme-target-[0-9a-f]{6}-[0-9a-f]{8}-pr-7-aaaaaaa-[0-9a-f]{6}:8080$/);
    const page = await get(first.url);
    expect(page.status).toBe(200);
    expect(page.body).toContain(markerA);

    const [container, ...others] = await containersOf(key, "preview");
    expect(others).toEqual([]);
    expect(container?.Labels).toMatchObject({
      "berth.managed": "true",
      "berth.host": "github",
      "berth.repo": repoLabel,
      "berth.pr": "7",
      "berth.sha": shaA,
      "berth.run": "run-a",
    });
    const info = await docker.getContainer(container?.Id ?? "").inspect();
    expect(info.Config.Env).toContain("SAMPLE_MODE=ok");
    expect(Object.keys(info.NetworkSettings.Networks)).toEqual([dockerNetworkName(key, "default")]);
    expect(info.HostConfig.RestartPolicy?.Name).toBe("unless-stopped");
    expect(info.HostConfig).toMatchObject({ Memory: LIMITS.memoryBytes, NanoCpus: LIMITS.nanoCpus, PidsLimit: LIMITS.pids, SecurityOpt: ["no-new-privileges"] });
    expect(lines.some((l) => l.startsWith("healthy after"))).toBe(true);
    await expect(target.list()).resolves.toContainEqual(key);
  });

  it("replaces the first preview with the deploy of a new commit", async () => {
    const lines: string[] = [];
    second = await target.deploy({ key, sha: shaB, runId: "run-b", image: images.b, preview, signal: never, onLog: (l) => lines.push(l) });
    expect(second.url).not.toBe(first.url);
    expect((await get(second.url)).body).toContain(markerB);
    const previews = await containersOf(key, "preview");
    expect(previews.map((c) => c.Labels["berth.sha"])).toEqual([shaB]);
    await expect(get(first.url)).rejects.toThrow();
    expect(lines.some((l) => l.startsWith("removed previous preview acme-target-"))).toBe(true);
  });

  it("fails an unhealthy deploy with the reason and its logs, and keeps the previous preview", async () => {
    const unhealthy = config("unhealthy").preview;
    const started = Date.now();
    const error = await target
      .deploy({ key, sha: shaC, runId: "run-c", image: images.unhealthy, preview: unhealthy, signal: never })
      .then(() => undefined, (err: unknown) => err as Error);
    expect(error).toBeInstanceOf(Error);
    const [reason, ...logLines] = (error?.message ?? "").split("\n");
    expect(reason).toBe("preview did not become healthy within 6s at /cgi-bin/health (last answer: HTTP 500)");
    expect(logLines).toContain(SAMPLE_UNHEALTHY_LOG);
    expect(logLines).toContain("health: answered 500 (database unreachable)");
    expect(Date.now() - started).toBeLessThan(15_000);

    const previews = await containersOf(key, "preview");
    expect(previews.map((c) => c.Labels["berth.sha"])).toEqual([shaB]);
    expect((await get(second.url)).body).toContain(markerB);
  });

  it("fails fast, with its output, when the preview's process exits", async () => {
    const started = Date.now();
    const slow = { ...preview, timeout: 60_000 };
    await expect(target.deploy({ key, sha: shaC, runId: "run-crash", image: images.crashing, preview: slow, signal: never })).rejects.toThrow(
      /^preview stopped before it became healthy \(exit code 4\)\ncannot bind port$/,
    );
    expect(Date.now() - started).toBeLessThan(10_000);
    expect((await containersOf(key, "preview")).map((c) => c.Labels["berth.sha"])).toEqual([shaB]);
  });

  it("runs the test command against the preview and collects its JUnit report", async () => {
    const test = config("ok").test;
    if (!test) throw new Error("the sample config has a test section");
    const result = await target.runTests(testRequest("run-b", test.command, { env: { PREVIEW_URL: second.internalUrl }, reportsDir: test.reports, timeoutMs: test.timeout }));
    expect(result, result.logTail.join("\n")).toMatchObject({ exitCode: 0, timedOut: false });
    expect(result.logTail).toEqual([`fetching ${second.internalUrl}`, "tests: 3, failures: 0, skipped: 1"]);
    expect(result.reports.map((r) => r.path)).toEqual([SAMPLE_REPORT_PATH]);
    expect(result.reports[0]?.content).toContain('<testsuite name="sample" tests="3" failures="0" errors="0" skipped="1">');
    expect(result.reports[0]?.content).toContain('name="home page shows the marker" time="0.01"/>');
    expect(await containersOf(key, "test")).toEqual([]);
  });

  it("runs test containers under the same limits", async () => {
    // cgroup v2 files first, cgroup v1 files otherwise: what the kernel enforces on the container.
    const script = "cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes; cat /sys/fs/cgroup/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids/pids.max";
    const result = await target.runTests(testRequest("run-limits", ["/bin/busybox", "sh", "-c", script]));
    expect(result.exitCode, result.logTail.join("\n")).toBe(0);
    expect(result.logTail).toEqual([String(LIMITS.memoryBytes), String(LIMITS.pids)]);
  });

  it("reports failing tests with the exit code and the failure in the report", async () => {
    const test = config("failing-tests").test;
    if (!test) throw new Error("the sample config has a test section");
    const result = await target.runTests(testRequest("run-b2", test.command, { env: { PREVIEW_URL: second.internalUrl }, reportsDir: test.reports, timeoutMs: test.timeout }));
    expect(result.exitCode).toBe(1);
    expect(result.timedOut).toBe(false);
    expect(result.logTail).toContain(`FAIL cart total includes tax: ${SAMPLE_FAILURE_MESSAGE}`);
    expect(result.reports[0]?.content).toContain(`<failure message="${SAMPLE_FAILURE_MESSAGE}">`);
    expect(await containersOf(key, "test")).toEqual([]);
  });

  it("names report files over the size limit instead of dropping them silently", async () => {
    const result = await target.runTests(
      testRequest("run-big-report", ["sh", "-c", "mkdir -p /reports && echo '<testsuite/>' > /reports/small.xml && head -c 9437184 /dev/zero > /reports/big.xml"], { reportsDir: "/reports" }),
    );
    expect(result.exitCode).toBe(0);
    expect(result.reports.map((r) => r.path)).toEqual(["/reports/small.xml"]);
    expect(result.reportsNotRead).toEqual(["/reports/big.xml (9 MiB, over 8 MiB per file)"]);
  });

  it("kills a test command that runs past its timeout; no reports directory is no reports", async () => {
    const started = Date.now();
    const result = await target.runTests(testRequest("run-sleepy", ["sh", "-c", "echo going to sleep; sleep 60"], { timeoutMs: 1500 }));
    expect(result).toEqual({ exitCode: null, timedOut: true, logTail: ["going to sleep"], reports: [] });
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(await containersOf(key, "test")).toEqual([]);
  });

  it("stops and removes a test container when the run is cancelled", async () => {
    const controller = new AbortController();
    const run = target.runTests({
      ...testRequest("run-cancelled-test", ["sh", "-c", "echo waiting; sleep 60"], { timeoutMs: 60_000 }),
      signal: controller.signal,
      onLog: (line) => {
        if (line === "waiting") controller.abort();
      },
    });
    await expect(run).rejects.toBeInstanceOf(CancelledError);
    expect(await containersOf(key, "test")).toEqual([]);
  });

  it("cleans up everything a deploy started when it is aborted mid-way", async () => {
    const controller = new AbortController();
    const slow = { ...config("unhealthy").preview, timeout: 60_000 };
    let sawContainer = false;
    const deploy = target.deploy({
      key: abortKey,
      sha: shaA,
      runId: "run-aborted",
      image: images.unhealthy,
      preview: slow,
      signal: controller.signal,
      onLog: (line) => {
        if (line.startsWith("waiting up to")) {
          void containersOf(abortKey, "preview").then((list) => {
            sawContainer = list.length === 1;
            controller.abort();
          });
        }
      },
    });
    await expect(deploy).rejects.toBeInstanceOf(CancelledError);
    expect(sawContainer).toBe(true);
    expect(await containersOf(abortKey)).toEqual([]);
    expect(await networksOf(abortKey)).toEqual([]);
    expect(await target.list()).not.toContainEqual(abortKey);
  });

  it("removes every container and the network of the PR", async () => {
    const { removed } = await target.remove(key);
    expect(removed).toBe(2); // the preview and the network
    expect(await containersOf(key)).toEqual([]);
    expect(await networksOf(key)).toEqual([]);
    expect(await target.list()).not.toContainEqual(key);
    await expect(get(second.url)).rejects.toThrow();
    await expect(target.remove(key)).resolves.toEqual({ removed: 0 });
  });
});
