import { gunzipSync } from "node:zlib";
import { extract as createExtract } from "tar-stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { createBuildContext } from "../../src/adapters/docker/source-context.js";
import type { BotEvent, RepoRef } from "../../src/domain/types.js";
import { GiteeApiError, GiteeClient } from "../../src/hosts/gitee/gitee-client.js";
import { GiteeHost } from "../../src/hosts/gitee/gitee-host.js";
import { permissionFromWord } from "../../src/domain/permission.js";
import { giteeStatusLabel } from "../../src/hosts/gitee/gitee-status-labels.js";
import { FakeGiteeApi } from "../fakes/gitee-api.js";
import { captureLogger, type CapturedLog } from "../helpers/capture-log.js";
import { tarEntries } from "../helpers/tar-entries.js";

const TOKEN = "5a1d3c0ffee0ddba11f00dfacade4242";
const MARKER = "<!-- berth:status -->";
const REPO: RepoRef = { host: "gitee", owner: "acme", name: "shop", defaultBranch: "master", htmlUrl: "https://gitee.com/acme/shop" };

let fake: FakeGiteeApi;
let capture: CapturedLog;
let client: GiteeClient;
let host: GiteeHost;
let headSha: string;

function makeClient(overrides: Partial<ConstructorParameters<typeof GiteeClient>[0]> = {}): GiteeClient {
  return new GiteeClient({ token: TOKEN, baseUrl: fake.baseUrl, log: capture.log, retries: 2, backoffMs: 1, timeoutMs: 2_000, ...overrides });
}

beforeEach(async () => {
  capture = captureLogger();
  fake = await FakeGiteeApi.start({ token: TOKEN, botLogin: "berth-bot" });
  fake.addRepo({ owner: "acme", name: "shop" });
  fake.addCommit("acme", "shop", { ".gitee/berth.yml": "preview:\n  port: 8080\n" }, "master");
  headSha = fake.addCommit(
    "acme",
    "shop",
    {
      Dockerfile: "FROM scratch\nCOPY app /app\n",
      "app/index.html": "<h1>你好</h1>\n",
      "app/copy.html": "<h1>你好</h1>\n",
      "scripts/run.sh": { content: "#!/bin/sh\necho hi\n", mode: "100755" },
      "current": { content: "app/index.html", mode: "120000" },
    },
    "feature/x",
  );
  fake.addPull("acme", "shop", { number: 3, headSha, headRef: "feature/x", author: "alice" });
  client = makeClient();
  host = new GiteeHost({ client, log: capture.log, botLogin: "berth-bot" });
});

afterEach(async () => {
  await fake.close();
  // Every request berth made, and every answer the fake gave, matched the Gitee v5 spec.
  fake.assertNoViolations();
  expect(capture.text()).not.toContain(TOKEN);
});

function callsTo(method: string, template: string): number {
  return fake.calls.filter((c) => c.method === method && c.template === template).length;
}

async function untar(data: Buffer): Promise<Map<string, { type: string; mode: number; content: string; linkname?: string }>> {
  return new Map((await tarEntries(data)).map(({ name, content, ...entry }) => [name, { ...entry, content: content.toString("utf8") }]));
}

async function untarPlain(data: Buffer): Promise<Set<string>> {
  const names = new Set<string>();
  const extract = createExtract();
  const done = (async () => {
    for await (const entry of extract) {
      names.add(entry.header.name.replace(/\/$/, ""));
      entry.resume();
    }
  })();
  extract.end(data);
  await done;
  return names;
}

describe("readFile", () => {
  it("reads a file at a branch and at a commit, decoding base64 UTF-8", async () => {
    expect(await host.readFile(REPO, ".gitee/berth.yml", "master")).toBe("preview:\n  port: 8080\n");
    expect(await host.readFile(REPO, "app/index.html", headSha)).toBe("<h1>你好</h1>\n");
  });

  it("returns null for a missing file or ref", async () => {
    expect(await host.readFile(REPO, ".github/berth.yml", "master")).toBeNull();
    expect(await host.readFile(REPO, ".gitee/berth.yml", "no-such-branch")).toBeNull();
  });
});

