/**
 * Trust boundary on a shared Docker engine (real engine): look-alike repositories, two berth
 * installations, objects berth did not make, and registry credentials that must stay home.
 */
import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDockerClient } from "../../src/adapters/docker/docker-client.js";
import { DockerImageBuilder } from "../../src/adapters/docker/image-builder.js";
import { parseRepoConfig, type PreviewConfig } from "../../src/config/repo-config.js";
import type { PreviewKey } from "../../src/domain/ports.js";
import { createRedactor } from "../../src/domain/redact.js";
import { DockerTarget, dockerNetworkName } from "../../src/targets/docker-target.js";
import { SwarmTarget, swarmNetworkName } from "../../src/targets/swarm-target.js";
import { sampleRepoConfig, sampleSource } from "../helpers/sample-app.js";
import { requireServices } from "../helpers/services.js";

const services = requireServices();
const docker = createDockerClient(services.dockerHost);
const log = pino({ level: "silent" });
const redact = createRedactor([]);
const never = new AbortController().signal;
const suffix = randomBytes(3).toString("hex");
const imageLabel = { "berth.test": `ownership-${suffix}` };
const credentials = { username: `berth-${suffix}`, password: `pw-${suffix}-secret`, registry: services.registry };

const staging = new DockerTarget({ docker, log, redact, instance: "staging", registryAuth: credentials });
const production = new DockerTarget({ docker, log, redact, instance: "production", registryAuth: credentials });
const swarm = new SwarmTarget({ docker, log, redact, instance: "staging" });

const dashKey: PreviewKey = { host: "github", owner: `owner-${suffix}`, name: "x-app", pr: 1 };
const dotKey: PreviewKey = { host: "github", owner: `owner-${suffix}`, name: "x.app", pr: 1 };
const sha = "a".repeat(40);
let image = "";
let preview: PreviewConfig;
const made: string[] = [];
const madeContainers: string[] = [];

beforeAll(async () => {
  const parsed = parseRepoConfig(sampleRepoConfig("ok"));
  if (!parsed.ok) throw new Error(parsed.error);
  preview = parsed.config.preview;
  const builder = new DockerImageBuilder({ docker, log, redact });
  image = `berth-test/ownership-${suffix}:a`;
  const outcome = await builder.build({ source: await sampleSource({ variant: "ok", marker: suffix }), context: ".", dockerfile: "Dockerfile", buildArgs: {}, labels: imageLabel, tag: image, signal: never });
  if (!outcome.ok) throw new Error(outcome.error);
});

afterAll(async () => {
  for (const target of [staging, production]) {
    await target.remove(dashKey);
    await target.remove(dotKey);
  }
  await staging.remove({ host: "github", owner: `owner-${suffix}`, name: "creds", pr: 4 });
  for (const name of made) await docker.getNetwork(name).remove().catch(() => undefined);
  for (const id of madeContainers) await docker.getContainer(id).remove({ force: true }).catch(() => undefined);
  for (const found of await docker.listImages({ filters: { label: [`berth.test=${imageLabel["berth.test"]}`] } })) await docker.getImage(found.Id).remove({ force: true });
});

