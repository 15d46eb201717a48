/**
 * One berth replica in a process of its own, for `test/integration/replicas.test.ts`: the real
 * engine on a shared PostgreSQL store, the fake GitHub API over HTTP, the real Docker engine and
 * registry. Started with `child_process.fork(..., { execArgv: ["--import", "tsx"] })`; it talks to
 * the test over IPC only and prints nothing but errors.
 *
 * Environment: REPLICA_ID, REPLICA_DATABASE_URL, REPLICA_GITHUB_URL, REPLICA_REGISTRY (registry
 * host plus a namespace of the test's own), REPLICA_DOCKER_HOST, REPLICA_INSTANCE (the Docker
 * target's `berth.instance` label, so nothing collides with other tests), REPLICA_MIN_BUILD_MS.
 *
 * Messages in: `{ type: "deliver", id, name, payload }` (answered with `{ type: "ack", id }` once
 * berth accepted it) and `{ type: "stop" }` (a clean shutdown, then exit). Messages out, test-only
 * hooks: `ready`; `build-started` { sha, tag } before each image build (builds last at least
 * REPLICA_MIN_BUILD_MS, so a kill can land during one); `processed` { deliveryId } when this
 * replica marked a delivery done (which replica handled which webhook). Every message out carries
 * `replicaId`.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { pino } from "pino";
import { createDockerClient } from "../../src/adapters/docker/docker-client.js";
import { DockerImageBuilder } from "../../src/adapters/docker/image-builder.js";
import { DistributionCleaner } from "../../src/adapters/registry/distribution-cleaner.js";
import { DistributionClient } from "../../src/adapters/registry/distribution-client.js";
import type { BuildOutcome, BuildRequest, ImageBuilder, LogSink } from "../../src/domain/ports.js";
import { createRedactor } from "../../src/domain/redact.js";
import { PostgresStore } from "../../src/pipeline/store-postgres.js";
import { DockerTarget } from "../../src/targets/docker-target.js";
import { createHarness, type Harness } from "./probot-harness.js";

/** What the test sends. */
export type ToReplica = { type: "deliver"; id: string; name: "pull_request"; payload: Record<string, unknown> } | { type: "stop" };

/** What a replica sends. */
export type FromReplica =
  | { type: "ready"; replicaId: string }
  | { type: "ack"; replicaId: string; id: string }
  | { type: "build-started"; replicaId: string; sha: string; tag: string }
  | { type: "processed"; replicaId: string; deliveryId: string };

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`replica-main: ${name} is not set`);
  return value;
}

function send(message: FromReplica): void {
  // The test may be gone (it killed us, or it failed): nothing to tell then.
  if (process.connected) process.send?.(message);
}

/** The real builder, reporting each build to the test and lasting at least `minMs` (abortable). */
class ReportingBuilder implements ImageBuilder {
  constructor(
    private readonly inner: ImageBuilder,
    private readonly replicaId: string,
    private readonly minMs: number,
  ) {}

  async build(req: BuildRequest): Promise<BuildOutcome> {
    send({ type: "build-started", replicaId: this.replicaId, sha: req.labels["org.opencontainers.image.revision"] ?? "", tag: req.tag });
    const padding = sleep(this.minMs, undefined, { signal: req.signal }).catch(() => undefined);
    const [outcome] = await Promise.all([this.inner.build(req), padding]);
    return outcome;
  }

  push(tag: string, signal: AbortSignal, onLog?: LogSink): Promise<{ digest: string }> {
    return this.inner.push(tag, signal, onLog);
  }

  hasImage(tag: string): Promise<boolean> {
    return this.inner.hasImage(tag);
  }

  tag(source: string, target: string): Promise<void> {
    return this.inner.tag(source, target);
  }

  removePullRequestImages(repository: string, prNumber: number, owner: Record<string, string>): ReturnType<ImageBuilder["removePullRequestImages"]> {
    return this.inner.removePullRequestImages(repository, prNumber, owner);
  }
}

async function main(): Promise<void> {
  const replicaId = required("REPLICA_ID");
  const registry = required("REPLICA_REGISTRY");
  const log = pino({ level: process.env.TEST_LOG_LEVEL ?? "error" });
  const redact = createRedactor([]);
  const docker = createDockerClient(required("REPLICA_DOCKER_HOST"));
  const store = await PostgresStore.open(required("REPLICA_DATABASE_URL"), { log });

  // Test-only hook: which replica handled which delivery (the inbox forgets its claimer once done).
  const markProcessed = store.markProcessed.bind(store);
  store.markProcessed = async (deliveryId, now, error) => {
    await markProcessed(deliveryId, now, error);
    send({ type: "processed", replicaId, deliveryId });
  };

  const registryHost = registry.split("/")[0]!;
  const harness: Harness = await createHarness({
    store,
    baseUrl: required("REPLICA_GITHUB_URL"),
    registry,
    builder: new ReportingBuilder(new DockerImageBuilder({ docker, log, redact }), replicaId, Number(process.env.REPLICA_MIN_BUILD_MS ?? 0)),
    target: new DockerTarget({ docker, previewHost: "127.0.0.1", log, redact, instance: required("REPLICA_INSTANCE") }),
    registryCleaner: new DistributionCleaner({ client: new DistributionClient({ host: registryHost, log }), log }),
    engine: {
      replicaId,
      runLeaseMs: Number(process.env.REPLICA_RUN_LEASE_MS ?? 3000),
      heartbeatMs: Number(process.env.REPLICA_HEARTBEAT_MS ?? 250),
      concurrency: 2,
      // A dead replica's claimed deliveries go to the others after this plus the margin.
      eventTimeoutMs: Number(process.env.REPLICA_EVENT_TIMEOUT_MS ?? 10_000),
      inboxClaimMarginMs: 1000,
    },
  });

  let stopping = false;
  process.on("message", (message: ToReplica) => {
    if (message.type === "deliver") {
      harness.probot
        .receive({ id: message.id, name: message.name, payload: message.payload } as never)
        .then(() => send({ type: "ack", replicaId, id: message.id }))
        .catch((err: unknown) => console.error(`replica ${replicaId}: delivery ${message.id} failed:`, err));
    } else if (message.type === "stop" && !stopping) {
      stopping = true;
      harness
        .close()
        .then(() => process.exit(0))
        .catch((err: unknown) => {
          console.error(`replica ${replicaId}: shutdown failed:`, err);
          process.exit(1);
        });
    }
  });
  // The test process went away without stopping us: nobody is left to clean up after a replica.
  process.on("disconnect", () => {
    if (!stopping) process.exit(1);
  });
  send({ type: "ready", replicaId });
}

main().catch((err: unknown) => {
  console.error("replica-main failed to start:", err);
  process.exit(1);
});
