import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { GitHubHost, MAX_SOURCE_ARCHIVE_BYTES } from "../../src/hosts/github/github-host.js";
import type { RepoRef } from "../../src/domain/types.js";

const REPO = { host: "github", owner: "acme", name: "app", installationId: 1, defaultBranch: "main", htmlUrl: "https://github.com/acme/app" } as RepoRef;
const SHA = "a".repeat(40);
const MiB = 1024 * 1024;

/** A body that yields `chunk` `count` times (the same buffer: no memory is spent on it). */
function body(chunk: Uint8Array, count: number): { stream: ReadableStream<Uint8Array>; pulls: () => number; cancelled: () => boolean } {
  let pulls = 0;
  let cancelled = false;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (pulls++ >= count) controller.close();
      else controller.enqueue(chunk);
    },
    cancel() {
      cancelled = true;
    },
  });
  return { stream, pulls: () => pulls, cancelled: () => cancelled };
}

function hostAnswering(data: unknown, headers: Record<string, string> = {}) {
  const calls: unknown[] = [];
  const octokit = {
    rest: {
      repos: {
        downloadTarballArchive: async (params: unknown) => {
          calls.push(params);
          return { status: 200, url: "", headers, data };
        },
      },
    },
  };
  return { host: new GitHubHost(async () => octokit as never), calls };
}

describe("GitHubHost.downloadSource size cap", () => {
  it("asks Octokit for the unparsed body and reads a normal archive", async () => {
    const gz = gzipSync(Buffer.from("tar bytes"));
    const { host, calls } = hostAnswering(body(gz, 1).stream, { "content-type": "application/x-gzip" });
    const archive = await host.downloadSource(REPO, SHA);
    expect(archive).toEqual({ format: "tar.gz", data: gz });
    expect(calls).toEqual([{ owner: "acme", repo: "app", ref: SHA, request: { parseSuccessResponseBody: false } }]);
  });

  it("refuses a declared content-length over 512 MiB before reading the body", async () => {
    const b = body(new Uint8Array(MiB), 1000);
    const { host } = hostAnswering(b.stream, { "content-length": String(MAX_SOURCE_ARCHIVE_BYTES + 1) });
    await expect(host.downloadSource(REPO, SHA)).rejects.toThrow("the source archive of aaaaaaa is larger than 512 MiB; berth does not build it");
    expect(b.cancelled()).toBe(true);
    expect(b.pulls()).toBeLessThanOrEqual(2); // what the stream buffered ahead on its own, nothing read
  });

  it("stops reading an undeclared (chunked) body as soon as it passes the cap", async () => {
    const b = body(new Uint8Array(MiB), 100_000);
    const { host } = hostAnswering(b.stream);
    await expect(host.downloadSource(REPO, SHA)).rejects.toThrow(/larger than 512 MiB/);
    expect(b.cancelled()).toBe(true);
    expect(b.pulls()).toBeLessThan(520);
  });

  it("still checks a body another Octokit buffered itself", async () => {
    const { host } = hostAnswering(new ArrayBuffer(10));
    await expect(host.downloadSource(REPO, SHA)).rejects.toThrow(/not a gzip'd tarball/);
  });
});
