/**
 * A Probot instance with berth loaded, state in a temp dir, and fake builder/target ports, for
 * front-door tests driven by `probot.receive`.
 */
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { Probot, ProbotOctokit } from "probot";
import { createRedactor } from "../../src/domain/redact.js";
import type { ImageBuilder, PreviewTarget } from "../../src/domain/ports.js";
import { createBerth, type BerthOptions } from "../../src/index.js";
import type { Engine } from "../../src/pipeline/engine.js";
import { SqliteStore } from "../../src/pipeline/store-sqlite.js";
import type { Store } from "../../src/pipeline/store.js";
import type { RouteHandler } from "../../src/web/routes.js";

const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048, privateKeyEncoding: { type: "pkcs8", format: "pem" }, publicKeyEncoding: { type: "spki", format: "pem" } });

export interface Harness {
  probot: Probot;
  engine: Engine;
  store: Store;
  routes: RouteHandler[];
  dataDir: string;
  /** Deliver a webhook through Probot and wait until berth has done everything it leads to. */
  deliver(name: "pull_request" | "issue_comment" | "push", payload: Record<string, unknown>, id?: string): Promise<void>;
  close(): Promise<void>;
}

let deliveries = 0;

export interface HarnessOptions {
  builder: ImageBuilder;
  target: PreviewTarget;
  commentIntervalMs?: number;
  /** Base URL of the GitHub API (default api.github.com, mocked by nock). */
  baseUrl?: string;
  registry?: string;
  dataDir?: string;
  /** Gitee (or other) hosts with their webhook route. */
  extraHosts?: BerthOptions["extraHosts"];
  /** Registry API (Harbor). */
  artifacts?: BerthOptions["artifacts"];
  /** Registry clean-up of closed PRs (default: `artifacts`). */
  registryCleaner?: BerthOptions["registryCleaner"];
  /** A store opened elsewhere (PostgreSQL shared by replicas); default SQLite in `dataDir`. Closed by `close()`. */
  store?: Store;
  /** Further engine options (replica id, lease and heartbeat timings, concurrency). */
  engine?: Partial<Pick<BerthOptions, "replicaId" | "runLeaseMs" | "heartbeatMs" | "inboxClaimMarginMs" | "concurrency" | "eventTimeoutMs" | "gateway" | "lifecycleIntervalMs" | "notify">>;
}

export async function createHarness(options: HarnessOptions): Promise<Harness> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), "berth-test-"));
  const store = options.store ?? SqliteStore.open(dataDir);
  const log = pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" });
  const probot = new Probot({
    appId: 1,
    privateKey,
    log,
    ...(options.baseUrl ? { baseUrl: options.baseUrl } : {}),
    // Throttling spaces writes 1 s apart (right for GitHub, slow for tests); retries would hide errors.
    Octokit: ProbotOctokit.defaults((options: Record<string, unknown>) => ({ ...options, retry: { enabled: false }, throttle: { enabled: false } })),
  });
  const { app, engine } = createBerth({
    store,
    builder: options.builder,
    targets: { [options.target.kind]: options.target },
    registry: options.registry ?? "127.0.0.1:5000/previews",
    publicUrl: "https://berth.example.com",
    concurrency: 2,
    commentIntervalMs: options.commentIntervalMs ?? 0,
    redact: createRedactor([]),
    log,
    extraHosts: options.extraHosts,
    artifacts: options.artifacts,
    registryCleaner: options.registryCleaner,
    ...options.engine,
  });
  const routes: RouteHandler[] = [];
  await probot.load(app, { cwd: dataDir, addHandler: (h) => routes.push(h as RouteHandler) });
  return {
    probot,
    engine,
    store,
    routes,
    dataDir,
    async deliver(name, payload, id) {
      await probot.receive({ id: id ?? `delivery-${++deliveries}`, name, payload } as never);
      await engine.idle();
    },
    async close() {
      await engine.stop();
      await store.close();
      if (!options.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
