/**
 * Readiness over real HTTP: `/readyz` answers 200 only when every check passes, and 503 with a JSON
 * body naming the check that failed and why: a store that does not answer (every store adapter's
 * `ping`), a Docker engine nobody listens for, a Kubernetes API that does not answer `/version`, a
 * check that hangs past its deadline. `/healthz`
 * answers while dependencies are down.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { createDockerClient } from "../../src/adapters/docker/docker-client.js";
import { KubeClient } from "../../src/adapters/kubernetes/kube-client.js";
import type { Store } from "../../src/pipeline/store.js";
import { createOpsRoutes } from "../../src/web/ops-routes.js";
import type { ReadinessCheck } from "../../src/web/readiness.js";
import { startFakeKubeApi } from "../fakes/kube-api.js";
import { cleanupStoreBackends, storeBackends } from "../helpers/store-backends.js";

const servers: Server[] = [];

afterEach(async () => {
  for (const server of servers.splice(0)) await new Promise<void>((resolve) => server.close(() => resolve()));
});
afterAll(cleanupStoreBackends);

async function serve(readiness: ReadinessCheck[], readinessTimeoutMs?: number): Promise<string> {
  const routes = createOpsRoutes({ readiness, ...(readinessTimeoutMs !== undefined ? { readinessTimeoutMs } : {}) });
  const server = createServer((req, res) => void Promise.resolve(routes(req, res)).then((handled) => handled || res.writeHead(404).end()));
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A loopback port nobody listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function get(url: string): Promise<{ status: number; body: any; type: string | null }> {
  const res = await fetch(url);
  const text = await res.text();
  return { status: res.status, type: res.headers.get("content-type"), body: res.headers.get("content-type")?.startsWith("application/json") ? JSON.parse(text) : text };
}

describe.each(storeBackends)("readiness of the $name store", (backend) => {
  it.skipIf(backend.skip !== undefined)("is ready while the store answers and 503 naming the store once it does not", async () => {
    const store: Store = await backend.open();
    const origin = await serve([{ name: "store", check: () => store.ping() }]);
    expect(await get(`${origin}/readyz`)).toEqual({ status: 200, type: "application/json; charset=utf-8", body: { status: "ready", checks: { store: { ok: true } } } });
    await store.close();
    const down = await get(`${origin}/readyz`);
    expect(down.status).toBe(503);
    expect(down.body.status).toBe("not ready");
    expect(down.body.checks.store.ok).toBe(false);
    expect(down.body.checks.store.error).toMatch(/\S/);
    expect(await get(`${origin}/healthz`)).toMatchObject({ status: 200, body: "ok\n" });
  });
});

it("is 503 naming docker when the Docker engine does not answer, the store check still passing", async () => {
  const docker = createDockerClient(`tcp://127.0.0.1:${await closedPort()}`);
  const origin = await serve([
    { name: "store", check: async () => undefined },
    { name: "docker", check: () => docker.ping() },
  ]);
  const { status, body } = await get(`${origin}/readyz`);
  expect(status).toBe(503);
  expect(body.checks.store).toEqual({ ok: true });
  expect(body.checks.docker.ok).toBe(false);
  expect(body.checks.docker.error).toMatch(/ECONNREFUSED/);
});

it("bounds each check by its deadline: a hanging check fails as a timeout, and is told to stop", async () => {
  let aborted = false;
  const origin = await serve(
    [
      {
        name: "kubernetes",
        check: (signal) =>
          new Promise(() => {
            signal.addEventListener("abort", () => (aborted = true));
          }),
      },
    ],
    150,
  );
  const { status, body } = await get(`${origin}/readyz`);
  expect(status).toBe(503);
  expect(body.checks.kubernetes).toEqual({ ok: false, error: "no answer within 150 ms" });
  expect(aborted).toBe(true);
});

it("asks the Kubernetes API for its version: ready with a cluster that answers, 503 naming kubernetes with one that does not", async () => {
  const fake = await startFakeKubeApi();
  try {
    const working = new KubeClient({ kubeconfig: fake.kubeconfigPath, context: "fake" });
    const broken = new KubeClient({ kubeconfig: fake.kubeconfigPath, context: "broken" });
    const up = await get(`${await serve([{ name: "kubernetes", check: () => working.serverVersion() }])}/readyz`);
    expect(up).toMatchObject({ status: 200, body: { checks: { kubernetes: { ok: true } } } });
    expect(fake.requests.some((r) => r.method === "GET" && r.path.replace(/\/$/, "") === "/version")).toBe(true);
    const down = await get(`${await serve([{ name: "kubernetes", check: () => broken.serverVersion() }])}/readyz`);
    expect(down.status).toBe(503);
    expect(down.body.checks.kubernetes.ok).toBe(false);
  } finally {
    await fake.close();
  }
});
