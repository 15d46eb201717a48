/**
 * berth behind real HTTP for front-door tests: a Probot app (its Octokit without retries or
 * throttling) loaded through Probot's own Node middleware, on a loopback port.
 */
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { createNodeMiddleware, Probot, ProbotOctokit } from "probot";
import { createRedactor } from "../../src/domain/redact.js";
import { createBerth, type BerthOptions } from "../../src/index.js";
import type { Engine } from "../../src/pipeline/engine.js";
import { SqliteStore } from "../../src/pipeline/store-sqlite.js";
import type { Store } from "../../src/pipeline/store.js";
import { FakeTarget } from "../fakes/fake-adapters.js";

export interface HttpBerth {
  engine: Engine;
  store: Store;
  /** `http://127.0.0.1:<port>` */
  origin: string;
  port: number;
  close(): Promise<void>;
}

const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048, privateKeyEncoding: { type: "pkcs8", format: "pem" }, publicKeyEncoding: { type: "spki", format: "pem" } });

/** Octokit plugins added to Probot's (as main.ts adds the metrics plugin). */
type OctokitPlugins = Array<Parameters<typeof ProbotOctokit.plugin>[0]>;

/**
 * Start berth with `secret` as the webhook secret; options override the test defaults. A `store`
 * given is used (and closed by `close()`); default SQLite in a temp dir.
 */
export async function startHttpBerth(secret: string, berthOptions: Pick<BerthOptions, "builder"> & Partial<BerthOptions> & { octokitPlugins?: OctokitPlugins }): Promise<HttpBerth> {
  const { octokitPlugins = [], ...options } = berthOptions;
  const dataDir = mkdtempSync(join(tmpdir(), "berth-http-"));
  const store = options.store ?? SqliteStore.open(dataDir);
  const log = pino({ level: "silent" });
  const probot = new Probot({
    appId: 1,
    privateKey,
    secret,
    log,
    Octokit: ProbotOctokit.plugin(...octokitPlugins).defaults((o: Record<string, unknown>) => ({ ...o, retry: { enabled: false }, throttle: { enabled: false } })),
  });
  const berth = createBerth({
    store,
    targets: { docker: new FakeTarget() },
    publicUrl: "https://berth.example.com",
    concurrency: 1,
    commentIntervalMs: 0,
    redact: createRedactor([]),
    log,
    ...options,
  });
  const middleware = await createNodeMiddleware(berth.app, { probot });
  const server: Server = createServer((req, res) => void middleware(req, res, () => res.writeHead(404).end()));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    engine: berth.engine,
    store,
    port,
    origin: `http://127.0.0.1:${port}`,
    async close() {
      await berth.engine.stop();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await store.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
