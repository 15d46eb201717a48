import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { pino } from "pino";
import * as tar from "tar-stream";
import { afterAll, describe, expect, it } from "vitest";
import { createDockerClient } from "../../src/adapters/docker/docker-client.js";
import { DockerImageBuilder } from "../../src/adapters/docker/image-builder.js";
import { CancelledError, type SourceArchive } from "../../src/domain/ports.js";
import { createRedactor } from "../../src/domain/redact.js";
import { SAMPLE_BUILD_ARG, sampleSource } from "../helpers/sample-app.js";
import { requireServices } from "../helpers/services.js";

const services = requireServices();
const docker = createDockerClient(services.dockerHost);
const builder = new DockerImageBuilder({ docker, log: pino({ level: "silent" }), redact: createRedactor([]) });

/** Every image this file builds carries this label; intermediate layers are collected from the logs. */
const testLabel = { "berth.test": `image-builder-${randomBytes(4).toString("hex")}` };
const intermediateIds = new Set<string>();
const repository = `${services.registry}/berth-test/sample-${randomBytes(3).toString("hex")}`;
/** Manifests pushed to the registry (deleted at the end; blobs are left to the registry's GC). */
const pushed: string[] = [];

function collectIds(line: string): void {
  const match = /^ ---> ([0-9a-f]{12,64})$/.exec(line.trim().replace(/^--->/, " --->"));
  if (match?.[1]) intermediateIds.add(match[1]);
}

afterAll(async () => {
  const path = repository.slice(services.registry.length + 1);
  for (const digest of pushed) {
    const response = await fetch(`http://${services.registry}/v2/${path}/manifests/${digest}`, { method: "DELETE" });
    expect(response.status).toBe(202);
  }
  const filters = { label: [`berth.test=${testLabel["berth.test"]}`] };
  for (const image of await docker.listImages({ filters })) await docker.getImage(image.Id).remove({ force: true });
  // Cache layers of failed or cancelled builds; a layer another build still uses answers 409 and stays.
  for (const id of intermediateIds) await docker.getImage(id).remove().catch(() => undefined);
  expect(await docker.listImages({ all: true, filters })).toEqual([]);
});

/** A minimal repository whose build runs a slow step (for cancellation). */
async function slowSource(token: string): Promise<SourceArchive> {
  const pack = tar.pack();
  pack.entry({ name: "acme-slow-1234567/", type: "directory" });
  pack.entry(
    { name: "acme-slow-1234567/Dockerfile" },
    `FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "sh", "-c", "echo started-${token}; /bin/busybox sleep 60"]\n`,
  );
  pack.entry({ name: "acme-slow-1234567/busybox", mode: 0o755 }, readFileSync(services.busybox));
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack) chunks.push(chunk as Buffer);
  return { format: "tar.gz", data: gzipSync(Buffer.concat(chunks)) };
}

