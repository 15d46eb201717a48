/**
 * The preview gateway's added latency: the same requests straight to a preview and through the
 * gateway (routing by host name, proxying), in one run, interleaved so both see the same machine.
 * Prints p50 / p99 of each and the ratios (goal: ≤ 1.2× at p99).
 *
 *   npm run bench:gateway            (N=4000 requests per path, 4 in flight; override with N=, CONCURRENCY=)
 *
 * The preview is a local HTTP server answering a 2 KiB page (what a container behind the Docker
 * bridge answers is the same work for the gateway; the engine's own network is not measured).
 */
import { createServer, request, Agent } from "node:http";
import type { AddressInfo } from "node:net";
import { pino } from "pino";
import { PreviewGateway } from "../src/gateway/preview-gateway.js";
import { gatewayLabelOf } from "../src/gateway/preview-host-names.js";
import type { GatewayRoute } from "../src/gateway/route-table.js";
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
const route: GatewayRoute = { key, prKey: "github:acme/shop#1", title: "acme/shop#1", upstream: `http://127.0.0.1:${upstreamPort}`, target: "docker", sha: "a".repeat(40) };
const gateway = new PreviewGateway({ routes: { resolve: async (l) => (l === label ? route : undefined) }, domain: "localhost", log: pino({ level: "silent" }) });
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

async function measure(): Promise<{ direct: number[]; gateway: number[] }> {
  const direct: number[] = [];
  const through: number[] = [];
  let next = 0;
  const worker = async () => {
    while (next < N) {
      next++;
      // Interleaved: each worker alternates, so neither path gets a quieter moment.
      direct.push(await once(upstreamPort, `127.0.0.1:${upstreamPort}`));
      through.push(await once(gatewayPort, `${label}.localhost:${gatewayPort}`));
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return { direct, gateway: through };
}

// Warm up (JIT, sockets), then measure.
await measure();
const { direct, gateway: through } = await measure();
const fmt = (ms: number) => `${ms.toFixed(3)} ms`;
const p50d = percentile(direct, 50);
const p99d = percentile(direct, 99);
const p50g = percentile(through, 50);
const p99g = percentile(through, 99);
console.log(`gateway latency, ${N} requests per path, ${CONCURRENCY} in flight, 2 KiB page`);
console.log(`  straight to the preview : p50 ${fmt(p50d)}  p99 ${fmt(p99d)}`);
console.log(`  through the gateway     : p50 ${fmt(p50g)}  p99 ${fmt(p99g)}`);
console.log(`  ratio                   : p50 ${(p50g / p50d).toFixed(2)}×  p99 ${(p99g / p99d).toFixed(2)}×  (goal ≤ 1.2× at p99)`);
console.log(`  added per request       : p50 ${fmt(p50g - p50d)}  p99 ${fmt(p99g - p99d)}`);

agent.destroy();
await gateway.close();
await new Promise((resolve) => upstream.close(resolve));