describe("getPull", () => {
  it("maps the PR", async () => {
    expect(await host.getPull(REPO, 3)).toEqual({
      repo: REPO,
      number: 3,
      headSha,
      headRef: "feature/x",
      baseRef: "master",
      fromFork: false,
      url: "https://gitee.com/acme/shop/pulls/3",
      author: "alice",
      state: "open",
      title: "PR 3",
    });
  });

  it("marks a fork PR and a merged PR as closed", async () => {
    fake.addPull("acme", "shop", { number: 4, headSha, headRef: "patch-1", author: "mallory", forkOwner: "mallory", state: "merged" });
    expect(await host.getPull(REPO, 4)).toMatchObject({ fromFork: true, state: "closed", author: "mallory" });
  });

  it("throws a GiteeApiError for a PR that does not exist, without retrying", async () => {
    const error = await host.getPull(REPO, 99).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GiteeApiError);
    expect((error as GiteeApiError).status).toBe(404);
    expect((error as Error).message).toBe("Gitee API GET /repos/acme/shop/pulls/99 answered 404: 404 Not Found");
    expect(callsTo("GET", "/v5/repos/{owner}/{repo}/pulls/{number}")).toBe(1);
  });
});

describe("downloadSource", () => {
  it("builds a tar.gz of exactly that commit under one top-level folder", async () => {
    const archive = await host.downloadSource(REPO, headSha);
    expect(archive.format).toBe("tar.gz");
    const entries = await untar(archive.data);
    const top = `acme-shop-${headSha.slice(0, 7)}/`;
    expect([...entries.keys()].every((name) => name.startsWith(top))).toBe(true);
    expect([...entries.keys()].sort()).toEqual(
      [top, `${top}Dockerfile`, `${top}app/`, `${top}app/copy.html`, `${top}app/index.html`, `${top}current`, `${top}scripts/`, `${top}scripts/run.sh`].sort(),
    );
    expect(entries.get(`${top}Dockerfile`)?.content).toBe("FROM scratch\nCOPY app /app\n");
    expect(entries.get(`${top}app/index.html`)?.content).toBe("<h1>你好</h1>\n");
    expect(entries.get(`${top}scripts/run.sh`)?.mode).toBe(0o755);
    expect(entries.get(`${top}Dockerfile`)?.mode).toBe(0o644);
    expect(entries.get(`${top}current`)).toMatchObject({ type: "symlink", linkname: "app/index.html" });
    // Identical contents are fetched once: 4 distinct blobs for 5 files.
    expect(callsTo("GET", "/v5/repos/{owner}/{repo}/git/blobs/{sha}")).toBe(4);
    expect(fake.calls.find((c) => c.template === "/v5/repos/{owner}/{repo}/git/trees/{sha}")?.query.recursive).toBe("1");
  });

  it("is accepted by the Docker build-context builder (top folder stripped, Dockerfile found)", async () => {
    const archive = await host.downloadSource(REPO, headSha);
    const context = await createBuildContext(archive, { context: ".", dockerfile: "Dockerfile" });
    expect(context.files).toBe(4); // Dockerfile, two HTML files, run.sh; `current` stays a symlink
    const names = [...(await untarPlain(context.tar))].sort();
    expect(names).toEqual(["Dockerfile", "app", "app/copy.html", "app/index.html", "current", "scripts", "scripts/run.sh"]);
  });

  it("is deterministic (same bytes for the same commit)", async () => {
    const a = await host.downloadSource(REPO, headSha);
    const b = await host.downloadSource(REPO, headSha);
    expect(a.data.equals(b.data)).toBe(true);
  });

  it("refuses a blob whose content does not match its SHA", async () => {
    fake.corruptBlob(fake.blobShaOf("acme", "shop", headSha, "Dockerfile"), "FROM evil\n");
    await expect(host.downloadSource(REPO, headSha)).rejects.toThrow(/does not match its SHA/);
  });

  it("refuses a source over the byte limit from the tree's sizes, before reading any blob", async () => {
    const big = fake.addCommit("acme", "shop", { "a.bin": Buffer.alloc(3000, 1), "b.bin": Buffer.alloc(3000, 2) });
    const small = new GiteeHost({ client, log: capture.log, maxSourceBytes: 5000 });
    await expect(small.downloadSource(REPO, big)).rejects.toThrow(`source of acme/shop@${big.slice(0, 7)} is over berth's limit of 5000 bytes (at least 6000)`);
    expect(callsTo("GET", "/v5/repos/{owner}/{repo}/git/blobs/{sha}")).toBe(0);
  });

  it("counts a file stored twice twice, and checks the bytes received too", async () => {
    const twice = fake.addCommit("acme", "shop", { "a.bin": Buffer.alloc(3000, 1), "copy/a.bin": Buffer.alloc(3000, 1) });
    const small = new GiteeHost({ client, log: capture.log, maxSourceBytes: 5000 });
    await expect(small.downloadSource(REPO, twice)).rejects.toThrow("over berth's limit of 5000 bytes");
    // A tree that under-declares its sizes is caught on the bytes themselves.
    const blob = fake.blobShaOf("acme", "shop", twice, "a.bin");
    fake.failNext(
      { kind: "status", status: 200, body: { sha: twice, url: "x", truncated: "false", tree: [{ path: "a.bin", mode: "100644", type: "blob", sha: blob, size: 1, url: "x" }, { path: "b.bin", mode: "100644", type: "blob", sha: blob, size: 1, url: "x" }] } },
      { path: /git\/trees/ },
    );
    await expect(small.downloadSource(REPO, twice)).rejects.toThrow("over berth's limit of 5000 bytes (at least 6000)");
  });

  it("refuses a source with more entries than the limit", async () => {
    const many = fake.addCommit("acme", "shop", Object.fromEntries(Array.from({ length: 12 }, (_, i) => [`f${i}.txt`, `${i}`])));
    const small = new GiteeHost({ client, log: capture.log, maxSourceEntries: 10 });
    await expect(small.downloadSource(REPO, many)).rejects.toThrow(`source of acme/shop@${many.slice(0, 7)} has 12 entries, over berth's limit of 10`);
    expect(callsTo("GET", "/v5/repos/{owner}/{repo}/git/blobs/{sha}")).toBe(0);
  });

  it("refuses a truncated tree and a ref that is not a full SHA", async () => {
    fake.truncateTrees("acme", "shop");
    await expect(host.downloadSource(REPO, headSha)).rejects.toThrow(/truncated/);
    const before = fake.calls.length;
    await expect(host.downloadSource(REPO, "master")).rejects.toThrow("not a full commit SHA: master");
    expect(fake.calls.length).toBe(before);
  });
});