describe("DockerImageBuilder (integration)", () => {
  const okTag = `${repository}:pr-1-abc1234`;

  it("builds with build args, labels and the tag, and reports the image", async () => {
    const source = await sampleSource({ variant: "ok", marker: "builder-ok" });
    const lines: string[] = [];
    const outcome = await builder.build({
      source,
      context: ".",
      dockerfile: "Dockerfile",
      buildArgs: { [SAMPLE_BUILD_ARG]: "hi from the test" },
      labels: { ...testLabel, "org.opencontainers.image.revision": "abc1234def", "dev.berth.pull-request": "1" },
      tag: okTag,
      signal: new AbortController().signal,
      onLog: (line) => {
        lines.push(line);
        collectIds(line);
      },
    });
    expect(outcome).toMatchObject({ ok: true, imageId: expect.stringMatching(/^sha256:[0-9a-f]{64}$/) });
    expect(lines.some((l) => /^Step 1\/\d+ : FROM scratch$/.test(l))).toBe(true);

    const info = await docker.getImage(okTag).inspect();
    expect(outcome.ok && info.Id).toBe(outcome.ok ? outcome.imageId : "");
    expect(info.Config.Labels).toMatchObject({
      ...testLabel,
      "org.opencontainers.image.revision": "abc1234def",
      "dev.berth.pull-request": "1",
      "sample.greeting": "hi from the test",
    });
    await expect(builder.hasImage(okTag)).resolves.toBe(true);
    await expect(builder.hasImage(`${repository}:never-built`)).resolves.toBe(false);
  });

  it("reports a failing RUN step with the step and the last log lines", async () => {
    const source = await sampleSource({ variant: "broken-dockerfile" });
    const outcome = await builder.build({
      source,
      context: ".",
      dockerfile: "Dockerfile",
      buildArgs: {},
      labels: testLabel,
      tag: `${repository}:broken`,
      signal: new AbortController().signal,
      onLog: collectIds,
    });
    expect(outcome.ok).toBe(false);
    if (outcome.ok) return;
    expect(outcome.error).toMatch(/returned a non-zero code: 3/);
    expect(outcome.failingStep).toMatch(/^Step 6\/\d+ : RUN echo "compiling the sample app"/);
    expect(outcome.logTail).toContain("sample.c:3: error: expected ';'");
    expect(outcome.logTail.length).toBeLessThanOrEqual(30);
    await expect(builder.hasImage(`${repository}:broken`)).resolves.toBe(false);
  });

  it("returns a failure, not a crash, when the Dockerfile is missing", async () => {
    const source = await sampleSource({ variant: "ok" });
    const outcome = await builder.build({
      source,
      context: "www",
      dockerfile: "Dockerfile",
      buildArgs: {},
      labels: testLabel,
      tag: `${repository}:no-dockerfile`,
      signal: new AbortController().signal,
    });
    expect(outcome).toEqual({ ok: false, error: "Dockerfile 'Dockerfile' not found in the build context 'www'", logTail: [] });
  });

  it("runs build steps under the memory limit it is given", async () => {
    const limited = new DockerImageBuilder({ docker, log: pino({ level: "silent" }), redact: createRedactor([]), limits: { memoryBytes: 256 * 1024 * 1024, nanoCpus: 5e8 } });
    const pack = tar.pack();
    // cgroup v2 file first, the cgroup v1 file otherwise: what the kernel enforces on the step.
    const probe = "cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes";
    pack.entry({ name: "acme-limits-1234567/Dockerfile" }, `FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "sh", "-c", "echo limit=$(${probe})"]\n`);
    pack.entry({ name: "acme-limits-1234567/busybox", mode: 0o755 }, readFileSync(services.busybox));
    pack.finalize();
    const chunks: Buffer[] = [];
    for await (const chunk of pack) chunks.push(chunk as Buffer);
    const lines: string[] = [];
    const outcome = await limited.build({
      source: { format: "tar.gz", data: gzipSync(Buffer.concat(chunks)) },
      context: ".",
      dockerfile: "Dockerfile",
      buildArgs: {},
      labels: testLabel,
      tag: `${repository}:limited`,
      signal: new AbortController().signal,
      onLog: (line) => {
        lines.push(line);
        collectIds(line);
      },
    });
    expect(outcome.ok, lines.join("\n")).toBe(true);
    expect(lines).toContain(`limit=${256 * 1024 * 1024}`);
  });

  it("pushes and returns the digest the registry serves for the tag", async () => {
    const lines: string[] = [];
    const { digest } = await builder.push(okTag, new AbortController().signal, (l) => lines.push(l));
    expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    pushed.push(digest);
    expect(lines.some((l) => l.includes("Pushed") || l.includes("Layer already exists"))).toBe(true);

    const path = repository.slice(services.registry.length + 1);
    const response = await fetch(`http://${services.registry}/v2/${path}/manifests/pr-1-abc1234`, {
      method: "HEAD",
      headers: {
        accept: [
          "application/vnd.docker.distribution.manifest.v2+json",
          "application/vnd.docker.distribution.manifest.list.v2+json",
          "application/vnd.oci.image.manifest.v1+json",
          "application/vnd.oci.image.index.v1+json",
        ].join(", "),
      },
    });
    expect(response.status).toBe(200);
    expect(response.headers.get("docker-content-digest")).toBe(digest);
  });

  it("surfaces a push error reported inside the stream", async () => {
    await expect(builder.push(`${repository}:not-built-here`, new AbortController().signal)).rejects.toThrow(
      /push of .*:not-built-here failed: .*(does not exist|No such image)/i,
    );
  });

  it("stops a running build when the signal aborts", async () => {
    const token = randomBytes(4).toString("hex");
    const controller = new AbortController();
    const started = Date.now();
    const build = builder.build({
      source: await slowSource(token),
      context: ".",
      dockerfile: "Dockerfile",
      buildArgs: {},
      labels: testLabel,
      tag: `${repository}:slow`,
      signal: controller.signal,
      onLog: (line) => {
        collectIds(line);
        // The step's own output, not the `Step 3/3 : RUN … echo started-…` line: the container runs.
        if (line === `started-${token}`) controller.abort();
      },
    });
    await expect(build).rejects.toBeInstanceOf(CancelledError);
    expect(Date.now() - started).toBeLessThan(20_000);

    // The engine kills and removes the step's container once the client is gone.
    const leftovers = async () =>
      (await docker.listContainers({ all: true })).filter((c) => c.Command.includes(`started-${token}`)).length;
    const deadline = Date.now() + 15_000;
    while ((await leftovers()) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 250));
    expect(await leftovers()).toBe(0);
  }, 40_000);
});