describe("names and labels on a shared engine", () => {
  it("gives look-alike repositories their own network, and removing one leaves the other", async () => {
    expect(dockerNetworkName(dashKey, "staging")).not.toBe(dockerNetworkName(dotKey, "staging"));
    const dash = await staging.deploy({ key: dashKey, sha, runId: "run-dash", image, preview, signal: never });
    const dot = await staging.deploy({ key: dotKey, sha, runId: "run-dot", image, preview, signal: never });
    expect(dash.internalUrl).not.toBe(dot.internalUrl);
    await staging.remove(dashKey);
    expect(await staging.list()).toContainEqual(dotKey);
    expect(await staging.list()).not.toContainEqual(dashKey);
    expect((await fetch(dot.url, { signal: AbortSignal.timeout(5000) })).status).toBe(200);
  });

  it("keeps two berth installations apart: neither lists nor removes the other's previews", async () => {
    const prod = await production.deploy({ key: dotKey, sha, runId: "run-prod", image, preview, signal: never });
    expect(dockerNetworkName(dotKey, "staging")).not.toBe(dockerNetworkName(dotKey, "production"));
    await staging.remove(dotKey);
    expect(await staging.list()).not.toContainEqual(dotKey);
    expect(await production.list()).toContainEqual(dotKey);
    expect((await fetch(prod.url, { signal: AbortSignal.timeout(5000) })).status).toBe(200);
    await production.remove(dotKey);
    expect(await production.list()).not.toContainEqual(dotKey);
  });

  it("never adopts a network of its name that another repository (or nobody) labelled", async () => {
    const name = dockerNetworkName(dashKey, "staging");
    await docker.createNetwork({ Name: name, Driver: "bridge", Labels: { "berth.managed": "true", "berth.target": "docker", "berth.instance": "staging", "berth.host": "github", "berth.repo": `owner-${suffix}/other`, "berth.pr": "1" } });
    made.push(name);
    await expect(staging.deploy({ key: dashKey, sha, runId: "run-foreign", image, preview, signal: never })).rejects.toThrow(/does not belong to/);
    await staging.remove(dashKey);
    await expect(docker.getNetwork(name).inspect()).resolves.toMatchObject({ Name: name });
  });

  it("lists no key for a berth object whose repository label is not owner/name, and warns", async () => {
    const warnings: Array<{ msg: string; labels?: { repo?: string } }> = [];
    const instance = `labels-${suffix}`;
    const watched = new DockerTarget({ docker, log: pino({ level: "warn" }, { write: (line: string) => void warnings.push(JSON.parse(line)) }), redact, instance });
    const texts = ["no-slash", `owner-${suffix}/`, `/x-app`, `owner-${suffix}/x-app/extra`, `owner-${suffix}/fine`];
    // Created, never started, containers: labelled like previews, and no network address pool used.
    for (const [i, text] of texts.entries()) {
      const labels = { "berth.managed": "true", "berth.target": "docker", "berth.instance": instance, "berth.host": "github", "berth.repo": text, "berth.pr": "2", "berth.role": "preview" };
      madeContainers.push((await docker.createContainer({ name: `berth-labels-${suffix}-${i}`, Image: image, Labels: labels })).id);
    }
    expect(await watched.list()).toEqual([{ host: "github", owner: `owner-${suffix}`, name: "fine", pr: 2 }]);
    expect(warnings.filter((w) => w.msg === "berth object with malformed labels skipped").map((w) => w.labels?.repo).sort()).toEqual(texts.slice(0, 4).sort());
  });

  it("never adopts an overlay network of its name that berth did not make (Swarm)", async () => {
    const key: PreviewKey = { host: "github", owner: `owner-${suffix}`, name: "swarm-app", pr: 3 };
    const name = swarmNetworkName(key, "staging");
    await docker.createNetwork({ Name: name, Driver: "overlay", Attachable: true });
    made.push(name);
    await expect(swarm.deploy({ key, sha, runId: "run-swarm-foreign", image, preview: { ...preview, target: "swarm" }, signal: never })).rejects.toThrow(/does not belong to/);
    await swarm.remove(key);
    await expect(docker.getNetwork(name).inspect()).resolves.toMatchObject({ Name: name });
  });
});

describe("registry credentials", () => {
  let server: Server;
  const seen: Array<string | undefined> = [];

  beforeAll(async () => {
    // A registry a repository points test.image at: it asks for credentials like a real one.
    server = createServer((req: IncomingMessage, res) => {
      seen.push(req.headers.authorization);
      res.writeHead(401, { "www-authenticate": 'Basic realm="evil"', "docker-distribution-api-version": "registry/2.0", "content-type": "application/json" });
      res.end(JSON.stringify({ errors: [{ code: "UNAUTHORIZED", message: "authentication required" }] }));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it("are not sent to a registry a repository's test image names", async () => {
    const port = (server.address() as AddressInfo).port;
    const result = staging.runTests({
      key: { host: "github", owner: `owner-${suffix}`, name: "creds", pr: 4 },
      sha,
      runId: "run-creds",
      image: `127.0.0.1:${port}/steal/creds:1`,
      command: ["true"],
      env: {},
      reportsDir: "/reports",
      timeoutMs: 30_000,
      signal: never,
    });
    await expect(result).rejects.toThrow();
    expect(seen.length).toBeGreaterThan(0);
    const basic = Buffer.from(`${credentials.username}:${credentials.password}`).toString("base64");
    expect(seen.filter((h) => h?.includes(basic))).toEqual([]);
    expect(seen.filter((h) => h !== undefined)).toEqual([]);
  });
});