describe("sticky status comment", () => {
  it("creates once, finds it again past the first page, and edits it in place", async () => {
    for (let i = 0; i < 120; i++) fake.addComment("acme", "shop", 3, `chatter ${i}`, "alice");
    expect(await host.findComment(REPO, 3, MARKER)).toBeNull();

    const { id } = await host.createComment(REPO, 3, `${MARKER}\nbuild: queued`);
    expect(await host.findComment(REPO, 3, MARKER)).toEqual({ id, body: `${MARKER}\nbuild: queued` });

    await host.updateComment(REPO, 3, id, `${MARKER}\nbuild: passed`);
    const mine = fake.comments("acme", "shop", 3).filter((c) => c.body.includes(MARKER));
    expect(mine).toEqual([expect.objectContaining({ id: Number(id), body: `${MARKER}\nbuild: passed`, user: "berth-bot" })]);
    expect(await host.findComment(REPO, 3, MARKER)).toEqual({ id, body: `${MARKER}\nbuild: passed` });
    // Two pages of 100 were read for each search.
    expect(fake.calls.filter((c) => c.template === "/v5/repos/{owner}/{repo}/pulls/{number}/comments" && c.method === "GET").map((c) => c.query.page)).toEqual([
      "1", "2", "1", "2", "1", "2",
    ]);
  });

  it("ignores a marker pasted by someone else when the bot login is known", async () => {
    fake.addComment("acme", "shop", 3, `look: ${MARKER}`, "mallory");
    expect(await host.findComment(REPO, 3, MARKER)).toBeNull();
  });

  it("without a configured bot login, adopts only comments of the token's own user (GET /user, asked once)", async () => {
    const unconfigured = new GiteeHost({ client, log: capture.log });
    fake.addComment("acme", "shop", 3, `${MARKER}\nbuild: passed (forged)`, "mallory");
    expect(await unconfigured.findComment(REPO, 3, MARKER)).toBeNull();
    const mine = fake.addComment("acme", "shop", 3, `${MARKER}\nbuild: queued`, "berth-bot");
    expect(await unconfigured.findComment(REPO, 3, MARKER)).toEqual({ id: String(mine), body: `${MARKER}\nbuild: queued` });
    expect(callsTo("GET", "/v5/user")).toBe(1);
  });

  it("adopts nothing when it cannot tell who berth is (GET /user fails), and asks again next time", async () => {
    const unconfigured = new GiteeHost({ client, log: capture.log });
    fake.addComment("acme", "shop", 3, MARKER, "berth-bot");
    fake.failNext({ kind: "status", status: 401, body: { message: "401 Unauthorized" } }, { path: /\/user$/ });
    await expect(unconfigured.findComment(REPO, 3, MARKER)).rejects.toMatchObject({ status: 401 });
    expect(await unconfigured.findComment(REPO, 3, MARKER)).toMatchObject({ body: MARKER });
  });

  it("refuses a comment id that is not numeric before calling Gitee", async () => {
    await expect(host.updateComment(REPO, 3, "12/../../x", "b")).rejects.toThrow("not a Gitee comment id");
    expect(fake.calls).toEqual([]);
  });
});

