/**
 * Harbor and the tag flow for real: the image bytes go to the real distribution registry, Harbor's
 * API is the swagger-checked fake (told about each push, as Harbor sees pushes itself), builds and
 * previews run on the real Docker engine, GitHub is the HTTP fake.
 */
import { existsSync } from "node:fs";
import axios from "axios";
import { repoSlug } from "../../src/domain/naming.js";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDockerClient } from "../../src/adapters/docker/docker-client.js";
import { DockerImageBuilder } from "../../src/adapters/docker/image-builder.js";
import { HarborClient } from "../../src/adapters/harbor/harbor-client.js";
import { harborCoordinates, HarborRegistry } from "../../src/adapters/harbor/harbor-registry.js";
import type { BuildRequest, ImageBuilder, LogSink } from "../../src/domain/ports.js";
import { createRedactor } from "../../src/domain/redact.js";
import { DockerTarget } from "../../src/targets/docker-target.js";
import { FakeGitHubApi } from "../fakes/github-api.js";
import { FakeHarborApi, type FakeSeverity } from "../fakes/harbor-api.js";
import { pullRequestPayload, tagPushPayload } from "../helpers/github-payloads.js";
import { createHarness, type Harness } from "../helpers/probot-harness.js";
import { sampleRepoConfig, sampleSource } from "../helpers/sample-app.js";
import { requireServices } from "../helpers/services.js";

const services = requireServices();
const docker = createDockerClient(services.dockerHost);
const log = pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" });
const ROBOT = { username: "robot$berth-harbor+ci", password: "Harbor-Secret-42" };
const redact = createRedactor([ROBOT.password]);
const PROJECT = "berth-harbor";
const github = new FakeGitHubApi();
let harbor: FakeHarborApi;
let harness: Harness;
/** The image repository berth names for `acme/<name>` on GitHub (a readable part plus a hash). */
function slugOf(name: string): string {
  return repoSlug({ host: "github", owner: "acme", name });
}

/** Findings the fake Harbor reports for images of a repository slug. */
const findings = new Map<string, Partial<Record<FakeSeverity, number>>>();

/** The real builder, plus what Harbor would see of each push. */
class HarborMirroringBuilder implements ImageBuilder {
  builds = 0;
  constructor(private readonly inner: DockerImageBuilder) {}
  build(req: BuildRequest) {
    this.builds++;
    return this.inner.build(req);
  }
  async push(tag: string, signal: AbortSignal, onLog?: LogSink) {
    const result = await this.inner.push(tag, signal, onLog);
    const { project, repository, tag: name } = harborCoordinates(tag);
    harbor.pushArtifact(project, repository, { tags: [name], digest: result.digest, vulnerabilities: findings.get(repository) ?? {}, fixable: 1 });
    return result;
  }
  hasImage(tag: string) {
    return this.inner.hasImage(tag);
  }
  tag(source: string, target: string) {
    return this.inner.tag(source, target);
  }
  removePullRequestImages(repository: string, prNumber: number, owner: Record<string, string>) {
    return this.inner.removePullRequestImages(repository, prNumber, owner);
  }
}
let builder: HarborMirroringBuilder;

function sha(seed: string): string {
  return seed.repeat(40).slice(0, 40);
}

async function addCommit(repo: string, commit: string, config: string, marker: string): Promise<void> {
  const fake = github.repo(repo);
  fake.config = config;
  fake.permissions.set("lead", "admin");
  fake.permissions.set("dev", "write");
  fake.tarballs.set(commit, (await sampleSource({ variant: "ok", marker, busybox: services.busybox })).data);
}

function statusComment(repo: string, pr: number): string {
  const bodies = github.commentsOf(repo, pr).filter((b) => b.includes("<!-- berth:status -->"));
  expect(bodies).toHaveLength(1);
  return bodies[0]!;
}

async function deliver(name: "pull_request" | "push", payload: Record<string, unknown>, id: string): Promise<void> {
  await harness.probot.receive({ id, name, payload } as never);
  await harness.engine.idle();
}

beforeAll(async () => {
  await github.start();
  harbor = await FakeHarborApi.start({ ...ROBOT, scanPolls: { pending: 1, running: 1 } });
  builder = new HarborMirroringBuilder(new DockerImageBuilder({ docker, log, redact }));
  harness = await createHarness({
    baseUrl: github.url,
    registry: `${services.registry}/${PROJECT}`,
    builder,
    target: new DockerTarget({ docker, previewHost: "127.0.0.1", log, redact }),
    artifacts: new HarborRegistry({
      client: new HarborClient({ url: harbor.url, ...ROBOT, log, backoffMs: 20 }),
      log,
      scanIntervalMs: 20,
      scanTimeoutMs: 10_000,
    }),
  });
});

