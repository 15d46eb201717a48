/**
 * Clean-up of a closed PR's images on the real CNCF distribution registry and the real Docker
 * engine: only the PR's tags go, an image another tag shares survives, a container's image stays.
 */
import { randomBytes } from "node:crypto";
import axios from "axios";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDockerClient } from "../../src/adapters/docker/docker-client.js";
import { DockerImageBuilder } from "../../src/adapters/docker/image-builder.js";
import { DistributionClient, MANIFEST_MEDIA_TYPES } from "../../src/adapters/registry/distribution-client.js";
import { DistributionCleaner } from "../../src/adapters/registry/distribution-cleaner.js";
import { createRedactor } from "../../src/domain/redact.js";
import { sampleSource } from "../helpers/sample-app.js";
import { requireServices } from "../helpers/services.js";

const services = requireServices();
const docker = createDockerClient(services.dockerHost);
const log = pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" });
const builder = new DockerImageBuilder({ docker, log, redact: createRedactor([]), imageRemoval: { attempts: 2, retryMs: 50 } });
const path = `berth-cleanup/app-${randomBytes(3).toString("hex")}`;
const repository = `${services.registry}/${path}`;
const label = { "berth.test": `registry-cleanup-${randomBytes(4).toString("hex")}` };
const client = new DistributionClient({ host: services.registry, log });
const cleaner = new DistributionCleaner({ client, log });
let blocker: string | undefined;

async function buildAndPush(tag: string, marker: string): Promise<string> {
  const outcome = await builder.build({
    source: await sampleSource({ variant: "ok", marker, busybox: services.busybox }),
    context: ".",
    dockerfile: "Dockerfile",
    buildArgs: {},
    labels: label,
    tag: `${repository}:${tag}`,
    signal: new AbortController().signal,
  });
  if (!outcome.ok) throw new Error(outcome.error);
  return (await builder.push(`${repository}:${tag}`, new AbortController().signal)).digest;
}

async function registryTags(): Promise<string[]> {
  return (await client.listTags(path)).sort();
}

async function localTags(): Promise<string[]> {
  const images = await docker.listImages({ filters: JSON.stringify({ label: [`berth.test=${label["berth.test"]}`] }) });
  return images.flatMap((image) => image.RepoTags ?? []).map((ref) => ref.slice(repository.length + 1)).sort();
}

let shared: string;
let prOnly: string;

beforeAll(async () => {
  shared = await buildAndPush("pr-5-aaaaaaa", "shared");
  await builder.tag(`${repository}:pr-5-aaaaaaa`, `${repository}:release-1.0.0`);
  await builder.push(`${repository}:release-1.0.0`, new AbortController().signal);
  prOnly = await buildAndPush("pr-5-bbbbbbb", "pr-only");
  await buildAndPush("pr-50-ccccccc", "other-pr");
}, 120_000);

afterAll(async () => {
  if (blocker) await docker.getContainer(blocker).remove({ force: true });
  for (const tag of await client.listTags(path)) {
    const digest = await client.digestOf(path, tag);
    if (digest) await client.deleteManifest(path, digest);
  }
  const images = await docker.listImages({ filters: JSON.stringify({ label: [`berth.test=${label["berth.test"]}`] }) });
  for (const image of images) await docker.getImage(image.Id).remove({ force: true });
});

describe("registry clean-up of a closed PR (real registry)", () => {
  it("deletes the PR's own manifests, keeps one a release tag shares, leaves other PRs alone", async () => {
    expect(await registryTags()).toEqual(["pr-5-aaaaaaa", "pr-5-bbbbbbb", "pr-50-ccccccc", "release-1.0.0"]);

    const result = await cleaner.cleanupPullRequest(repository, 5);

    // distribution 2.x cannot untag: the shared manifest keeps its PR tag, and says so.
    expect(result).toEqual({ removedTags: 1, deletedArtifacts: 1, keptTags: ["pr-5-aaaaaaa"] });
    expect(await registryTags()).toEqual(["pr-5-aaaaaaa", "pr-50-ccccccc", "release-1.0.0"]);
    expect(await client.digestOf(path, "release-1.0.0")).toBe(shared);
    const gone = await axios.head(`http://${services.registry}/v2/${path}/manifests/${prOnly}`, {
      headers: { accept: MANIFEST_MEDIA_TYPES.join(", ") },
      validateStatus: () => true,
    });
    expect(gone.status).toBe(404);

    // Again: nothing more to do, nothing breaks.
    expect(await cleaner.cleanupPullRequest(repository, 5)).toEqual({ removedTags: 0, deletedArtifacts: 0, keptTags: ["pr-5-aaaaaaa"] });
  });

  it("has nothing to do for a repository the registry does not know", async () => {
    expect(await cleaner.cleanupPullRequest(`${services.registry}/berth-cleanup/never-pushed`, 5)).toEqual({ removedTags: 0, deletedArtifacts: 0, keptTags: [] });
    await expect(cleaner.cleanupPullRequest("elsewhere.example.com/app", 5)).rejects.toThrow("is not on registry");
  });

  it("removes the PR's local tags; an image a container uses stays until the container is gone", async () => {
    const created = await docker.createContainer({ Image: `${repository}:pr-5-bbbbbbb`, Cmd: ["/bin/busybox", "true"], Labels: label });
    blocker = created.id;

    const first = await builder.removePullRequestImages(repository, 5, label);
    expect(first.removed).toEqual([`${repository}:pr-5-aaaaaaa`]);
    expect(first.kept).toEqual([`${repository}:pr-5-bbbbbbb`]);
    // The shared image lost only its PR tag.
    expect(await localTags()).toEqual(["pr-5-bbbbbbb", "pr-50-ccccccc", "release-1.0.0"]);

    await created.remove({ force: true });
    blocker = undefined;
    const second = await builder.removePullRequestImages(repository, 5, label);
    expect(second).toEqual({ removed: [`${repository}:pr-5-bbbbbbb`], kept: [], foreign: [] });
    expect(await localTags()).toEqual(["pr-50-ccccccc", "release-1.0.0"]);
  });

  it("leaves a PR tag alone when its image carries another owner's labels", async () => {
    const foreignRef = `${repository}:pr-6-ddddddd`;
    const outcome = await builder.build({
      source: await sampleSource({ variant: "ok", marker: "foreign", busybox: services.busybox }),
      context: ".",
      dockerfile: "Dockerfile",
      buildArgs: {},
      labels: { "berth.test": "someone-else" },
      tag: foreignRef,
      signal: new AbortController().signal,
    });
    if (!outcome.ok) throw new Error(outcome.error);
    try {
      const result = await builder.removePullRequestImages(repository, 6, label);
      expect(result).toEqual({ removed: [], kept: [], foreign: [foreignRef] });
      await expect(docker.getImage(foreignRef).inspect()).resolves.toBeTruthy();
    } finally {
      await docker.getImage(foreignRef).remove({ force: true });
    }
  });
});