describe("confirmEvent: what the API says, not the payload", () => {
  const PR_URL = "https://gitee.com/acme/shop/pulls/3";

  function commentEvent(commentId: number | string, overrides: Partial<Extract<BotEvent, { kind: "pr-comment" }>> = {}): Extract<BotEvent, { kind: "pr-comment" }> {
    return {
      kind: "pr-comment",
      deliveryId: "gitee-1",
      replayKey: "gitee-sign:1:x",
      repo: REPO,
      prNumber: 3,
      pr: { repo: REPO, number: 3, headSha, headRef: "feature/x", baseRef: "master", fromFork: false, url: PR_URL, author: "alice", state: "open" },
      commentId: String(commentId),
      author: "olga",
      body: "/deploy",
      ...overrides,
    };
  }

  it("takes the comment's author and text from the API (a payload claiming an admin's /deploy is corrected)", async () => {
    const id = fake.addComment("acme", "shop", 3, "nice work", "rita");
    const confirmed = await host.confirmEvent(commentEvent(id, { author: "olga", body: "/deploy" }));
    expect(confirmed).toMatchObject({ kind: "pr-comment", author: "rita", body: "nice work", commentId: String(id), replayKey: "gitee-sign:1:x" });
  });

  it("replaces a forged head SHA and fork flag with the PR's own", async () => {
    const forkSha = fake.addCommit("acme", "shop", { Dockerfile: "FROM scratch\n" });
    fake.updatePull("acme", "shop", 3, { headSha: forkSha, forkOwner: "mallory" });
    const id = fake.addComment("acme", "shop", 3, "/deploy", "olga");
    const forged = commentEvent(id);
    const confirmed = await host.confirmEvent(forged);
    expect(confirmed).toMatchObject({ author: "olga", body: "/deploy", pr: { headSha: forkSha, fromFork: true, state: "open" } });

    const pr = { ...(await host.getPull(REPO, 3)), headSha: "f".repeat(40), fromFork: false };
    const update: BotEvent = { kind: "pr-updated", deliveryId: "gitee-2", action: "synchronize", sender: "mallory", pr };
    expect(await host.confirmEvent(update)).toMatchObject({ kind: "pr-updated", pr: { headSha: forkSha, fromFork: true } });
  });

  it("does not confirm a comment that does not exist, is on another PR, or is berth's own", async () => {
    fake.addPull("acme", "shop", { number: 4, headSha, headRef: "feature/y" });
    const elsewhere = fake.addComment("acme", "shop", 4, "/deploy", "olga");
    const mine = fake.addComment("acme", "shop", 3, "/deploy", "berth-bot");
    expect(await host.confirmEvent(commentEvent(987_654))).toBeNull();
    expect(await host.confirmEvent(commentEvent(elsewhere))).toBeNull();
    expect(await host.confirmEvent(commentEvent(mine, { author: "olga" }))).toBeNull();
    expect(await host.confirmEvent(commentEvent("12/../../x"))).toBeNull();
    const unconfigured = new GiteeHost({ client, log: capture.log });
    expect(await unconfigured.confirmEvent(commentEvent(mine, { author: "olga" }))).toBeNull();
  });

  it("does not confirm a comment on a PR that does not exist", async () => {
    const id = fake.addComment("acme", "shop", 77, "/deploy", "olga");
    expect(await host.confirmEvent(commentEvent(id, { prNumber: 77 }))).toBeNull();
  });

  it("confirms a close only when the PR is closed, and takes the merge from the API", async () => {
    const pr = await host.getPull(REPO, 3);
    const close: BotEvent = { kind: "pr-closed", deliveryId: "gitee-3", pr: { ...pr, state: "closed" }, merged: false, sender: "mallory" };
    expect(await host.confirmEvent(close)).toBeNull();
    fake.updatePull("acme", "shop", 3, { state: "merged" });
    expect(await host.confirmEvent(close)).toMatchObject({ kind: "pr-closed", merged: true, pr: { state: "closed" } });
    fake.updatePull("acme", "shop", 3, { state: "closed" });
    expect(await host.confirmEvent({ ...close, merged: true })).toMatchObject({ merged: false });
    const reopen: BotEvent = { kind: "pr-updated", deliveryId: "gitee-4", action: "reopened", pr, sender: "mallory" };
    expect(await host.confirmEvent(reopen)).toBeNull();
    expect(await host.confirmEvent({ ...close, pr: { ...pr, number: 99 } })).toBeNull();
  });

  it("confirms a tag push only for a commit of this repository", async () => {
    const tag: BotEvent = { kind: "tag-pushed", deliveryId: "gitee-5", repo: REPO, tag: "release-1", sha: headSha, pusher: "olga" };
    expect(await host.confirmEvent(tag)).toEqual(tag);
    expect(await host.confirmEvent({ ...tag, sha: "a".repeat(40) })).toBeNull();
    expect(await host.confirmEvent({ ...tag, sha: "master" })).toBeNull();
  });
});

