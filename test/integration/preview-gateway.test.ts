/**
 * berth's preview gateway with the real Docker engine: a PR's preview is reached by its host name
 * (the `Host` header) through the gateway, its URL in the status comment does not change when a
 * new commit is pushed (the gateway then serves the new commit), traffic is recorded on the PR's
 * preview, an idle preview sleeps (its container stopped) and one request wakes it, and once the
 * PR is closed the address answers 404.
 */
import { request } from "node:http";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDockerClient } from "../../src/adapters/docker/docker-client.js";
import { DockerImageBuilder } from "../../src/adapters/docker/image-builder.js";
import { createRedactor } from "../../src/domain/redact.js";
import { GatewayTraffic } from "../../src/gateway/gateway-traffic.js";
import { PreviewGateway } from "../../src/gateway/preview-gateway.js";
import { StoreRouteTable } from "../../src/gateway/route-table.js";
import { DockerTarget } from "../../src/targets/docker-target.js";
import { FakeGitHubApi } from "../fakes/github-api.js";
import { pullRequestPayload } from "../helpers/github-payloads.js";
import { createHarness, type Harness } from "../helpers/probot-harness.js";
import { parseRepoConfig } from "../../src/config/repo-config.js";
import { gatewayLabelOf } from "../../src/gateway/preview-host-names.js";
import { sampleRepoConfig, sampleSource } from "../helpers/sample-app.js";
import { requireServices } from "../helpers/services.js";

const services = requireServices();
const docker = createDockerClient(services.dockerHost);
const redact = createRedactor([]);
const log = pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" });
const github = new FakeGitHubApi();
const REPO = "gateway-it/shop";
const PR = 5;
const PR_KEY = `github:${REPO}#${PR}`;
/** Port written into preview URLs (what a proxy in front would serve); the gateway itself listens on a free port. */
const PUBLIC_PORT = 3001;

let harness: Harness;
let gateway: PreviewGateway;
let gatewayPort: number;
let traffic: GatewayTraffic;

function sha(seed: string): string {
  return seed.repeat(40).slice(0, 40);
}

async function addCommit(commit: string, marker: string): Promise<void> {
  const fake = github.repo(REPO);
  fake.config = sampleRepoConfig("ok");
  fake.tarballs.set(commit, (await sampleSource({ variant: "ok", marker, busybox: services.busybox })).data);
}

/** GET through the gateway with the preview's host name (no DNS needed). */
function viaGateway(host: string, path = "/"): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port: gatewayPort, path, headers: { host }, timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
    });
    req.on("error", reject);
    req.end();
  });
}

