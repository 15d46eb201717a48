/**
 * Three berth replicas on one PostgreSQL database, each a process of its own
 * (`test/helpers/replica-main.ts`), on the real Docker engine and registry, with the fake GitHub API
 * in this process. 20 PRs get two pushes each (`opened` with commit A, then `synchronize` with
 * commit B while A may still be building), webhooks spread round-robin over the live replicas. One
 * replica is killed with SIGKILL during a build of a PR's last commit and is not restarted: the two
 * others take its work over. 5 PRs are closed once their pipelines are done.
 *
 * Afterwards: every run is terminal; each PR has exactly one status comment, showing commit B with
 * its stages passed; no commit was built twice except those of runs the kill interrupted; the
 * interrupted build ran again on another replica and passed; closed PRs have no container left, open
 * ones their preview of commit B; a push stopped the older run wherever it executed within seconds;
 * and (sampled every 100 ms) no two runs of one PR were ever running at once.
 */
import { fork, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createWriteStream, mkdirSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { pino } from "pino";
import { afterAll, describe, expect, it } from "vitest";
import { createDockerClient } from "../../src/adapters/docker/docker-client.js";
import { DistributionCleaner } from "../../src/adapters/registry/distribution-cleaner.js";
import { DistributionClient } from "../../src/adapters/registry/distribution-client.js";
import { imageRepository, sha7 } from "../../src/domain/naming.js";
import type { RunRecord } from "../../src/domain/records.js";
import { PostgresStore } from "../../src/pipeline/store-postgres.js";
import { STATUS_MARKER } from "../../src/render/status-comment.js";
import { FakeGitHubApi } from "../fakes/github-api.js";
import { pullRequestPayload } from "../helpers/github-payloads.js";
import type { FromReplica, ToReplica } from "../helpers/replica-main.js";
import { sampleRepoConfig, sampleSource } from "../helpers/sample-app.js";
import { requireServices, testDatabaseUrl } from "../helpers/services.js";

const services = requireServices();
const databaseUrl = testDatabaseUrl();
const MISSING_DATABASE = "BERTH_TEST_DATABASE_URL is not set: run `bash scripts/services.sh start` to start the test PostgreSQL";
// CI must run it: without a database it fails there (with the reason) instead of being skipped.
const skip = !databaseUrl && process.env.CI !== "true";
if (skip) console.warn(`replicas test skipped: ${MISSING_DATABASE}`);

const suffix = randomBytes(4).toString("hex");
/** The Docker target's `berth.instance` label: this file's containers and networks, nobody else's. */
const INSTANCE = `replicas-${suffix}`;
/** Registry namespace of this file's images. */
const REGISTRY = `${services.registry}/berth-replicas-${suffix}`;
const DATABASE = `berth_replicas_${suffix}`;
const REPO = "acme/replicas";
const REPLICAS = ["r1", "r2", "r3"];
const PR_COUNT = 20;
const PRS = Array.from({ length: PR_COUNT }, (_, i) => i + 1);
const CLOSED = new Set([3, 7, 11, 15, 19]);
/** The kill lands on the first build of a PR's last commit once this many builds have started. */
const KILL_AFTER_BUILDS = 5;
/** Builds last at least this long, so the kill finds one under way. */
const MIN_BUILD_MS = 1500;
const RUN_LEASE_MS = 3000;
/** How far a PR's comment may lag behind its finished runs. */
const COMMENT_LAG_MS = 20_000;
/** How soon after a push its PR's older run, executing on any replica, must have stopped. */
const STOP_WITHIN_MS = 8000;

const replicaMain = fileURLToPath(new URL("../helpers/replica-main.ts", import.meta.url));
const docker = createDockerClient(services.dockerHost);
const log = pino({ level: "silent" });
const github = new FakeGitHubApi();

const commitA = (pr: number): string => `a${String(pr).padStart(2, "0")}`.padEnd(40, "a");
const commitB = (pr: number): string => `b${String(pr).padStart(2, "0")}`.padEnd(40, "b");
const prKey = (pr: number): string => `github:${REPO}#${pr}`;
const lastCommits = new Set(PRS.map(commitB));

interface Replica {
  id: string;
  child: ChildProcess;
  alive: boolean;
  exited: Promise<void>;
}

const replicas: Replica[] = [];
const acks = new Map<string, { replica: string; resolve: () => void; reject: (err: Error) => void }>();
const builds: Array<{ sha: string; replica: string; at: number }> = [];
/** Which replica marked each delivery processed. */
const processedBy = new Map<string, string>();
let kill: { replica: string; sha: string; at: number; inspected: Promise<Array<{ id: string; sha: string }>> } | undefined;
let killError: unknown;

let admin: pg.Pool | undefined;
let db: pg.Pool | undefined;
let store: PostgresStore | undefined;

function onMessage(replica: Replica, message: FromReplica): void {
  if (message.type === "ack") {
    acks.get(message.id)?.resolve();
    acks.delete(message.id);
  } else if (message.type === "processed") {
    processedBy.set(message.deliveryId, message.replicaId);
  } else if (message.type === "build-started") {
    builds.push({ sha: message.sha, replica: message.replicaId, at: Date.now() });
    if (!kill && replica.alive && builds.length >= KILL_AFTER_BUILDS && lastCommits.has(message.sha)) killReplica(replica, message.sha);
  }
}

/** SIGKILL a replica in the middle of building `sha`; it is not restarted (the other two carry on). */
function killReplica(replica: Replica, sha: string): void {
  replica.alive = false;
  replica.child.kill("SIGKILL");
  const at = Date.now();
  // Its runs still show as running under its name until their lease ends: those are the interrupted ones.
  const inspected = replica.exited.then(async () => {
    await sleep(100);
    const { rows } = await db!.query<{ id: string; record_json: string }>("SELECT id, record_json FROM runs WHERE owner = $1 AND status = 'running'", [replica.id]);
    return rows.map((r) => ({ id: r.id, sha: (JSON.parse(r.record_json) as RunRecord).sha }));
  });
  inspected.catch((err: unknown) => (killError = err));
  kill = { replica: replica.id, sha, at, inspected };
}

/** Pipe a replica's output (errors only, unless TEST_LOG_LEVEL says more) to a file or to stderr, prefixed. */
function relay(id: string, stream: NodeJS.ReadableStream | null): void {
  if (!stream) return;
  const dir = process.env.BERTH_REPLICAS_LOG_DIR;
  if (dir) {
    mkdirSync(dir, { recursive: true });
    stream.pipe(createWriteStream(join(dir, `${id}.log`), { flags: "a" }));
    return;
  }
  createInterface({ input: stream }).on("line", (line) => process.stderr.write(`[replica ${id}] ${line}\n`));
}

async function startReplica(id: string, url: string): Promise<Replica> {
  const child = fork(replicaMain, [], {
    execArgv: ["--import", "tsx"],
    stdio: ["ignore", "pipe", "pipe", "ipc"],
    env: {
      ...process.env,
      TEST_LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? "error",
      REPLICA_ID: id,
      REPLICA_DATABASE_URL: url,
      REPLICA_GITHUB_URL: github.url,
      REPLICA_REGISTRY: REGISTRY,
      REPLICA_DOCKER_HOST: services.dockerHost,
      REPLICA_INSTANCE: INSTANCE,
      REPLICA_MIN_BUILD_MS: String(MIN_BUILD_MS),
      REPLICA_RUN_LEASE_MS: String(RUN_LEASE_MS),
      REPLICA_HEARTBEAT_MS: "250",
    },
  });
  relay(id, child.stdout);
  relay(id, child.stderr);
  const replica: Replica = {
    id,
    child,
    alive: true,
    exited: new Promise((resolve) => child.once("exit", () => resolve())),
  };
  void replica.exited.then(() => {
    replica.alive = false;
    for (const [delivery, ack] of acks) {
      if (ack.replica !== id) continue;
      acks.delete(delivery);
      ack.reject(new Error(`replica ${id} exited before accepting ${delivery}`));
    }
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`replica ${id} did not start within 60 s`)), 60_000);
    child.on("message", (message: FromReplica) => {
      if (message.type === "ready") {
        clearTimeout(timer);
        resolve();
      } else {
        onMessage(replica, message);
      }
    });
    void replica.exited.then(() => reject(new Error(`replica ${id} exited while starting (exit code ${child.exitCode})`)));
  });
  return replica;
}