describe("status as PR labels", () => {
  it("creates the label on demand and replaces the previous label of the same stage", async () => {
    await host.setStatus(REPO, headSha, 3, { context: "berth/build", state: "pending", description: "building" });
    expect(fake.prLabels("acme", "shop", 3)).toEqual(["berth:build-pending"]);

    await host.setStatus(REPO, headSha, 3, { context: "berth/deploy", state: "pending", description: "deploying" });
    await host.setStatus(REPO, headSha, 3, { context: "berth/build", state: "success", description: "built" });
    expect([...fake.prLabels("acme", "shop", 3)].sort()).toEqual(["berth:build-passed", "berth:deploy-pending"]);

    await host.setStatus(REPO, headSha, 3, { context: "berth/deploy", state: "failure", description: "unhealthy" });
    expect([...fake.prLabels("acme", "shop", 3)].sort()).toEqual(["berth:build-passed", "berth:deploy-failed"]);
    expect(fake.repoLabels("acme", "shop").sort()).toEqual(["berth:build-passed", "berth:build-pending", "berth:deploy-failed", "berth:deploy-pending"]);
    // The repository's labels were listed once (then remembered), and each label created once.
    expect(callsTo("GET", "/v5/repos/{owner}/{repo}/labels")).toBe(1);
    expect(callsTo("POST", "/v5/repos/{owner}/{repo}/labels")).toBe(4);
    expect(callsTo("DELETE", "/v5/repos/{owner}/{repo}/pulls/{number}/labels/{name}")).toBe(2);
  });

  it("makes a single call when the label is already there, and reuses existing repo labels", async () => {
    fake.addRepoLabel("acme", "shop", "berth:test-passed", "00ff00");
    await host.setStatus(REPO, headSha, 3, { context: "berth/test", state: "success", description: "ok" });
    expect(callsTo("POST", "/v5/repos/{owner}/{repo}/labels")).toBe(0);
    const before = fake.calls.length;
    await host.setStatus(REPO, headSha, 3, { context: "berth/test", state: "success", description: "ok" });
    expect(fake.calls.length - before).toBe(1);
  });

  it("recreates a remembered label that was deleted from the repository by hand", async () => {
    await host.setStatus(REPO, headSha, 3, { context: "berth/build", state: "pending", description: "" });
    await host.setStatus(REPO, headSha, 3, { context: "berth/build", state: "success", description: "" });
    fake.deleteRepoLabel("acme", "shop", "berth:build-pending");
    await host.setStatus(REPO, headSha, 3, { context: "berth/build", state: "pending", description: "" });
    expect(fake.prLabels("acme", "shop", 3)).toEqual(["berth:build-pending"]);
    expect(callsTo("GET", "/v5/repos/{owner}/{repo}/labels")).toBe(2);
  });

  it("names labels from the stage and state, sanitised", () => {
    expect(giteeStatusLabel({ context: "berth/build", state: "error" })).toBe("berth:build-error");
    expect(giteeStatusLabel({ context: "berth/Deploy Preview!", state: "success" })).toBe("berth:deploy-preview-passed");
  });
});

