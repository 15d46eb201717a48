/**
 * A PR with `preview.target: swarm` through the whole pipeline on the real Swarm of the test engine:
 * build → service → tests → comment → a new push updates the service → close removes it. The
 * reconciler removes the service of a PR closed while its webhook was lost.
 */
import axios from "axios";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDockerClient } from "../../src/adapters/docker/docker-client.js";
import { DockerImageBuilder } from "../../src/adapters/docker/image-builder.js";
import { createRedactor } from "../../src/domain/redact.js";
import { SwarmTarget } from "../../src/targets/swarm-target.js";
import { FakeGitHubApi } from "../fakes/github-api.js";
import { pullRequestPayload } from "../helpers/github-payloads.js";
import { createHarness, type Harness } from "../helpers/probot-harness.js";
import { sampleRepoConfig, sampleSource } from "../helpers/sample-app.js";
import { requireServices } from "../helpers/services.js";

const services = requireServices();
const docker = createDockerClient(services.dockerHost);
const log = pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" });
const redact = createRedactor([]);
const github = new FakeGitHubApi();
const REPO = "acme/swarm-shop";
let harness: Harness;

function sha(seed: string): string {
  return seed.repeat(40).slice(0, 40);
}

function statusComment(pr: number): string {
  const bodies = github.commentsOf(REPO, pr).filter((b) => b.includes("<!-- berth:status -->"));
  expect(bodies).toHaveLength(1);
  return bodies[0]!;
}

async function servicesOf(pr: number): Promise<string[]> {
  const list = await docker.listServices({ filters: { label: [`berth.repo=${REPO}`, `berth.pr=${pr}`] } });
  return list.map((s) => s.Spec?.Name ?? "");
}

beforeAll(async () => {
  await github.start();
  const fake = github.repo(REPO);
  fake.config = sampleRepoConfig("ok").replace("  target: docker", "  target: swarm");
  for (const [seed, marker] of [["a1", "swarm-one"], ["b2", "swarm-two"], ["c3", "swarm-orphan"]] as const) {
    fake.tarballs.set(sha(seed), (await sampleSource({ variant: "ok", marker, busybox: services.busybox })).data);
  }
  harness = await createHarness({
    baseUrl: github.url,
    registry: `${services.registry}/berth-swarm`,
    builder: new DockerImageBuilder({ docker, log, redact }),
    target: new SwarmTarget({ docker, previewHost: "127.0.0.1", log, redact }),
  });
});

afterAll(async () => {
  await harness?.close();
  await github.stop();
  const left = await docker.listServices({ filters: { label: [`berth.repo=${REPO}`] } });
  await Promise.all(left.map((s) => docker.getService(s.ID).remove()));
});

describe("GitHub PR on Docker Swarm", () => {
  it("deploys a service, tests it, updates it on a push, and removes it on close", { timeout: 300_000 }, async () => {
    const started = Date.now();
    await harness.probot.receive({ id: "s-open", name: "pull_request", payload: pullRequestPayload({ action: "opened", repo: REPO, prNumber: 31, headSha: sha("a1") }) } as never);
    await harness.engine.idle();
    const firstMs = Date.now() - started;
    let body = statusComment(31);
    expect(body).toContain("| deploy | ✅ passed |");
    expect(body).toContain("| test | ✅ passed |");
    const url = /\*\*Preview:\*\* (http:\/\/127\.0\.0\.1:\d+\/)/.exec(body)?.[1];
    expect((await axios.get(String(url), { timeout: 5000 })).data).toContain("swarm-one");
    expect(await servicesOf(31)).toHaveLength(1);

    await harness.probot.receive({ id: "s-sync", name: "pull_request", payload: pullRequestPayload({ action: "synchronize", repo: REPO, prNumber: 31, headSha: sha("b2") }) } as never);
    await harness.engine.idle();
    body = statusComment(31);
    expect(body).toContain("preview of `b2b2b2b`");
    expect(body).toContain("| test | ✅ passed |");
    const updatedUrl = /\*\*Preview:\*\* (http:\/\/127\.0\.0\.1:\d+\/)/.exec(body)?.[1];
    expect((await axios.get(String(updatedUrl), { timeout: 5000 })).data).toContain("swarm-two");
    expect(await servicesOf(31)).toHaveLength(1);
    console.info(`swarm pipeline: first deploy + tests ${firstMs} ms wall`);

    await harness.probot.receive({ id: "s-close", name: "pull_request", payload: pullRequestPayload({ action: "closed", repo: REPO, prNumber: 31, headSha: sha("b2") }) } as never);
    await harness.engine.idle();
    expect(await servicesOf(31)).toEqual([]);
    expect(statusComment(31)).toContain("The PR is closed: its preview is gone.");
  });

  it("the reconciler removes the service of a PR closed while its webhook was lost", { timeout: 300_000 }, async () => {
    await harness.probot.receive({ id: "o-open", name: "pull_request", payload: pullRequestPayload({ action: "opened", repo: REPO, prNumber: 32, headSha: sha("c3") }) } as never);
    await harness.engine.idle();
    expect(await servicesOf(32)).toHaveLength(1);
    // The PR is closed on GitHub, but berth never hears of it.
    const closed = pullRequestPayload({ action: "closed", repo: REPO, prNumber: 32, headSha: sha("c3") }).pull_request;
    github.repo(REPO).pulls = new Map([[32, closed]]);
    await harness.engine.reconcile();
    await harness.engine.idle();
    expect(await servicesOf(32)).toEqual([]);
    expect(statusComment(32)).toContain("The PR is closed: its preview is gone.");
  });
});