function previewUrl(): URL {
  const body = github.commentsOf(REPO, PR).find((b) => b.includes("<!-- berth:status -->")) ?? "";
  const url = /\*\*Preview:\*\* (\S+) \(commit/.exec(body)?.[1];
  expect(url, body).toBeDefined();
  return new URL(url!);
}

beforeAll(async () => {
  await github.start();
  harness = await createHarness({
    baseUrl: github.url,
    registry: `${services.registry}/berth-gateway-it`,
    builder: new DockerImageBuilder({ docker, log, redact }),
    target: new DockerTarget({ docker, previewHost: "127.0.0.1", log, redact }),
    engine: { gateway: { domain: "localhost", scheme: "http", port: PUBLIC_PORT, instance: "default" }, lifecycleIntervalMs: 0 },
  });
  traffic = new GatewayTraffic(harness.store, log, 60_000);
  gateway = new PreviewGateway({
    routes: new StoreRouteTable(harness.store, "default", 0),
    domain: "localhost",
    log,
    onRequest: (o) => o.route && traffic.seen(o.route, Date.now()),
    wake: (route) => harness.engine.wakePreview(route.prKey, "gateway"),
  });
  gatewayPort = await gateway.listen(0, "127.0.0.1");
});

afterAll(async () => {
  await gateway?.close();
  await harness?.close();
  await github.stop();
  const left = await docker.listContainers({ all: true, filters: { label: [`berth.repo=${REPO}`] } });
  await Promise.all(left.map((c) => docker.getContainer(c.Id).remove({ force: true })));
});

describe("preview gateway on the Docker engine", () => {
  it("serves a PR's preview under one host name across pushes, records its traffic, and forgets it on close", { timeout: 240_000 }, async () => {
    await addCommit(sha("c3"), "gateway-first");
    await addCommit(sha("d4"), "gateway-second");
    await harness.deliver("pull_request", pullRequestPayload({ action: "opened", repo: REPO, prNumber: PR, headSha: sha("c3") }));

    const first = previewUrl();
    expect(first.hostname).toMatch(/^gateway-it-shop-[0-9a-f]{8}-pr-5\.localhost$/);
    expect(first.port).toBe(String(PUBLIC_PORT));
    const page1 = await viaGateway(first.host);
    expect(page1.status).toBe(200);
    expect(page1.text).toContain("gateway-first");

    await harness.deliver("pull_request", pullRequestPayload({ action: "synchronize", repo: REPO, prNumber: PR, headSha: sha("d4") }));
    const second = previewUrl();
    expect(second.href).toBe(first.href);
    const page2 = await viaGateway(second.host);
    expect(page2.text).toContain("gateway-second");
    await viaGateway(second.host, "/health");

    await traffic.flush();
    const preview = (await harness.store.getPull(PR_KEY))?.preview;
    expect(preview?.requests).toBe(2);
    expect(preview?.lastRequestAt).toBeGreaterThan(Date.now() - 60_000);
    expect(preview?.upstream).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);

    // Idle past `sleepAfter`: the container stops, and the next request wakes it.
    await harness.store.patchPull(PR_KEY, (p) => ({ ...p, preview: { ...p.preview!, lastRequestAt: Date.now() - 3 * 3_600_000, deployedAt: Date.now() - 3 * 3_600_000 } }));
    await harness.engine.lifecycle.tick();
    const [asleep] = await docker.listContainers({ all: true, filters: { label: [`berth.repo=${REPO}`, "berth.role=preview"] } });
    expect(asleep?.State).toBe("exited");
    const knocking = await viaGateway(second.host);
    expect(knocking.status).toBe(503);
    expect(knocking.text).toContain("Waking the preview up");
    let awake = knocking;
    for (let i = 0; i < 60 && awake.status !== 200; i++) {
      await new Promise((r) => setTimeout(r, 500));
      awake = await viaGateway(second.host);
    }
    expect(awake.status).toBe(200);
    expect(awake.text).toContain("gateway-second");
    expect((await harness.store.getPull(PR_KEY))?.preview?.sleeping).toBeUndefined();

    await harness.deliver("pull_request", pullRequestPayload({ action: "closed", repo: REPO, prNumber: PR, headSha: sha("d4") }));
    const gone = await viaGateway(second.host);
    expect(gone.status).toBe(404);
    expect(gone.text).toContain("No preview at this address");
  });

  it("reaches a preview over its PR network with no host port published (BERTH_PREVIEW_REACH=network)", { timeout: 120_000 }, async () => {
    const target = new DockerTarget({ docker, previewHost: "127.0.0.1", reach: "network", log, redact });
    const builder = new DockerImageBuilder({ docker, log, redact });
    const tag = `${services.registry}/berth-gateway-it/network:${Date.now()}`;
    const built = await builder.build({ source: await sampleSource({ variant: "ok", marker: "over-the-network", busybox: services.busybox }), context: ".", dockerfile: "Dockerfile", buildArgs: {}, labels: {}, tag, signal: new AbortController().signal });
    expect(built.ok).toBe(true);
    const parsed = parseRepoConfig(sampleRepoConfig("ok"));
    if (!parsed.ok) throw new Error(parsed.error);
    const key = { host: "github" as const, owner: "gateway-it", name: "network", pr: 9 };
    try {
      const result = await target.deploy({ key, sha: sha("9a"), runId: "run-network", image: tag, preview: parsed.config.preview, signal: new AbortController().signal });
      expect(result.upstream).toMatch(/^http:\/\/\d+\.\d+\.\d+\.\d+:8080$/);
      const [container] = await docker.listContainers({ filters: { label: ["berth.repo=gateway-it/network", "berth.role=preview"] } });
      expect(container?.Ports.filter((p) => p.PublicPort)).toEqual([]);
      const label = gatewayLabelOf(key, "default");
      const direct = new PreviewGateway({
        routes: { resolve: async (l) => (l === label ? { key, prKey: "github:gateway-it/network#9", title: "gateway-it/network#9", upstream: result.upstream!, target: "docker", sha: sha("9a") } : undefined) },
        domain: "localhost",
        log,
      });
      const port = await direct.listen(0, "127.0.0.1");
      try {
        const page = await new Promise<string>((resolve, reject) => {
          const req = request({ host: "127.0.0.1", port, path: "/", headers: { host: `${label}.localhost` } }, (res) => {
            let text = "";
            res.on("data", (c: Buffer) => (text += c.toString()));
            res.on("end", () => resolve(text));
          });
          req.on("error", reject);
          req.end();
        });
        expect(page).toContain("over-the-network");
      } finally {
        await direct.close();
      }
      // Asleep and awake again, at its (possibly new) network address.
      await target.sleep(key);
      const woken = await target.wake(key, parsed.config.preview, new AbortController().signal);
      expect(woken.upstream).toMatch(/^http:\/\/\d+\.\d+\.\d+\.\d+:8080$/);
    } finally {
      await target.remove(key);
    }
  });
});