describe("getPermission", () => {
  it("maps Gitee permissions and treats non-collaborators as none", async () => {
    fake.setCollaborator("acme", "shop", "olga", "admin");
    fake.setCollaborator("acme", "shop", "wang", "write");
    fake.setCollaborator("acme", "shop", "rita", "read");
    expect(await host.getPermission(REPO, "olga")).toBe("admin");
    expect(await host.getPermission(REPO, "wang")).toBe("write");
    expect(await host.getPermission(REPO, "rita")).toBe("read");
    expect(await host.getPermission(REPO, "stranger")).toBe("none");
  });

  it("knows Gitee's role words and refuses anything else", () => {
    expect(["developer", "push", "master", "reporter", "viewer", "owner", "", "superuser"].map(permissionFromWord)).toEqual([
      "write", "write", "maintain", "triage", "read", "admin", "none", "none",
    ]);
  });
});

describe("reactToComment", () => {
  it("does nothing: Gitee v5 has no reactions API", async () => {
    await host.reactToComment(REPO, "123", "eyes");
    expect(fake.calls).toEqual([]);
  });
});

describe("the fake itself", () => {
  it("records a violation for a call the Gitee spec does not have", async () => {
    await expect(client.request({ method: "GET", path: "/repos/acme/shop/tarball", query: { ref: headSha }, schema: z.unknown() })).rejects.toMatchObject({ status: 404 });
    expect(fake.violations).toEqual([`request: GET /api/v5/repos/acme/shop/tarball: unknown path (not in the spec)`]);
    fake.violations.length = 0;
  });

  it("records a violation for a body the spec does not allow", async () => {
    await expect(client.request({ method: "PATCH", path: "/repos/acme/shop/pulls/comments/1", body: { text: "x" }, schema: z.unknown() })).rejects.toMatchObject({ status: 400 });
    expect(fake.violations).toEqual(["request: PATCH /v5/repos/{owner}/{repo}/pulls/comments/{id}: request body must have required property 'body'"]);
    fake.violations.length = 0;
  });
});

