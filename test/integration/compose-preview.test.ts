/**
 * A two-service preview from a Compose file on the real Docker engine and on the real single-node
 * Swarm (the same file as a stack-like set of services on the PR's overlay network): a web service and a busybox
 * "db" with a healthcheck, both built FROM scratch from the PR's commit, started in depends_on
 * order (web waits for db to be healthy), reachable by their service names on the PR's network,
 * with named volumes per PR, an env_file, and a seed run once the preview is healthy. A second
 * push replaces the containers and keeps the volumes (the seed, `when: created`, does not run
 * again); closing the PR removes containers, volumes and the network.
 */
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { pino } from "pino";
import tar from "tar-stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDockerClient } from "../../src/adapters/docker/docker-client.js";
import { DockerImageBuilder } from "../../src/adapters/docker/image-builder.js";
import { createRedactor } from "../../src/domain/redact.js";
import { DockerTarget } from "../../src/targets/docker-target.js";
import { SwarmTarget } from "../../src/targets/swarm-target.js";
import type { PreviewTarget } from "../../src/domain/ports.js";
import { FakeGitHubApi } from "../fakes/github-api.js";
import { pullRequestPayload } from "../helpers/github-payloads.js";
import { createHarness, type Harness } from "../helpers/probot-harness.js";
import { requireServices } from "../helpers/services.js";

const services = requireServices();
const docker = createDockerClient(services.dockerHost);
const redact = createRedactor([]);
const log = pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" });
const github = new FakeGitHubApi();
const PR = 3;

const berthYml = (target: string) => `
preview:
  target: ${target}
  compose: deploy/compose.yaml
  service: web
  port: 8080
  timeout: 60s
  seed:
    service: web
    command: ["sh", "-c", "echo seeded-$GREETING-$FROM_FILE > /www/uploads/seed.txt && echo seed wrote it"]
test:
  command:
    - sh
    - -c
    - |
      set -e
      fetch() { ip=$(nslookup "$1" 2>/dev/null | awk '/^Address/ { a = $NF } END { print a }'); printf 'GET %s HTTP/1.0\\r\\nHost: %s\\r\\n\\r\\n' "$3" "$1" | nc -w 10 "$ip" "$2"; }
      fetch db 5432 /ready | grep -q '^HTTP/1.[01] 200' && echo "db answers by its name"
      fetch web 8080 /uploads/seed.txt | tee /tmp/seed | grep -q 'seeded-from-compose-from-env-file' && echo "web answers by its name, seeded"
`;

const COMPOSE = `
services:
  web:
    build:
      context: ../web
    environment:
      GREETING: from-compose
    env_file: [../web/web.env]
    depends_on:
      db:
        condition: service_healthy
    volumes:
      - uploads:/www/uploads
  db:
    build: ../db
    healthcheck:
      test: ["CMD", "test", "-f", "/data/ready"]
      interval: 1s
      timeout: 2s
      retries: 30
    volumes:
      - type: volume
        source: dbdata
        target: /data
volumes:
  dbdata: {}
  uploads: {}
`;

const BUSYBOX_BASE = ["FROM scratch", "COPY busybox /bin/busybox", 'RUN ["/bin/busybox", "--install", "-s", "/bin"]'];

async function source(marker: string): Promise<Buffer> {
  const pack = tar.pack();
  const top = `compose-it-${marker}`;
  const busybox = readFileSync(services.busybox);
  const file = (name: string, content: string | Buffer, mode = 0o644) => pack.entry({ name: `${top}/${name}`, mode }, content);
  file("web/Dockerfile", [...BUSYBOX_BASE, "COPY www /www", 'CMD ["httpd", "-f", "-p", "8080", "-h", "/www"]'].join("\n") + "\n");
  file("web/busybox", busybox, 0o755);
  file("web/www/index.html", `<p>${marker}</p>\n`);
  file("web/web.env", "# read by compose\nFROM_FILE=from-env-file\n");
  // The db is "ready" a moment after it starts, and serves its data folder on 5432.
  file("db/Dockerfile", [...BUSYBOX_BASE, 'CMD ["sh", "-c", "mkdir -p /data && sleep 1 && touch /data/ready && exec httpd -f -p 5432 -h /data"]'].join("\n") + "\n");
  file("db/busybox", busybox, 0o755);
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack) chunks.push(chunk as Buffer);
  return gzipSync(Buffer.concat(chunks));
}

function sha(seed: string): string {
  return seed.repeat(40).slice(0, 40);
}

async function addCommit(REPO: string, target: string, commit: string, marker: string): Promise<void> {
  const fake = github.repo(REPO);
  fake.config = berthYml(target);
  fake.tarballs.set(commit, await source(marker));
  fake.files ??= new Map();
  fake.files.set(commit, new Map([["deploy/compose.yaml", COMPOSE], ["web/web.env", "# read by compose\nFROM_FILE=from-env-file\n"]]));
}

/** Volumes carrying these labels (dockerode's typings of listVolumes lack the promise form). */
async function volumesWith(filters: { label: string[] }): Promise<Array<{ Name: string }>> {
  const answer = (await (docker.listVolumes as unknown as (o: unknown) => Promise<{ Volumes: Array<{ Name: string }> | null }>)({ filters })).Volumes;
  return answer ?? [];
}

