/**
 * SwarmTarget against the real Swarm of the test engine (a single manager node) and the test
 * registry. The cases run in order and share one PR's service: create, rolling update, failed
 * updates that roll back, tests against the preview, removal.
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import type Docker from "dockerode";
import { pino } from "pino";
import * as tar from "tar-stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDockerClient } from "../../src/adapters/docker/docker-client.js";
import { DockerImageBuilder } from "../../src/adapters/docker/image-builder.js";
import { parseRepoConfig, type PreviewConfig, type RepoConfig } from "../../src/config/repo-config.js";
import { CancelledError, type PreviewKey, type SourceArchive } from "../../src/domain/ports.js";
import { repoPathOf } from "../../src/domain/preview-key.js";
import { createRedactor } from "../../src/domain/redact.js";
import { SwarmTarget, swarmNetworkName, swarmServiceName } from "../../src/targets/swarm-target.js";
import { SAMPLE_REPORT_PATH, SAMPLE_UNHEALTHY_LOG, sampleRepoConfig, sampleSource, type SampleVariant } from "../helpers/sample-app.js";
import { requireServices } from "../helpers/services.js";

const services = requireServices();
const docker = createDockerClient(services.dockerHost);
const log = pino({ level: "silent" });
const redact = createRedactor([]);
// busybox httpd ignores SIGTERM as PID 1: a short grace period keeps stop-first updates quick.
/** Preview tasks and test containers of this file run under these limits (BERTH_CONTAINER_LIMITS). */
const LIMITS = { memoryBytes: 256 * 1024 * 1024, nanoCpus: 5e8, pids: 128 };
const target = new SwarmTarget({ docker, log, redact, limits: LIMITS, timeouts: { stopGraceMs: 1000, startMs: 60_000, removeMs: 30_000 } });
const builder = new DockerImageBuilder({ docker, log, redact });

const suffix = randomBytes(3).toString("hex");
const imageLabel = { "berth.test": `swarm-target-${suffix}` };
const repository = `${services.registry}/berth-test/swarm-${suffix}`;
const key: PreviewKey = { host: "github", owner: "acme", name: `swarm-${suffix}`, pr: 5 };
const abortKey: PreviewKey = { host: "github", owner: "acme", name: `swarm-${suffix}`, pr: 6 };
const crashKey: PreviewKey = { host: "github", owner: "acme", name: `swarm-${suffix}`, pr: 7 };
/** The `berth.repo` label text of the keys, as berth has always written it. */
const repoLabel = `acme/swarm-${suffix}`;
const shaA = "a".repeat(40);
const shaB = "b".repeat(40);
const shaC = "c".repeat(40);
const markerA = `first-${suffix}`;
const markerB = `second-${suffix}`;
const never = new AbortController().signal;

interface ServiceInfo {
  ID: string;
  Version: { Index: number };
  Spec: Docker.ServiceSpec & { TaskTemplate: Docker.ContainerTaskSpec };
  PreviousSpec?: Docker.ServiceSpec;
}
interface TaskInfo {
  ID: string;
  DesiredState: string;
  Status: { State: string; ContainerStatus?: { ContainerID?: string } };
  Spec: { ContainerSpec: { Labels?: Record<string, string> } };
}

function config(variant: SampleVariant): RepoConfig {
  const parsed = parseRepoConfig(sampleRepoConfig(variant));
  if (!parsed.ok) throw new Error(parsed.error);
  return parsed.config;
}

/** Build and push: Swarm nodes pull from the registry. */
async function buildAndPush(tag: string, source: SourceArchive): Promise<string> {
  const outcome = await builder.build({ source, context: ".", dockerfile: "Dockerfile", buildArgs: {}, labels: imageLabel, tag, signal: never });
  if (!outcome.ok) throw new Error(`${outcome.error}\n${outcome.logTail.join("\n")}`);
  await builder.push(tag, never);
  return tag;
}

/** An image whose server exits at once. */
async function crashingSource(): Promise<SourceArchive> {
  const pack = tar.pack();
  pack.entry({ name: "acme-crash-1234567/Dockerfile" }, 'FROM scratch\nCOPY busybox /bin/busybox\nCMD ["/bin/busybox", "sh", "-c", "echo cannot bind port >&2; exit 4"]\n');
  pack.entry({ name: "acme-crash-1234567/busybox", mode: 0o755 }, readFileSync(services.busybox));
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack) chunks.push(chunk as Buffer);
  return { format: "tar.gz", data: gzipSync(Buffer.concat(chunks)) };
}