describe("client behaviour", () => {
  it("sends the token where the spec wants it: query for GET/DELETE, body for POST/PATCH", async () => {
    const { id } = await host.createComment(REPO, 3, "x");
    await host.updateComment(REPO, 3, id, "y");
    await host.setStatus(REPO, headSha, 3, { context: "berth/build", state: "pending", description: "" });
    await host.setStatus(REPO, headSha, 3, { context: "berth/build", state: "success", description: "" });
    const placement = new Set(fake.calls.map((c) => `${c.method}:${c.tokenIn}`));
    expect(placement).toEqual(new Set(["POST:body", "PATCH:body", "GET:query", "DELETE:query"]));
  });

  it("retries 5xx with backoff and then succeeds", async () => {
    fake.failNext({ kind: "status", status: 502 }, { times: 2 });
    expect(await host.readFile(REPO, ".gitee/berth.yml", "master")).toContain("port: 8080");
    expect(fake.calls.map((c) => c.status)).toEqual([502, 502, 200]);
    expect(capture.lines.filter((l) => l.includes("gitee request failed, retrying"))).toHaveLength(2);
  });

  it("gives up after the configured retries with the last status", async () => {
    fake.failNext({ kind: "status", status: 503, body: { message: "maintenance" } }, { times: 10 });
    await expect(host.getPull(REPO, 3)).rejects.toThrow("Gitee API GET /repos/acme/shop/pulls/3 answered 503: maintenance after 3 attempts");
    expect(fake.calls).toHaveLength(3);
  });

  it("does not retry 4xx", async () => {
    fake.failNext({ kind: "status", status: 403, body: { message: "Forbidden" } }, { times: 5 });
    await expect(host.getPull(REPO, 3)).rejects.toMatchObject({ status: 403 });
    expect(fake.calls).toHaveLength(1);
  });

  it("never retries a 4xx other than 429", async () => {
    // One failure each: a retry would succeed, so only "not retried" rejects.
    for (const status of [400, 401, 404, 409, 422]) {
      fake.failNext({ kind: "status", status, body: { message: "no" } }, { times: 1 });
      await expect(host.getPull(REPO, 3)).rejects.toMatchObject({ status });
    }
    expect(fake.calls.map((c) => c.status)).toEqual([400, 401, 404, 409, 422]);
  });

  it("retries 429 a bounded number of times, then gives up", async () => {
    fake.failNext({ kind: "status", status: 429, body: { message: "rate limited" } }, { times: 100 });
    await expect(host.getPull(REPO, 3)).rejects.toThrow("answered 429: rate limited after 3 attempts");
    expect(fake.calls).toHaveLength(3);
  });

  it("retries a connection reset", async () => {
    fake.failNext({ kind: "reset" }, { times: 1 });
    expect((await host.getPull(REPO, 3)).number).toBe(3);
    expect(fake.calls).toHaveLength(2);
  });

  it("retries a GET that times out, but never repeats a POST that timed out (no duplicate comments)", async () => {
    const quick = new GiteeHost({ client: makeClient({ timeoutMs: 150 }), log: capture.log });
    fake.failNext({ kind: "hang" }, { method: "GET", times: 1 });
    expect((await quick.getPull(REPO, 3)).number).toBe(3);

    fake.failNext({ kind: "hang" }, { method: "POST", times: 1 });
    const error = await quick.createComment(REPO, 3, "hello").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GiteeApiError);
    expect((error as GiteeApiError).code).toBe("ETIMEDOUT");
    expect(fake.calls.filter((c) => c.method === "POST")).toHaveLength(1);
  });

  it("rejects a response that does not have the expected shape", async () => {
    fake.failNext({ kind: "status", status: 200, body: { number: "three" } }, { times: 1 });
    await expect(host.getPull(REPO, 3)).rejects.toThrow(/^Gitee API GET \/repos\/acme\/shop\/pulls\/3 answered 200 with an unexpected body \(number: /);
  });

  it("keeps the token out of every error message, including network failures", async () => {
    const errors: unknown[] = [];
    fake.failNext({ kind: "reset" }, { times: 10 });
    errors.push(await host.readFile(REPO, "x", "master").catch((e: unknown) => e));
    errors.push(await host.getPull(REPO, 42).catch((e: unknown) => e));
    const unreachable = new GiteeHost({ client: new GiteeClient({ token: TOKEN, baseUrl: "http://127.0.0.1:1/api/v5", log: capture.log, retries: 0 }), log: capture.log });
    errors.push(await unreachable.getPermission(REPO, "olga").catch((e: unknown) => e));
    for (const error of errors) {
      expect(error).toBeInstanceOf(GiteeApiError);
      const text = `${String(error)} ${JSON.stringify(error)} ${(error as Error).stack ?? ""}`;
      expect(text).not.toContain(TOKEN);
      expect(text).not.toContain("access_token");
    }
    expect((errors[0] as GiteeApiError).code).toBe("ECONNRESET");
    expect((errors[2] as GiteeApiError).code).toBe("ECONNREFUSED");
  });

  it("refuses to start without a token", () => {
    expect(() => new GiteeClient({ token: "", log: capture.log })).toThrow("Gitee access token is missing (GITEE_TOKEN)");
  });
});