beforeAll(async () => {
  await github.start();
});

afterAll(async () => {
  await github.stop();
});

const VARIANTS: Array<{ target: "docker" | "swarm"; make: () => PreviewTarget; objects: (repo: string) => Promise<string[]> }> = [
  {
    target: "docker",
    make: () => new DockerTarget({ docker, previewHost: "127.0.0.1", log, redact }),
    objects: async (repo) => (await docker.listContainers({ filters: { label: [`berth.repo=${repo}`, "berth.role=preview"] } })).map((c) => `${c.Labels["berth.service"]}:${c.Id}`),
  },
  {
    target: "swarm",
    make: () => new SwarmTarget({ docker, log, redact, timeouts: { stopGraceMs: 1000, startMs: 60_000, removeMs: 30_000 } }),
    objects: async (repo) => (await docker.listServices({ filters: { label: [`berth.repo=${repo}`, "berth.role=preview"] } })).map((s) => `${s.Spec?.Labels?.["berth.service"]}:${s.ID}`),
  },
];

describe.each(VARIANTS)("Compose previews on the $target target", ({ target, make, objects }) => {
  const REPO = `compose-it/shop-${target}`;
  const PR_KEY = `github:${REPO}#${PR}`;
  const labelled = (role: string) => ({ label: [`berth.repo=${REPO}`, `berth.pr=${PR}`, `berth.role=${role}`] });
  let harness: Harness;

  beforeAll(async () => {
    harness = await createHarness({
      baseUrl: github.url,
      registry: `${services.registry}/berth-compose-it`,
      builder: new DockerImageBuilder({ docker, log, redact }),
      target: make(),
    });
  });

  afterAll(async () => {
    await harness?.close();
    for (const s of await docker.listServices({ filters: { label: [`berth.repo=${REPO}`] } })) await docker.getService(s.ID).remove().catch(() => undefined);
    for (const c of await docker.listContainers({ all: true, filters: { label: [`berth.repo=${REPO}`] } })) await docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
    for (const v of await volumesWith({ label: [`berth.repo=${REPO}`] })) await docker.getVolume(v.Name).remove().catch(() => undefined);
  });

  function statusComment(): string {
    return github.commentsOf(REPO, PR).find((b) => b.includes("<!-- berth:status -->")) ?? "";
  }

  it("builds, starts in order, seeds once, tests every service by name, keeps volumes across pushes, and cleans up on close", { timeout: 300_000 }, async () => {
    await addCommit(REPO, target, sha("e5"), "compose-first");
    await addCommit(REPO, target, sha("f6"), "compose-second");
    await harness.deliver("pull_request", pullRequestPayload({ action: "opened", repo: REPO, prNumber: PR, headSha: sha("e5") }));
    let body = statusComment();
    expect(body, body).toContain("| deploy | ✅ passed |");
    expect(body, body).toContain("| test | ✅ passed |");
    const first = await objects(REPO);
    expect(first.map((o) => o.split(":")[0]).sort()).toEqual(["db", "web"]);
    const volumes = await volumesWith(labelled("volume"));
    expect(volumes).toHaveLength(2);

    // The seed ran in the deploy, its output in the deploy log.
    const runs = await harness.store.latestPipelineRuns(PR_KEY, 1);
    const deploy = (await harness.store.stagesOf(runs[0]!.id)).find((s) => s.name === "deploy")!;
    const deployLog = (await harness.store.getLog(deploy.detail.logId!))!.text;
    expect(deployLog).toContain("db is healthy");
    expect(deployLog).toContain("seed | seed wrote it");
    expect(deployLog.indexOf("starting db")).toBeLessThan(deployLog.indexOf("starting web"));

    await harness.deliver("pull_request", pullRequestPayload({ action: "synchronize", repo: REPO, prNumber: PR, headSha: sha("f6") }));
    body = statusComment();
    expect(body, body).toContain("preview of `f6f6f6f`");
    expect(body, body).toContain("| test | ✅ passed |");
    const second = await objects(REPO);
    expect(second).toHaveLength(2);
    expect(second.some((o) => first.includes(o))).toBe(false);
    // Same volumes: the seed of the first deploy is still there (the test read it), and did not run again.
    expect((await volumesWith(labelled("volume"))).map((v) => v.Name).sort()).toEqual(volumes.map((v) => v.Name).sort());
    const run2 = (await harness.store.latestPipelineRuns(PR_KEY, 1))[0]!;
    const deploy2 = (await harness.store.stagesOf(run2.id)).find((s) => s.name === "deploy")!;
    expect((await harness.store.getLog(deploy2.detail.logId!))!.text).not.toContain("seeding");

    await harness.deliver("pull_request", pullRequestPayload({ action: "closed", repo: REPO, prNumber: PR, headSha: sha("f6") }));
    expect(await docker.listContainers({ all: true, filters: { label: [`berth.repo=${REPO}`] } })).toEqual([]);
    expect(await docker.listServices({ filters: { label: [`berth.repo=${REPO}`] } })).toEqual([]);
    expect(await volumesWith(labelled("volume"))).toEqual([]);
    expect(await docker.listNetworks({ filters: { label: [`berth.repo=${REPO}`] } })).toEqual([]);
  });
});