let turn = 0;

/** Deliver a webhook to the next live replica (round-robin); one that dies before accepting it passes it on. */
async function deliver(id: string, payload: Record<string, unknown>): Promise<void> {
  for (let tries = 0; tries < REPLICAS.length; tries++) {
    const live = replicas.filter((r) => r.alive);
    if (live.length === 0) break;
    const replica = live[turn++ % live.length]!;
    const accepted = new Promise<void>((resolve, reject) => acks.set(id, { replica: replica.id, resolve, reject }));
    replica.child.send({ type: "deliver", id, name: "pull_request", payload } satisfies ToReplica);
    try {
      await accepted;
      return;
    } catch {
      continue;
    }
  }
  throw new Error(`no replica accepted delivery ${id}`);
}

/** Poll `missing` (what is not there yet, or undefined when all is) until done or `deadlineMs` passed. */
async function waitUntil(what: string, deadlineMs: number, missing: () => Promise<string | undefined>): Promise<number> {
  const started = Date.now();
  let last: string | undefined = "not checked yet";
  while (Date.now() - started < deadlineMs) {
    if (killError) throw killError;
    last = await missing();
    if (last === undefined) return Date.now() - started;
    await sleep(250);
  }
  // What holds what: a lease of a dead replica is the first suspect of work that does not move.
  const leases = (await leaseHolders()).join("; ") || "none";
  throw new Error(`${what}: not reached within ${deadlineMs / 1000} s; still missing: ${last}; kill: ${kill ? `${kill.replica} at ${new Date(kill.at).toISOString()}` : "none"}; leases: ${leases}`);
}