async function get(url: string): Promise<{ status: number; body: string }> {
  const response = await fetch(url, { signal: AbortSignal.timeout(5000) });
  return { status: response.status, body: await response.text() };
}

async function servicesOf(k: PreviewKey): Promise<ServiceInfo[]> {
  const label = [`berth.managed=true`, `berth.target=swarm`, `berth.repo=${repoPathOf(k)}`, `berth.pr=${k.pr}`];
  return (await docker.listServices({ filters: { label } })) as unknown as ServiceInfo[];
}

async function onlyService(k: PreviewKey): Promise<ServiceInfo> {
  const list = await servicesOf(k);
  expect(list).toHaveLength(1);
  return list[0] as ServiceInfo;
}

async function tasksOf(serviceId: string): Promise<TaskInfo[]> {
  return (await docker.listTasks({ filters: { service: [serviceId] } })) as TaskInfo[];
}

async function networksOf(k: PreviewKey) {
  return docker.listNetworks({ filters: { label: [`berth.target=swarm`, `berth.repo=${repoPathOf(k)}`, `berth.pr=${k.pr}`] } });
}

async function testContainersOf(k: PreviewKey) {
  return docker.listContainers({ all: true, filters: { label: [`berth.repo=${repoPathOf(k)}`, `berth.pr=${k.pr}`, "berth.role=test"] } });
}

const images = { a: "", b: "", unhealthy: "", crashing: "" };
const timings: Record<string, number> = {};

async function timed<T>(name: string, work: () => Promise<T>): Promise<T> {
  const started = Date.now();
  try {
    return await work();
  } finally {
    timings[name] = Date.now() - started;
  }
}

beforeAll(async () => {
  images.a = await buildAndPush(`${repository}:pr-5-aaaaaaa`, await sampleSource({ variant: "ok", marker: markerA }));
  images.b = await buildAndPush(`${repository}:pr-5-bbbbbbb`, await sampleSource({ variant: "ok", marker: markerB }));
  images.unhealthy = await buildAndPush(`${repository}:pr-5-ccccccc`, await sampleSource({ variant: "unhealthy" }));
  images.crashing = await buildAndPush(`${repository}:crashing`, await crashingSource());
});

afterAll(async () => {
  await target.remove(key);
  await target.remove(abortKey);
  await target.remove(crashKey);
  for (const image of await docker.listImages({ filters: { label: [`berth.test=${imageLabel["berth.test"]}`] } })) {
    await docker.getImage(image.Id).remove({ force: true }).catch(() => undefined);
  }
  if (process.env.BERTH_TEST_TIMINGS) console.log("swarm target timings (ms)", timings);
});

