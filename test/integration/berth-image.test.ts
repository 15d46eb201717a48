/**
 * berth's own container image, built from the production Dockerfile on the shared engine with local
 * Node 24 base images in place of `node:24-bookworm` / `node:24-bookworm-slim` (which cannot be
 * pulled here; see `node24-base-images.ts`): it starts with a test App id, key and webhook secret
 * on embedded SQLite, answers `/healthz` (and its own HEALTHCHECK command passes), says on
 * `/readyz` that the Docker engine is missing, accepts one signed GitHub webhook, runs as uid 10001
 * and carries helm. Container and image are removed afterwards; the base images are kept (cache).
 */
import { createHmac, generateKeyPairSync, randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, expect, it } from "vitest";
import { runCommand } from "../../src/adapters/exec.js";
import { pullRequestPayload } from "../helpers/github-payloads.js";
import { ensureBaseImages, type BaseImages } from "../helpers/node24-base-images.js";
import { requireServices } from "../helpers/services.js";

const services = requireServices();
const env = { DOCKER_HOST: services.dockerHost };
const root = fileURLToPath(new URL("../../", import.meta.url));
const suffix = randomBytes(4).toString("hex");
const image = `berth-image-test:${suffix}`;
const container = `berth-image-test-${suffix}`;
const SECRET = `webhook-secret-${suffix}`;
let base: BaseImages;
let origin = "";

function docker(args: string[], timeoutMs = 60_000) {
  return runCommand("docker", args, { timeoutMs, env, maxOutputBytes: 1024 * 1024 });
}

async function waitForHealth(url: string, deadlineMs: number): Promise<void> {
  let last = "";
  while (Date.now() < deadlineMs) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      if (res.ok) return;
      last = `HTTP ${res.status}`;
    } catch (error) {
      last = error instanceof Error ? error.message : String(error);
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  const logs = await docker(["logs", "--tail", "40", container]).then((r) => r.stdout + r.stderr, () => "");
  throw new Error(`berth did not answer ${url} (last: ${last}); its log:\n${logs}`);
}

beforeAll(async () => {
  base = await ensureBaseImages(services.dockerHost);
  await docker(["build", "--build-arg", `BUILD_IMAGE=${base.build}`, "--build-arg", `RUNTIME_IMAGE=${base.runtime}`, "--tag", image, root], 360_000);
  const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048, privateKeyEncoding: { type: "pkcs8", format: "pem" }, publicKeyEncoding: { type: "spki", format: "pem" } });
  await docker(["run", "--detach", "--name", container, "--publish", "127.0.0.1::3000", "--env", "APP_ID=12345", "--env", `PRIVATE_KEY=${privateKey}`, "--env", `WEBHOOK_SECRET=${SECRET}`, image]);
  const port = (await docker(["port", container, "3000/tcp"])).stdout.trim().split("\n")[0]!.split(":").pop();
  origin = `http://127.0.0.1:${port}`;
  await waitForHealth(`${origin}/healthz`, Date.now() + 60_000);
}, 420_000);

afterAll(async () => {
  await docker(["rm", "--force", "--volumes", container]).catch(() => undefined);
  await docker(["rmi", "--force", image]).catch(() => undefined);
});

it("answers /healthz, and its HEALTHCHECK command passes inside the container", async () => {
  const res = await fetch(`${origin}/healthz`);
  expect([res.status, await res.text()]).toEqual([200, "ok\n"]);
  const test = JSON.parse((await docker(["inspect", "--format", "{{json .Config.Healthcheck.Test}}", image])).stdout) as string[];
  expect(test[0]).toBe("CMD");
  expect(test[1]).toBe("node");
  await expect(docker(["exec", container, ...test.slice(1)])).resolves.toMatchObject({ exitCode: 0 });
});

it("says on /readyz that the Docker engine does not answer (none is mounted) while the store does", async () => {
  const res = await fetch(`${origin}/readyz`);
  expect(res.status).toBe(503);
  const body = (await res.json()) as { checks: Record<string, { ok: boolean }> };
  expect(body.checks.store).toEqual({ ok: true });
  expect(body.checks.docker?.ok).toBe(false);
});

it("accepts a signed GitHub webhook and refuses a forged one", async () => {
  const body = JSON.stringify(pullRequestPayload({ action: "opened", headSha: "e".repeat(40) }));
  const post = (signature: string, id: string) =>
    fetch(`${origin}/api/github/webhooks`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-github-event": "pull_request", "x-github-delivery": id, "x-hub-signature-256": signature },
      body,
    });
  const accepted = await post(`sha256=${createHmac("sha256", SECRET).update(body).digest("hex")}`, `image-${suffix}`);
  expect(accepted.status).toBeGreaterThanOrEqual(200);
  expect(accepted.status).toBeLessThan(300);
  expect((await post(`sha256=${"0".repeat(64)}`, `image-forged-${suffix}`)).status).toBe(400);
});

it("runs as uid 10001 on Node 24, with helm and no write access to its own code", async () => {
  expect((await docker(["inspect", "--format", "{{.Config.User}}", image])).stdout.trim()).toBe("10001:10001");
  const ids = (await docker(["exec", container, "node", "-p", "[process.getuid(), process.getgid(), process.version].join(' ')"])).stdout.trim();
  expect(ids).toMatch(/^10001 10001 v24\./);
  expect(ids.split(" ")[2]).toBe(base.node.version);
  expect((await docker(["exec", container, "helm", "version", "--short"])).stdout).toMatch(/^v3\./);
  const writable = (await docker(["exec", container, "node", "-p", "['/app/dist/main.js', '/usr/local/bin/helm', '/data', '/tmp'].map((p) => { try { require('fs').accessSync(p, require('fs').constants.W_OK); return 'w'; } catch { return '-'; } }).join('')"])).stdout.trim();
  expect(writable).toBe("--ww");
});
