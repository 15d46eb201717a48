/**
 * The preview gateway's added latency: the same requests straight to a preview and through the
 * gateway (routing by host name, proxying), in one run, interleaved so both see the same machine.
 * Prints p50 / p99 of each and the ratios (goal: ≤ 1.2× at p99).
 *
 *   npm run bench:gateway            (N=4000 requests per path, 4 in flight; override with N=, CONCURRENCY=)
 *
 * Two previews are measured: a local HTTP server answering a 2 KiB page (the gateway's own cost
 * against an upstream that does nothing), and, when the integration services run
 * (`bash scripts/services.sh start`), a real preview container (the sample app, busybox httpd,
 * deployed by the Docker target) reached at its published port, straight and through the gateway.
 */
import { createServer, request, Agent } from "node:http";
import type { AddressInfo } from "node:net";
import { pino } from "pino";
import { createDockerClient } from "../src/adapters/docker/docker-client.js";
import { DockerImageBuilder } from "../src/adapters/docker/image-builder.js";
import { parseRepoConfig } from "../src/config/repo-config.js";
import { createRedactor } from "../src/domain/redact.js";
import { DockerTarget } from "../src/targets/docker-target.js";
import { sampleRepoConfig, sampleSource } from "../test/helpers/sample-app.js";
import { requireServices } from "../test/helpers/services.js";
import { PreviewGateway } from "../src/gateway/preview-gateway.js";
import { gatewayLabelOf } from "../src/gateway/preview-host-names.js";
import { percentile } from "./stats.js";

const N = Number(process.env.N ?? 4000);
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 4);
const page = "x".repeat(2048);

const upstream = createServer((_req, res) => {
  res.writeHead(200, { "content-type": "text/html", "content-length": page.length });
  res.end(page);
});
await new Promise<void>((resolve) => upstream.listen(0, "127.0.0.1", resolve));
const upstreamPort = (upstream.address() as AddressInfo).port;

const key = { host: "github" as const, owner: "acme", name: "shop", pr: 1 };
const label = gatewayLabelOf(key, "default");
let upstreamTarget = `http://127.0.0.1:${upstreamPort}`;
const gateway = new PreviewGateway({
  routes: { resolve: async (l) => (l === label ? { key, prKey: "github:acme/shop#1", title: "acme/shop#1", upstream: upstreamTarget, target: "docker", sha: "a".repeat(40) } : undefined) },
  domain: "localhost",
  log: pino({ level: "silent" }),
});
const gatewayPort = await gateway.listen(0, "127.0.0.1");

const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });

function once(port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const req = request({ host: "127.0.0.1", port, path: "/", agent, headers: { host } }, (res) => {
      res.resume();
      res.on("end", () => (res.statusCode === 200 ? resolve(Number(process.hrtime.bigint() - started) / 1e6) : reject(new Error(`HTTP ${res.statusCode}`))));
    });
    req.on("error", reject);
    req.end();
  });
}

async function measure(port: number): Promise<{ direct: number[]; gateway: number[] }> {
  const direct: number[] = [];
  const through: number[] = [];
  let next = 0;
  const worker = async () => {
    while (next < N) {
      next++;
      // Interleaved: each worker alternates, so neither path gets a quieter moment.
      direct.push(await once(port, `127.0.0.1:${port}`));
      through.push(await once(gatewayPort, `${label}.localhost:${gatewayPort}`));
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return { direct, gateway: through };
}

const fmt = (ms: number) => `${ms.toFixed(3)} ms`;
async function report(what: string, port: number): Promise<void> {
  upstreamTarget = `http://127.0.0.1:${port}`;
  // Warm up (JIT, sockets), then measure.
  await measure(port);
  const { direct, gateway: through } = await measure(port);
  const p50d = percentile(direct, 50);
  const p99d = percentile(direct, 99);
  const p50g = percentile(through, 50);
  const p99g = percentile(through, 99);
  console.log(`gateway latency, ${what}: ${N} requests per path, ${CONCURRENCY} in flight`);
  console.log(`  straight to the preview : p50 ${fmt(p50d)}  p99 ${fmt(p99d)}`);
  console.log(`  through the gateway     : p50 ${fmt(p50g)}  p99 ${fmt(p99g)}`);
  console.log(`  ratio                   : p50 ${(p50g / p50d).toFixed(2)}×  p99 ${(p99g / p99d).toFixed(2)}×  (goal ≤ 1.2× at p99)`);
  console.log(`  added per request       : p50 ${fmt(p50g - p50d)}  p99 ${fmt(p99g - p99d)}`);
}

await report("local server answering 2 KiB", upstreamPort);

let services: ReturnType<typeof requireServices> | undefined;
try {
  services = requireServices();
} catch {
  console.log("(no integration services: the container measurement is skipped; bash scripts/services.sh start)");
}
if (services) {
  const docker = createDockerClient(services.dockerHost);
  const log = pino({ level: "silent" });
  const redact = createRedactor([]);
  const tag = `berth-bench/gateway:${Date.now()}`;
  const built = await new DockerImageBuilder({ docker, log, redact }).build({ source: await sampleSource({ variant: "ok", marker: "bench", busybox: services.busybox }), context: ".", dockerfile: "Dockerfile", buildArgs: {}, labels: {}, tag, signal: new AbortController().signal });
  if (!built.ok) throw new Error(built.error);
  const parsed = parseRepoConfig(sampleRepoConfig("ok"));
  if (!parsed.ok) throw new Error(parsed.error);
  const target = new DockerTarget({ docker, previewHost: "127.0.0.1", log, redact });
  const benchKey = { host: "github" as const, owner: "bench", name: "gateway", pr: 1 };
  const result = await target.deploy({ key: benchKey, sha: "b".repeat(40), runId: "bench", image: tag, preview: parsed.config.preview, signal: new AbortController().signal });
  try {
    await report("preview container (busybox httpd) at its published port", Number(new URL(result.upstream!).port));
  } finally {
    await target.remove(benchKey);
    await docker.getImage(tag).remove().catch(() => undefined);
  }
}

agent.destroy();
await gateway.close();
await new Promise((resolve) => upstream.close(resolve));