describe("SwarmTarget (integration)", () => {
  const preview: PreviewConfig = { ...config("ok").preview, target: "swarm", publishMode: "host" };
  let first: { url: string; internalUrl: string };
  let firstService: ServiceInfo;

  it("creates a labelled service on the PR's overlay network that answers with the marker on its URL", async () => {
    const lines: string[] = [];
    first = await timed("create", () =>
      target.deploy({ key, sha: shaA, runId: "run-a", image: images.a, preview, signal: never, onLog: (l) => lines.push(l) }),
    );
    expect(first.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    expect(first.internalUrl).toBe(`http://${swarmServiceName(key, "default")}:8080`);
    const page = await get(first.url);
    expect(page.status).toBe(200);
    expect(page.body).toContain(markerA);

    firstService = await onlyService(key);
    const spec = firstService.Spec;
    expect(spec.Name).toBe(swarmServiceName(key, "default"));
    expect(spec.Labels).toMatchObject({
      "berth.managed": "true",
      "berth.target": "swarm",
      "berth.host": "github",
      "berth.repo": repoLabel,
      "berth.pr": "5",
      "berth.sha": shaA,
      "berth.run": "run-a",
      "berth.role": "preview",
    });
    // Pinned to the pushed manifest, the way the Docker CLI does it.
    expect(spec.TaskTemplate.ContainerSpec?.Image).toMatch(new RegExp(`^${images.a.replace(/[.]/g, "\\.")}@sha256:[0-9a-f]{64}$`));
    expect(spec.TaskTemplate.ContainerSpec?.Env).toEqual(["SAMPLE_MODE=ok"]);
    expect(spec.EndpointSpec).toEqual({ Mode: "dnsrr", Ports: [{ Protocol: "tcp", TargetPort: 8080, PublishMode: "host" }] });
    expect(spec.TaskTemplate.Resources).toEqual({ Limits: { MemoryBytes: LIMITS.memoryBytes, NanoCPUs: LIMITS.nanoCpus, Pids: LIMITS.pids } });
    // The engine applies them to the task's container.
    const [task] = await docker.listContainers({ filters: { label: [`com.docker.swarm.service.name=${swarmServiceName(key, "default")}`] } });
    const taskInfo = await docker.getContainer(task?.Id ?? "").inspect();
    expect(taskInfo.HostConfig).toMatchObject({ Memory: LIMITS.memoryBytes, NanoCpus: LIMITS.nanoCpus, PidsLimit: LIMITS.pids });

    const network = await docker.getNetwork(swarmNetworkName(key, "default")).inspect();
    expect(network).toMatchObject({ Driver: "overlay", Attachable: true, Scope: "swarm" });
    expect(network.Labels).toMatchObject({ "berth.target": "swarm", "berth.repo": repoLabel, "berth.pr": "5", "berth.role": "network" });
    expect(spec.TaskTemplate.Networks?.map((n) => n.Target)).toEqual([network.Id]);

    expect(lines).toContain(`creating service ${swarmServiceName(key, "default")} from ${images.a}`);
    expect(lines.some((l) => l.startsWith("healthy after"))).toBe(true);
    await expect(target.list()).resolves.toContainEqual(key);
  }, 90_000);

  it("rolls the same service to the new image on a new push and keeps its URL", async () => {
    const lines: string[] = [];
    const second = await timed("update", () =>
      target.deploy({ key, sha: shaB, runId: "run-b", image: images.b, preview, signal: never, onLog: (l) => lines.push(l) }),
    );
    expect(second).toEqual(first);
    expect((await get(second.url)).body).toContain(markerB);

    const service = await onlyService(key);
    expect(service.ID).toBe(firstService.ID);
    expect(service.Version.Index).toBeGreaterThan(firstService.Version.Index);
    expect(service.Spec.Labels).toMatchObject({ "berth.sha": shaB, "berth.run": "run-b" });
    expect(service.PreviousSpec?.Labels).toMatchObject({ "berth.sha": shaA, "berth.run": "run-a" });
    expect(service.Spec.UpdateConfig?.Order).toBe("stop-first");
    // The host port Docker chose at creation is now part of the spec.
    expect(service.Spec.EndpointSpec?.Ports?.[0]?.PublishedPort).toBe(Number(new URL(first.url).port));

    // The update really rolled: the old task was shut down, a new one (another container) runs.
    const tasks = await tasksOf(service.ID);
    const runOf = (t: TaskInfo) => t.Spec.ContainerSpec.Labels?.["berth.run"];
    const oldTasks = tasks.filter((t) => runOf(t) === "run-a");
    const newTasks = tasks.filter((t) => runOf(t) === "run-b");
    expect(oldTasks.map((t) => [t.DesiredState, t.Status.State])).toEqual([["shutdown", "shutdown"]]);
    expect(newTasks.map((t) => [t.DesiredState, t.Status.State])).toEqual([["running", "running"]]);
    expect(newTasks[0]?.Status.ContainerStatus?.ContainerID).not.toBe(oldTasks[0]?.Status.ContainerStatus?.ContainerID);
    expect(lines).toContain(`updating service ${swarmServiceName(key, "default")} to ${images.b} (stop-first)`);
  }, 90_000);

  it("puts an idle preview to sleep (0 replicas, no task running) and wakes it (a running, healthy task again)", async () => {
    expect(await target.sleep(key)).toEqual({ stopped: 1 });
    const asleep = await onlyService(key);
    expect(asleep.Spec.Mode?.Replicated?.Replicas).toBe(0);
    await expect.poll(async () => (await tasksOf(asleep.ID)).filter((t) => t.Status.State === "running").length, { timeout: 30_000 }).toBe(0);
    // Asleep is asleep: nothing to stop twice.
    expect(await target.sleep(key)).toEqual({ stopped: 0 });

    const woken = await target.wake(key, preview, never);
    expect((await onlyService(key)).Spec.Mode?.Replicated?.Replicas).toBe(1);
    expect((await get(woken.url)).body).toContain(markerB);
    expect(woken.upstream).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  }, 90_000);

  it("fails an unhealthy update with the reason and the task's logs, and rolls back", async () => {
    const unhealthy = { ...config("unhealthy").preview, target: "swarm" as const, publishMode: "host" as const };
    const lines: string[] = [];
    const error = await timed("unhealthy update + rollback", () =>
      target
        .deploy({ key, sha: shaC, runId: "run-c", image: images.unhealthy, preview: unhealthy, signal: never, onLog: (l) => lines.push(l) })
        .then(() => undefined, (err: unknown) => err as Error),
    );
    expect(error).toBeInstanceOf(Error);
    const [reason, ...logLines] = (error?.message ?? "").split("\n");
    expect(reason).toBe("preview did not become healthy within 6s at /cgi-bin/health (last answer: HTTP 500); rolled back to bbbbbbb");
    expect(logLines).toContain(SAMPLE_UNHEALTHY_LOG);
    expect(logLines).toContain("health: answered 500 (database unreachable)");
    expect(lines).toContain("rolled back to bbbbbbb");

    const service = await onlyService(key);
    expect(service.ID).toBe(firstService.ID);
    expect(service.Spec.Labels).toMatchObject({ "berth.sha": shaB, "berth.run": "run-b" });
    expect(service.Spec.TaskTemplate.ContainerSpec?.Env).toEqual(["SAMPLE_MODE=ok"]);
    expect((await get(first.url)).body).toContain(markerB);
  }, 90_000);

  it("fails fast, with the task's output, when the new task exits, and rolls back", async () => {
    const started = Date.now();
    const slow = { ...preview, timeout: 60_000 };
    const error = await target
      .deploy({ key, sha: shaC, runId: "run-crash", image: images.crashing, preview: slow, signal: never })
      .then(() => undefined, (err: unknown) => err as Error);
    expect(error?.message).toBe("preview stopped before it became healthy (exit code 4); rolled back to bbbbbbb\ncannot bind port");
    timings["crash + rollback"] = Date.now() - started;
    expect(Date.now() - started).toBeLessThan(30_000);
    expect((await onlyService(key)).Spec.Labels).toMatchObject({ "berth.sha": shaB });
    expect((await get(first.url)).body).toContain(markerB);
  }, 90_000);

  // The wait sees the task end first and the abort comes while the failure is being cleaned up:
  // the caller stopped the deploy before it settled, so it is cancelled, and cleaned up all the same.
  it("cancels, and still rolls back, when the abort arrives while a crashed update is being rolled back", async () => {
    const controller = new AbortController();
    const deploy = target.deploy({
      key,
      sha: shaC,
      runId: "run-crash-aborted",
      image: images.crashing,
      preview: { ...preview, timeout: 60_000 },
      signal: controller.signal,
      onLog: (line) => {
        if (line.startsWith("rolling back to ")) controller.abort();
      },
    });
    await expect(deploy).rejects.toBeInstanceOf(CancelledError);
    expect((await onlyService(key)).Spec.Labels).toMatchObject({ "berth.sha": shaB });
    expect((await get(first.url)).body).toContain(markerB);
  }, 90_000);

  it("cancels, and still removes everything, when the abort arrives while a crashed first deploy is being removed", async () => {
    const controller = new AbortController();
    const lines: string[] = [];
    const deploy = target.deploy({
      key: crashKey,
      sha: shaC,
      runId: "run-crash-first-aborted",
      image: images.crashing,
      preview: { ...preview, timeout: 60_000 },
      signal: controller.signal,
      onLog: (line) => {
        lines.push(line);
        if (line.startsWith("removing service ")) controller.abort();
      },
    });
    await expect(deploy).rejects.toBeInstanceOf(CancelledError);
    expect(lines).toContain(`removing service ${swarmServiceName(crashKey, "default")}`);
    expect(await servicesOf(crashKey)).toEqual([]);
    expect(await networksOf(crashKey)).toEqual([]);
    expect(await target.list()).not.toContainEqual(crashKey);
  }, 90_000);

  it("runs the test command in a container on the PR's overlay network and collects its JUnit report", async () => {
    const test = config("ok").test;
    if (!test) throw new Error("the sample config has a test section");
    const result = await timed("tests", () =>
      target.runTests({
        key,
        sha: shaB,
        runId: "run-b",
        image: images.b,
        command: test.command,
        env: { PREVIEW_URL: first.internalUrl },
        reportsDir: test.reports,
        timeoutMs: test.timeout,
        signal: never,
      }),
    );
    expect(result).toMatchObject({ exitCode: 0, timedOut: false });
    expect(result.logTail).toEqual([`fetching ${first.internalUrl}`, "tests: 3, failures: 0, skipped: 1"]);
    expect(result.reports.map((r) => r.path)).toEqual([SAMPLE_REPORT_PATH]);
    expect(result.reports[0]?.content).toContain('<testsuite name="sample" tests="3" failures="0" errors="0" skipped="1">');
    expect(result.reports[0]?.content).toContain('name="home page shows the marker" time="0.01"/>');
    expect(await testContainersOf(key)).toEqual([]);
  }, 60_000);

  it("kills a test command that runs past its timeout", async () => {
    const result = await target.runTests({
      key,
      sha: shaB,
      runId: "run-sleepy",
      image: images.b,
      command: ["sh", "-c", "echo going to sleep; sleep 60"],
      env: {},
      reportsDir: "/reports",
      timeoutMs: 1500,
      signal: never,
    });
    expect(result).toEqual({ exitCode: null, timedOut: true, logTail: ["going to sleep"], reports: [] });
    expect(await testContainersOf(key)).toEqual([]);
  }, 30_000);

  it("stops and removes a test container when the run is cancelled", async () => {
    const controller = new AbortController();
    const run = target.runTests({
      key,
      sha: shaB,
      runId: "run-cancelled-test",
      image: images.b,
      command: ["sh", "-c", "echo waiting; sleep 60"],
      env: {},
      reportsDir: "/reports",
      timeoutMs: 60_000,
      signal: controller.signal,
      onLog: (line) => {
        if (line === "waiting") controller.abort();
      },
    });
    await expect(run).rejects.toBeInstanceOf(CancelledError);
    expect(await testContainersOf(key)).toEqual([]);
  }, 30_000);

  it("publishes through the routing mesh in ingress mode; an aborted first deploy leaves nothing behind", async () => {
    // Whether the mesh answers depends on the kernel (IPVS); the spec and the port do not. The
    // deploy is aborted once it starts waiting for health, which it does in either case.
    const controller = new AbortController();
    const ingress = { ...config("unhealthy").preview, target: "swarm" as const, publishMode: "ingress" as const, timeout: 60_000 };
    let seen: { url: string; service: ServiceInfo & { Endpoint?: { Ports?: Docker.PortConfig[] } } } | undefined;
    const deploy = target.deploy({
      key: abortKey,
      sha: shaA,
      runId: "run-aborted",
      image: images.unhealthy,
      preview: ingress,
      signal: controller.signal,
      onLog: (line) => {
        const waiting = /^waiting up to 1m 00s for (http:\/\/\S+)\/cgi-bin\/health to answer below 500$/.exec(line);
        if (waiting?.[1]) {
          const url = waiting[1];
          void servicesOf(abortKey)
            .then((list) => {
              if (list.length === 1 && list[0]) seen = { url, service: list[0] };
            })
            .finally(() => controller.abort());
        }
      },
    });
    await expect(deploy).rejects.toBeInstanceOf(CancelledError);
    expect(seen).toBeDefined();
    const published = seen?.service.Endpoint?.Ports?.[0]?.PublishedPort ?? 0;
    expect(published).toBeGreaterThanOrEqual(30000); // Swarm's ingress range is 30000-32767
    expect(seen?.url).toBe(`http://127.0.0.1:${published}`);
    expect(seen?.service.Spec.EndpointSpec).toEqual({ Mode: "vip", Ports: [{ Protocol: "tcp", TargetPort: 8080, PublishMode: "ingress" }] });
    expect(seen?.service.Spec.UpdateConfig?.Order).toBe("start-first");

    expect(await servicesOf(abortKey)).toEqual([]);
    expect(await networksOf(abortKey)).toEqual([]);
    expect(await target.list()).not.toContainEqual(abortKey);
  }, 60_000);

  it("removes the service and the network of the PR; a second remove finds nothing", async () => {
    const { removed } = await timed("remove", () => target.remove(key));
    expect(removed).toBe(2); // the service and the network
    expect(await servicesOf(key)).toEqual([]);
    expect(await networksOf(key)).toEqual([]);
    expect(await docker.listContainers({ all: true, filters: { label: [`berth.repo=${repoLabel}`, `berth.pr=${key.pr}`] } })).toEqual([]);
    // Filtered here, not by the engine: it answers 404 for a removed service.
    const tasks = (await docker.listTasks()) as Array<{ ServiceID: string }>;
    expect(tasks.filter((t) => t.ServiceID === firstService.ID)).toEqual([]);
    expect(await target.list()).not.toContainEqual(key);
    await expect(get(first.url)).rejects.toThrow();
    await expect(target.remove(key)).resolves.toEqual({ removed: 0 });
  }, 60_000);
});