/** The named leases held now: name, holder, time left. */
async function leaseHolders(): Promise<string[]> {
  const { rows } = await db!.query<{ name: string; owner: string; until: number }>("SELECT name, owner, until FROM leases ORDER BY name");
  return rows.map((r) => `${r.name} held by ${r.owner}${r.owner === kill?.replica ? " (killed)" : ""} for ${Math.round(r.until - Date.now())} ms more`);
}

function statusComments(pr: number): string[] {
  return github.commentsOf(REPO, pr).filter((body) => body.includes(STATUS_MARKER));
}

/** What the comment of a PR lacks to show commit B with every stage passed, and its close once closed (undefined: nothing). */
function commentGap(pr: number, closed = false): string | undefined {
  const bodies = statusComments(pr);
  // Berth never deletes a comment: a second one cannot go away by waiting.
  if (bodies.length > 1) throw new Error(`PR #${pr} has ${bodies.length} status comments:\n${bodies.join("\n---\n")}`);
  const body = bodies[0];
  if (!body) return `PR #${pr}: no status comment`;
  for (const part of [`preview of \`${sha7(commitB(pr))}\``, "| build | ✅ passed |", "| deploy | ✅ passed |", "| test | ✅ passed |"]) {
    if (!body.includes(part)) return `PR #${pr}: comment lacks ${part}:\n${body}\n`;
  }
  if (closed && CLOSED.has(pr) && !body.includes("The PR is closed: its preview is gone.")) return `PR #${pr}: comment does not say the PR is closed`;
  return undefined;
}

async function activeWork(): Promise<string | undefined> {
  const active = await store!.runsWithStatus(["queued", "running"]);
  if (active.length) return `${active.length} run(s) queued or running (${active.map((r) => `${r.prKey} ${sha7(r.sha)} ${r.status}`).join(", ")})`;
  const pending = await store!.pendingInbox();
  if (pending.length) return `${pending.length} delivery(ies) not processed (${pending.map((d) => d.deliveryId).join(", ")})`;
  return undefined;
}

async function allRuns(): Promise<Array<RunRecord & { owner: string | null }>> {
  const { rows } = await db!.query<{ record_json: string; owner: string | null }>("SELECT record_json, owner FROM runs ORDER BY seq");
  return rows.map((r) => ({ ...(JSON.parse(r.record_json) as RunRecord), owner: r.owner }));
}

async function ourContainers(): Promise<Array<{ id: string; pr: number; role: string; sha: string; state: string }>> {
  const list = await docker.listContainers({ all: true, filters: { label: [`berth.instance=${INSTANCE}`] } });
  return list.map((c) => ({ id: c.Id, pr: Number(c.Labels["berth.pr"]), role: c.Labels["berth.role"] ?? "", sha: c.Labels["berth.sha"] ?? "", state: c.State }));
}