afterAll(async () => {
  await harness?.close();
  await github.stop();
  harbor?.assertNoViolations();
  await harbor?.close();
  const left = await docker.listContainers({ all: true, filters: { label: ["berth.managed=true"] } });
  await Promise.all(left.map((c) => docker.getContainer(c.Id).remove({ force: true })));
});

describe("Harbor", () => {
  it("creates the project, shows the scan summary of a PR image, and removes only the PR's tags on close", { timeout: 180_000 }, async () => {
    const repo = "acme/harbor-shop";
    const commit = sha("f6");
    findings.set(slugOf("harbor-shop"), { High: 2, Medium: 1, Low: 4 });
    await addCommit(repo, commit, sampleRepoConfig("ok"), "harbor");
    await deliver("pull_request", pullRequestPayload({ action: "opened", repo, prNumber: 11, headSha: commit }), "h-open");

    expect(harbor.project(PROJECT)).toMatchObject({ autoScan: true });
    const body = statusComment(repo, 11);
    expect(body).toContain("| test | ✅ passed |");
    expect(body).toMatch(/\[🛡️ 0 critical, 2 high, 1 medium, 4 low \(1 fixable\)\]\(http:\/\/127\.0\.0\.1:\d+\/harbor\/projects\/\d+\/repositories\/acme-harbor-shop-[0-9a-f]{8}\/artifacts-tab\/artifacts\/sha256:[0-9a-f]{64}\)/);
    expect(body).not.toContain(ROBOT.password);
    expect(harbor.tags(PROJECT, slugOf("harbor-shop"))).toEqual([`pr-11-${commit.slice(0, 7)}`]);

    // Another tag on the same artifact keeps it when the PR's tag goes.
    harbor.pushArtifact(PROJECT, slugOf("harbor-shop"), { tags: ["keep-me"], digest: harbor.artifacts(PROJECT, slugOf("harbor-shop"))[0]!.digest });
    await deliver("pull_request", pullRequestPayload({ action: "closed", repo, prNumber: 11, headSha: commit }), "h-close");
    expect(harbor.tags(PROJECT, slugOf("harbor-shop"))).toEqual(["keep-me"]);
    expect(harbor.artifacts(PROJECT, slugOf("harbor-shop"))).toHaveLength(1);
    expect(statusComment(repo, 11)).toContain("The PR is closed: its preview is gone.");
  });

  it("without a gate, deploys before a slow scan finishes and adds the scan summary to the comment when it does", { timeout: 180_000 }, async () => {
    const repo = "acme/slow-scan-shop";
    const commit = sha("c5");
    const slug = slugOf("slow-scan-shop");
    findings.set(slug, { Critical: 1, High: 2 });
    await addCommit(repo, commit, sampleRepoConfig("ok"), "slow-scan");
    harbor.setScanMs(4000);
    try {
      await harness.probot.receive({ id: "s-open", name: "pull_request", payload: pullRequestPayload({ action: "opened", repo, prNumber: 13, headSha: commit }) } as never);
      // While the scan runs, the build row says so and the deploy goes on.
      const prKey = `github:${repo}#13`;
      let buildRow: { state: string; detail: { scan?: { status: string } } } | undefined;
      for (let i = 0; i < 600; i++) {
        const run = (await harness.store.latestPipelineRuns(prKey, 1))[0];
        const stages = run ? await harness.store.stagesOf(run.id) : [];
        if (stages.find((s) => s.name === "deploy")?.state === "running") {
          buildRow = stages.find((s) => s.name === "build");
          break;
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(buildRow).toMatchObject({ state: "passed", detail: { scan: { status: "Pending" } } });
      await harness.engine.idle();
    } finally {
      harbor.setScanMs(0);
    }

    const run = (await harness.store.latestPipelineRuns(`github:${repo}#13`, 1))[0]!;
    const stages = Object.fromEntries((await harness.store.stagesOf(run.id)).map((s) => [s.name, s]));
    const scanFinishedAt = harbor.artifacts(PROJECT, slug)[0]?.scanFinishedAt;
    expect(scanFinishedAt).toBeGreaterThan(0);
    expect(stages.deploy?.startedAt).toBeLessThan(scanFinishedAt!);
    expect(stages.build?.finishedAt).toBeLessThan(scanFinishedAt!);
    console.info(`slow scan: build ended ${scanFinishedAt! - stages.build!.finishedAt!} ms and deploy started ${scanFinishedAt! - stages.deploy!.startedAt!} ms before the scan finished`);
    expect(stages.build).toMatchObject({ state: "passed", detail: { scan: { status: "Success", critical: 1, high: 2 } } });
    const body = statusComment(repo, 13);
    expect(body).toContain("| build | ✅ passed |");
    expect(body).toContain("| test | ✅ passed |");
    expect(body).toMatch(/\[🛡️ 1 critical, 2 high, 0 medium, 0 low \(1 fixable\)\]\(http:\/\/127\.0\.0\.1:\d+\/harbor\/projects\/\d+\/repositories\/acme-slow-scan-shop-[0-9a-f]{8}\/artifacts-tab\/artifacts\/sha256:[0-9a-f]{64}\)/);
    expect(body).not.toContain("scan pending");
    await deliver("pull_request", pullRequestPayload({ action: "closed", repo, prNumber: 13, headSha: commit }), "s-close");
  });

  it("stops before deploy when the vulnerability gate fails, and says why", { timeout: 180_000 }, async () => {
    const repo = "acme/vuln-shop";
    const commit = sha("a7");
    findings.set(slugOf("vuln-shop"), { Critical: 1, High: 3 });
    const config = sampleRepoConfig("ok").replace("build:\n", "build:\n  scan:\n    failOn: critical\n");
    await addCommit(repo, commit, config, "vulnerable");
    await deliver("pull_request", pullRequestPayload({ action: "opened", repo, prNumber: 12, headSha: commit }), "v-open");
    const body = statusComment(repo, 12);
    expect(body).toContain("| build | ❌ failed |");
    expect(body).toContain("vulnerability gate: Found 1 critical");
    expect(body).toContain("| deploy | 🚫 cancelled |");
    expect(body).toContain("🛡️ 1 critical, 3 high");
    const containers = await docker.listContainers({ all: true, filters: { label: ["berth.repo=acme/vuln-shop"] } });
    expect(containers).toEqual([]);
    await deliver("pull_request", pullRequestPayload({ action: "closed", repo, prNumber: 12, headSha: commit }), "v-close");
  });
});

describe("tag flow", () => {
  const repo = "acme/release-shop";
  const commit = sha("b8");
  const config = `${sampleRepoConfig("ok")}tags:
  - match: "alpha-*"
    environment: dev
  - match: "release-*"
    environment: production
`;

  it("builds alpha-* and deploys it to dev; release-* on the same commit is promoted in Harbor without a rebuild", { timeout: 180_000 }, async () => {
    await addCommit(repo, commit, config, "release-candidate");
    const buildsBefore = builder.builds;

    await deliver("push", tagPushPayload({ tag: "alpha-1.0.0", sha: commit, pusher: "lead", repo }), "t-alpha");
    expect(builder.builds).toBe(buildsBefore + 1);
    const devDigest = harbor.artifacts(PROJECT, slugOf("release-shop")).find((a) => a.tags.includes("alpha-1.0.0"))?.digest;
    expect(devDigest).toMatch(/^sha256:/);
    expect(harbor.tags(PROJECT, slugOf("release-shop")).sort()).toEqual(["alpha-1.0.0", `sha-${commit}`]);

    await deliver("push", tagPushPayload({ tag: "release-1.0.0", sha: commit, pusher: "lead", repo }), "t-release");
    expect(builder.builds).toBe(buildsBefore + 1); // no rebuild
    const promoted = harbor.artifacts(PROJECT, slugOf("release-shop")).find((a) => a.tags.includes("release-1.0.0"));
    expect(promoted?.digest).toBe(devDigest);

    // Both environments run and answer; GitHub has a deployment with its URL for each.
    const byEnv = Object.fromEntries(github.deployments.filter((d) => d.repo === repo).map((d) => [d.environment, d.statuses.at(-1)]));
    expect(byEnv.dev?.state).toBe("success");
    expect(byEnv.production?.state).toBe("success");
    for (const env of ["dev", "production"]) {
      const page = await axios.get(String(byEnv[env]?.environment_url), { timeout: 5000 });
      expect(page.data).toContain("release-candidate");
    }
    expect(finalStatuses(github.statuses.filter((s) => s.sha === commit))).toEqual([
      "berth/dev/build=success",
      "berth/dev/deploy=success",
      "berth/production/build=success",
      "berth/production/deploy=success",
    ]);
  });

  it("a tag with shell metacharacters runs nothing and is built under a safe image tag", { timeout: 180_000 }, async () => {
    const marker = `/tmp/berth-it-pwned-${process.pid}`;
    const evil = `alpha-$(touch ${marker})`;
    await deliver("push", tagPushPayload({ tag: evil, sha: commit, pusher: "lead", repo }), "t-evil");
    expect(existsSync(marker)).toBe(false);
    const tags = harbor.tags(PROJECT, slugOf("release-shop"));
    const safe = tags.find((t) => /^alpha-.*touch/.test(t));
    expect(safe).toMatch(/^alpha-[A-Za-z0-9_.-]+-[0-9a-f]{8}$/);
  });

  it("builds but does not deploy production for a pusher below admin", { timeout: 180_000 }, async () => {
    await deliver("push", tagPushPayload({ tag: "release-1.0.1", sha: commit, pusher: "dev", repo }), "t-refused");
    const status = github.statuses.filter((s) => s.sha === commit && s.context === "berth/production/deploy").at(-1);
    expect(status).toMatchObject({ state: "failure", description: "built, not deployed: dev has write permission, production needs admin" });
    expect(harbor.tags(PROJECT, slugOf("release-shop"))).toContain("release-1.0.1");
  });
});

describe("tag flow with a slow scan and no gate", () => {
  it("deploys the alpha before the scan finishes and records the summary on the release's build stage", { timeout: 180_000 }, async () => {
    const repo = "acme/slow-release-shop";
    const commit = sha("e4");
    const slug = slugOf("slow-release-shop");
    findings.set(slug, { Medium: 2 });
    await addCommit(repo, commit, `${sampleRepoConfig("ok")}tags:\n  - match: "alpha-*"\n    environment: dev\n`, "slow-release");
    harbor.setScanMs(3000);
    try {
      await deliver("push", tagPushPayload({ tag: "alpha-3.0.0", sha: commit, pusher: "lead", repo }), "sr-alpha");
    } finally {
      harbor.setScanMs(0);
    }
    const run = (await harness.store.runsWithStatus(["passed"])).find((r) => r.kind === "release" && r.sha === commit);
    const stages = Object.fromEntries((await harness.store.stagesOf(run!.id)).map((s) => [s.name, s]));
    const scanFinishedAt = harbor.artifacts(PROJECT, slug).find((a) => a.tags.includes("alpha-3.0.0"))?.scanFinishedAt;
    expect(stages.deploy?.startedAt).toBeLessThan(scanFinishedAt!);
    expect(stages.build).toMatchObject({ state: "passed", detail: { scan: { status: "Success", medium: 2 } } });
    expect(finalStatuses(github.statuses.filter((s) => s.sha === commit))).toEqual(["berth/dev/build=success", "berth/dev/deploy=success"]);
  });
});

describe("tag flow with a vulnerability gate", () => {
  it("neither deploys a gated alpha nor lets its promotion reach production", { timeout: 180_000 }, async () => {
    const repo = "acme/gated-shop";
    const commit = sha("d9");
    findings.set(slugOf("gated-shop"), { Critical: 2 });
    const config = `${sampleRepoConfig("ok").replace("build:\n", "build:\n  scan:\n    failOn: critical\n")}tags:
  - match: "alpha-*"
    environment: dev
  - match: "release-*"
    environment: production
`;
    await addCommit(repo, commit, config, "gated");
    await deliver("push", tagPushPayload({ tag: "alpha-2.0.0", sha: commit, pusher: "lead", repo }), "g-alpha");
    const buildsAfterAlpha = builder.builds;
    await deliver("push", tagPushPayload({ tag: "release-2.0.0", sha: commit, pusher: "lead", repo }), "g-release");
    expect(builder.builds).toBe(buildsAfterAlpha);
    expect(finalStatuses(github.statuses.filter((s) => s.sha === commit))).toEqual(["berth/dev/build=failure", "berth/production/build=failure"]);
    const statuses = github.statuses.filter((s) => s.sha === commit && s.state !== "pending");
    expect(statuses[1]?.description).toContain("vulnerability gate: Found 2 critical");
    const containers = await docker.listContainers({ all: true, filters: { label: ["berth.repo=acme/gated-shop"] } });
    expect(containers).toEqual([]);
  });
});

/**
 * The last state written per status context, in the order the contexts first appear. Statuses are
 * written from an outbox that coalesces: a context may show `pending` (its stage started) before its
 * final state, never anything else, and never a state after its final one.
 */
function finalStatuses(statuses: Array<{ context: string; state: string }>): string[] {
  const byContext = new Map<string, string[]>();
  for (const s of statuses) byContext.set(s.context, [...(byContext.get(s.context) ?? []), s.state]);
  for (const [context, states] of byContext) expect(states.slice(0, -1), context).toEqual(states.length > 1 ? ["pending"] : []);
  return [...byContext].map(([context, states]) => `${context}=${states.at(-1)}`);
}