afterAll(async () => {
  // Replicas still running (the test failed before stopping them) are killed: nothing may outlive the file.
  for (const replica of replicas) if (replica.child.exitCode === null && replica.child.signalCode === null) replica.child.kill("SIGKILL");
  await Promise.all(replicas.map((r) => r.exited));
  await github.stop();
  for (const container of await docker.listContainers({ all: true, filters: { label: [`berth.instance=${INSTANCE}`] } })) {
    await docker.getContainer(container.Id).remove({ force: true }).catch(() => undefined);
  }
  for (const network of await docker.listNetworks({ filters: { label: [`berth.instance=${INSTANCE}`] } })) {
    await docker.getNetwork(network.Id).remove().catch(() => undefined);
  }
  const [owner, name] = REPO.split("/") as [string, string];
  const repository = imageRepository(REGISTRY, { host: "github", owner, name });
  const cleaner = new DistributionCleaner({ client: new DistributionClient({ host: services.registry, log }), log });
  for (const pr of PRS) await cleaner.cleanupPullRequest(repository, pr).catch(() => undefined);
  for (const image of await docker.listImages({ filters: JSON.stringify({ reference: [repository] }) })) {
    await docker.getImage(image.Id).remove({ force: true }).catch(() => undefined);
  }
  await store?.close();
  await db?.end();
  if (admin) {
    await admin.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(DATABASE)} WITH (FORCE)`);
    await admin.end();
  }
}, 120_000);

describe("three replicas on one PostgreSQL database", () => {
  it.skipIf(skip)("share 20 PRs, survive a SIGKILL during a build, and leave one comment and no duplicate build per commit", { timeout: 300_000 }, async () => {
    if (!databaseUrl) throw new Error(MISSING_DATABASE);
    const started = Date.now();
    admin = new pg.Pool({ connectionString: databaseUrl, max: 1 });
    // CREATE DATABASE takes no parameters: the name is generated here and quoted.
    await admin.query(`CREATE DATABASE ${pg.escapeIdentifier(DATABASE)}`);
    const url = new URL(databaseUrl);
    url.pathname = `/${DATABASE}`;
    // Migrated here once, before the replicas start (they would take turns under the migration lock).
    store = await PostgresStore.open(url.toString());
    db = new pg.Pool({ connectionString: url.toString(), max: 3 });

    await github.start();
    const fake = github.repo(REPO);
    fake.config = sampleRepoConfig("ok");
    for (const pr of PRS) {
      fake.tarballs.set(commitA(pr), (await sampleSource({ variant: "ok", marker: `pr-${pr}-commit-a`, busybox: services.busybox })).data);
      fake.tarballs.set(commitB(pr), (await sampleSource({ variant: "ok", marker: `pr-${pr}-commit-b`, busybox: services.busybox })).data);
    }

    replicas.push(...(await Promise.all(REPLICAS.map((id) => startReplica(id, url.toString())))));

    // The partial unique index should make this impossible; looked at anyway, every 100 ms.
    const doubleRuns: string[] = [];
    let samples = 0;
    let sampling = false;
    const sampler = setInterval(() => {
      if (sampling) return;
      sampling = true;
      db!
        .query<{ pr_key: string; n: number }>("SELECT pr_key, count(*)::int AS n FROM runs WHERE status = 'running' GROUP BY pr_key HAVING count(*) > 1")
        .then(({ rows }) => {
          samples++;
          for (const row of rows) doubleRuns.push(`${row.pr_key}: ${row.n} running at ${Date.now() - started} ms`);
        })
        .catch(() => undefined)
        .finally(() => (sampling = false));
    }, 100);

    try {
      // Every PR opened with A, then pushed B: the pushes arrive while the first As build.
      for (const pr of PRS) {
        await deliver(`open-${pr}`, pullRequestPayload({ action: "opened", repo: REPO, prNumber: pr, headSha: commitA(pr) }));
        await sleep(100);
      }
      for (const pr of PRS) {
        await deliver(`sync-${pr}`, pullRequestPayload({ action: "synchronize", repo: REPO, prNumber: pr, headSha: commitB(pr) }));
        await sleep(100);
      }

      const pipelinesMs = await waitUntil("every pipeline done", 180_000, async () => {
        const work = await activeWork();
        if (work) return work;
        for (const pr of PRS) {
          const [latest] = await store!.latestPipelineRuns(prKey(pr), 1);
          if (latest?.sha === commitB(pr) && latest.status === "failed") {
            // Nothing runs it again: say why at once instead of waiting for the deadline.
            const failed = (await store!.stagesOf(latest.id)).filter((stage) => stage.state === "failed");
            throw new Error(`PR #${pr}: the run of commit B failed: ${failed.map((stage) => `${stage.name}: ${stage.detail.reason ?? "no reason"}`).join("; ")}`);
          }
          if (latest?.sha !== commitB(pr) || latest.status !== "passed") return `PR #${pr}: latest pipeline run is ${latest ? `${sha7(latest.sha)} ${latest.status}` : "missing"}`;
        }
        return undefined;
      });
      // The comments follow the runs; how far behind they are is asserted at the end (after everything
      // else has been looked at), with the leases a dead replica left that may explain a lag.
      let lagging = "";
      let leasesDuringLag = "";
      const lagFrom = Date.now();
      const commentLagMs = await waitUntil("every comment showing commit B", 200_000, async () => {
        for (const pr of PRS) {
          const gap = commentGap(pr);
          if (!gap) continue;
          if (!leasesDuringLag && Date.now() - lagFrom > COMMENT_LAG_MS) {
            lagging = gap;
            leasesDuringLag = (await leaseHolders()).join("; ") || "none";
          }
          return gap;
        }
        return undefined;
      });
      expect(kill, "a replica was killed during a build").toBeDefined();

      for (const pr of CLOSED) await deliver(`close-${pr}`, pullRequestPayload({ action: "closed", repo: REPO, prNumber: pr, headSha: commitB(pr), merged: false }));
      const closeMs = await waitUntil("closed PRs cleaned up and every commit status written", 90_000, async () => {
        const work = await activeWork();
        if (work) return work;
        for (const pr of PRS) {
          const gap = commentGap(pr, true);
          if (gap) return gap;
        }
        const left = (await ourContainers()).filter((c) => CLOSED.has(c.pr));
        if (left.length) return `${left.length} container(s) of closed PRs`;
        const outbox = await store!.outboxStatuses();
        if (outbox.length) return `${outbox.length} commit status(es) not written yet`;
        return undefined;
      });
      clearInterval(sampler);

      // ---- every run terminal; one run per PR at a time ----
      const runs = await allRuns();
      expect(runs.filter((r) => r.status === "queued" || r.status === "running")).toEqual([]);
      expect(doubleRuns, "two runs of one PR running at once").toEqual([]);
      expect(samples).toBeGreaterThan(100);

      // ---- exactly one status comment per PR, showing commit B with its stages passed ----
      for (const pr of PRS) {
        expect(statusComments(pr), `status comments of PR #${pr}`).toHaveLength(1);
        expect(commentGap(pr, true)).toBeUndefined();
      }

      // ---- the interrupted run: re-queued, finished on another replica ----
      const interrupted = await kill!.inspected;
      const killed = kill!.replica;
      expect(interrupted.map((r) => r.sha), "runs the kill interrupted").toContain(kill!.sha);
      for (const { id } of interrupted) {
        const run = runs.find((r) => r.id === id)!;
        expect(["passed", "superseded"], `interrupted run ${id} (${sha7(run.sha)})`).toContain(run.status);
        if (run.status === "passed") {
          expect(run.attempts, `attempts of interrupted run ${id}`).toBe(2);
          expect(run.owner).not.toBe(killed);
        }
      }
      const resumed = runs.find((r) => r.id === interrupted.find((i) => i.sha === kill!.sha)!.id)!;
      // The PR's last commit: nothing newer could supersede it, so it ran again to the end.
      expect(resumed.status).toBe("passed");
      expect(resumed.attempts).toBe(2);
      expect(builds.filter((b) => b.sha === kill!.sha && b.replica !== killed).length).toBe(1);
      const killToTerminalMs = resumed.finishedAt! - kill!.at;

      // ---- no commit built twice, except those of runs the kill interrupted ----
      const perSha = new Map<string, number>();
      for (const build of builds) perSha.set(build.sha, (perSha.get(build.sha) ?? 0) + 1);
      const twice = new Set(interrupted.map((r) => r.sha));
      for (const [sha, count] of perSha) expect(count, `builds of ${sha7(sha)}`).toBeLessThanOrEqual(twice.has(sha) ? 2 : 1);
      for (const pr of PRS) expect(perSha.get(commitB(pr)), `builds of PR #${pr}'s last commit`).toBeGreaterThanOrEqual(1);

      // ---- previews: none left for closed PRs, B's for every open one (and it serves B) ----
      const containers = await ourContainers();
      expect(containers.filter((c) => CLOSED.has(c.pr))).toEqual([]);
      for (const pr of PRS.filter((p) => !CLOSED.has(p))) {
        const previews = containers.filter((c) => c.pr === pr && c.role === "preview");
        expect(previews.map((c) => `${sha7(c.sha)} ${c.state}`), `preview containers of PR #${pr}`).toEqual([`${sha7(commitB(pr))} running`]);
        const previewUrl = /\*\*Preview:\*\* (http:\/\/127\.0\.0\.1:\d+\/)/.exec(statusComments(pr)[0]!)?.[1];
        expect(previewUrl, `preview URL of PR #${pr}`).toBeDefined();
        const page = await fetch(previewUrl!, { signal: AbortSignal.timeout(5000) });
        expect(await page.text()).toContain(`pr-${pr}-commit-b`);
      }
      for (const pr of CLOSED) expect(statusComments(pr)[0]).toContain("**Preview:** none running");

      // ---- commit statuses of the last commits end in success ----
      for (const pr of PRS) {
        const last = new Map<string, string>();
        for (const s of github.statuses.filter((st) => st.sha === commitB(pr))) last.set(s.context, s.state);
        expect(Object.fromEntries(last), `final statuses of PR #${pr}'s last commit`).toEqual({ "berth/build": "success", "berth/deploy": "success", "berth/test": "success" });
      }

      // ---- a push stops the PR's older run within seconds, wherever it executes ----
      const stops: Array<{ pr: number; ms: number; cross: boolean }> = [];
      for (const pr of PRS) {
        const older = runs.find((r) => r.sha === commitA(pr))!;
        const newer = runs.find((r) => r.sha === commitB(pr) && r.kind === "pipeline")!;
        // Superseded, unless it was done before its push arrived.
        expect(["superseded", "passed"], `run of PR #${pr}'s first commit`).toContain(older.status);
        if (older.status !== "superseded" || older.startedAt === undefined || interrupted.some((i) => i.id === older.id)) continue;
        const stopper = processedBy.get(`sync-${pr}`);
        stops.push({ pr, ms: older.finishedAt! - newer.createdAt, cross: stopper !== undefined && stopper !== older.owner });
      }
      expect(stops.length, "older runs stopped while running").toBeGreaterThan(0);
      for (const stop of stops) expect(stop.ms, `stop of PR #${stop.pr}'s older run`).toBeLessThanOrEqual(STOP_WITHIN_MS);

      const maxPerSha = Math.max(...perSha.values());
      const byReplica = REPLICAS.map((id) => `${id}: ${builds.filter((b) => b.replica === id).length} builds, ${[...processedBy.values()].filter((r) => r === id).length} deliveries`).join("; ");
      console.log(
        [
          `replicas: ${PR_COUNT} PRs × 2 pushes on ${REPLICAS.length} replicas, ${Date.now() - started} ms total (pipelines done ${pipelinesMs} ms after the last push, comments ${commentLagMs} ms after that, closes ${closeMs} ms)`,
          `builds: ${builds.length} for ${perSha.size} commits, at most ${maxPerSha} per commit (${[...perSha].filter(([, n]) => n > 1).map(([sha, n]) => `${sha7(sha)}×${n}`).join(", ") || "none twice"})`,
          `kill: ${killed} during the build of ${sha7(kill!.sha)} (build ${builds.findIndex((b) => b.sha === kill!.sha) + 1}); interrupted runs ${interrupted.map((r) => sha7(r.sha)).join(", ")}; the interrupted build's run terminal ${killToTerminalMs} ms after the kill`,
          `stops of running older runs: ${stops.length} (${stops.filter((s) => s.cross).length} across replicas), slowest ${Math.max(...stops.map((s) => s.ms))} ms`,
          `per replica: ${byReplica}; ${samples} samples of running runs, ${doubleRuns.length} with two of one PR`,
        ].join("\n"),
      );

      // A clean shutdown of the survivors.
      for (const replica of replicas.filter((r) => r.alive)) replica.child.send({ type: "stop" } satisfies ToReplica);
      await Promise.race([Promise.all(replicas.map((r) => r.exited)), sleep(30_000).then(() => Promise.reject(new Error("replicas did not stop within 30 s")))]);
      expect(replicas.filter((r) => r.id !== killed).map((r) => r.child.exitCode)).toEqual([0, 0]);

      expect(commentLagMs, `status comments behind the finished runs (${lagging}); leases then: ${leasesDuringLag}`).toBeLessThanOrEqual(COMMENT_LAG_MS);
    } finally {
      clearInterval(sampler);
    }
  });
});
