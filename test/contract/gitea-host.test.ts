/**
 * `GiteaHost` against the Gitea API fake, once per description: Gitea 1.27 and Forgejo 11 (every
 * request berth makes and every answer the fake gives is checked against that swagger), plus the
 * Gogs 0.13 subset (labels instead of statuses, no reactions, no pull request API).
 */
import axios from "axios";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { GiteaFlavor } from "../../src/config/gitea-servers.js";
import type { BotEvent, RepoRef } from "../../src/domain/types.js";
import { GiteaClient } from "../../src/hosts/gitea/gitea-client.js";
import { GiteaHost } from "../../src/hosts/gitea/gitea-host.js";
import { FakeGiteaApi } from "../fakes/gitea-api.js";
import { captureLogger, type CapturedLog } from "../helpers/capture-log.js";
import { tarEntries } from "../helpers/tar-entries.js";

const TOKEN = "3c9a51e0d7b24f68a1c0e5d2b7f49a30c6e1d8b2";
const MARKER = "<!-- berth:status -->";

let fake: FakeGiteaApi;
let capture: CapturedLog;
let host: GiteaHost;
let headSha: string;
let repo: RepoRef;

async function entries(data: Buffer): Promise<Array<{ name: string; mode: number; content: string }>> {
  return (await tarEntries(data)).map((entry) => ({ name: entry.name, mode: entry.mode, content: entry.content.toString("utf8") }));
}

function setUp(flavor: GiteaFlavor): void {
  beforeEach(async () => {
    capture = captureLogger();
    fake = await FakeGiteaApi.start({ flavor, token: TOKEN, botLogin: "berth-bot" });
    fake.addRepo({ owner: "acme", name: "shop" });
    fake.addCommit("acme", "shop", { ".gitea/berth.yml": "preview:\n  port: 8080\n" }, "main");
    headSha = fake.addCommit(
      "acme",
      "shop",
      { Dockerfile: "FROM scratch\nCOPY app /app\n", "app/index.html": "<h1>héllo</h1>\n", "run.sh": { content: Buffer.from("#!/bin/sh\n"), mode: "100755" } },
      "feature/x",
    );
    fake.addPull("acme", "shop", { number: 3, headSha, headRef: "feature/x", author: "alice" });
    fake.setCollaborator("acme", "shop", "bob", "write");
    fake.setCollaborator("acme", "shop", "carol", "read");
    repo = { host: "gitea-main", owner: "acme", name: "shop", defaultBranch: "main", htmlUrl: `${fake.url}/acme/shop` };
    const client = new GiteaClient({ token: TOKEN, apiUrl: fake.apiUrl, name: "main", log: capture.log, retries: 1, backoffMs: 1, timeoutMs: 2_000 });
    host = new GiteaHost({ kind: "gitea-main", flavor, client, log: capture.log });
  });
  afterEach(async () => {
    await fake.close();
    fake.assertNoViolations();
    expect(capture.text()).not.toContain(TOKEN);
  });
}

for (const flavor of ["gitea", "forgejo"] as const) {
  describe(`GiteaHost on ${flavor}`, () => {
    setUp(flavor);

    it("reads a file at a branch and at a commit; a missing file is null", async () => {
      expect(await host.readFile(repo, ".gitea/berth.yml", "main")).toBe("preview:\n  port: 8080\n");
      expect(await host.readFile(repo, "app/index.html", headSha)).toBe("<h1>héllo</h1>\n");
      expect(await host.readFile(repo, ".gitea/berth.yml", headSha)).toBeNull();
    });

    it("maps a pull request, its head and whether it comes from a fork", async () => {
      expect(await host.getPull(repo, 3)).toEqual({
        repo,
        number: 3,
        headSha,
        headRef: "feature/x",
        baseRef: "main",
        fromFork: false,
        url: `${fake.url}/acme/shop/pulls/3`,
        author: "alice",
        state: "open",
      });
      fake.addPull("acme", "shop", { number: 4, headSha, headRef: "x", author: "mallory", forkOwner: "mallory" });
      expect((await host.getPull(repo, 4)).fromFork).toBe(true);
      fake.updatePull("acme", "shop", 3, { state: "closed", merged: true });
      expect((await host.getPull(repo, 3)).state).toBe("closed");
    });

    it("downloads the archive of the exact commit: a tar.gz with one top-level folder", async () => {
      const archive = await host.downloadSource(repo, headSha);
      expect(archive.format).toBe("tar.gz");
      const files = await entries(archive.data);
      expect(new Set(files.map((f) => f.name.split("/")[0]))).toEqual(new Set(["shop"]));
      expect(files.find((f) => f.name === "shop/app/index.html")?.content).toBe("<h1>héllo</h1>\n");
      expect(files.find((f) => f.name === "shop/run.sh")?.mode).toBe(0o755);
      await expect(host.downloadSource(repo, "feature/x")).rejects.toThrow("not a full commit SHA");
    });

    it("refuses an archive over the size cap while reading it", async () => {
      const small = new GiteaHost({ kind: "gitea-main", flavor, client: new GiteaClient({ token: TOKEN, apiUrl: fake.apiUrl, name: "main", log: capture.log }), log: capture.log, maxArchiveBytes: 64 * 1024 });
      fake.archivePadding = 256 * 1024;
      await expect(small.downloadSource(repo, headSha)).rejects.toThrow(`the source archive of ${headSha.slice(0, 7)} is larger than 0.0625 MiB`);
    });

    it("finds the status comment only among berth's own comments and edits it", async () => {
      fake.addComment("acme", "shop", 3, `quoting ${MARKER}`, "mallory");
      expect(await host.findComment(repo, 3, MARKER)).toBeNull();
      const { id } = await host.createComment(repo, 3, `${MARKER}\nbuilding`);
      expect(await host.findComment(repo, 3, MARKER)).toEqual({ id, body: `${MARKER}\nbuilding` });
      await host.updateComment(repo, 3, id, `${MARKER}\npassed`);
      expect(fake.comments("acme", "shop", 3).map((c) => [c.user, c.body])).toEqual([
        ["mallory", `quoting ${MARKER}`],
        ["berth-bot", `${MARKER}\npassed`],
      ]);
      await expect(host.updateComment(repo, 3, "1; DROP", "x")).rejects.toThrow("not a Gitea comment id");
    });

    it("asks GET /user once for berth's login when none is configured", async () => {
      await host.createComment(repo, 3, `${MARKER}\nx`);
      await host.findComment(repo, 3, MARKER);
      await host.findComment(repo, 3, MARKER);
      expect(fake.calls.filter((c) => c.template === "/user")).toHaveLength(1);
    });

    it("writes commit statuses with state, context, description and link", async () => {
      await host.setStatus(repo, headSha, 3, { context: "berth/build", state: "pending", description: "x".repeat(300), targetUrl: "https://berth.example.com/reports/1" });
      await host.setStatus(repo, headSha, 3, { context: "berth/build", state: "success", description: "built" });
      expect(fake.statuses("acme", "shop", headSha)).toEqual([
        { state: "pending", context: "berth/build", description: "x".repeat(140), targetUrl: "https://berth.example.com/reports/1" },
        { state: "success", context: "berth/build", description: "built" },
      ]);
      expect(host.capabilities.statusScope).toBe("commit");
    });

    it("maps permissions: owner admin, collaborators by level, others read on a public repository, unknown users none", async () => {
      expect(await host.getPermission(repo, "acme")).toBe("admin");
      expect(await host.getPermission(repo, "bob")).toBe("write");
      expect(await host.getPermission(repo, "carol")).toBe("read");
      fake.addComment("acme", "shop", 3, "hi", "dave");
      expect(await host.getPermission(repo, "dave")).toBe("read");
      expect(await host.getPermission(repo, "nobody-at-all")).toBe("none");
      // Without admin on the repository berth may not ask: a clear error, never a silent "none".
      fake.botIsAdmin = false;
      await expect(host.getPermission(repo, "bob")).rejects.toThrow("berth's account on gitea-main may not read permissions of acme/shop (403): make it an admin of the repository");
    });

    it("reacts with eyes on a command comment", async () => {
      const id = fake.addComment("acme", "shop", 3, "/deploy", "bob");
      await host.reactToComment(repo, String(id), "eyes");
      expect(fake.reactions("acme", "shop")).toEqual([{ commentId: id, content: "eyes", user: "berth-bot" }]);
    });

    it("confirms signed events as they are, except berth's own comments", async () => {
      const comment: BotEvent = { kind: "pr-comment", deliveryId: "d1", repo, prNumber: 3, commentId: "5", author: "bob", body: "/deploy" };
      expect(await host.confirmEvent(comment)).toBe(comment);
      expect(await host.confirmEvent({ ...comment, author: "Berth-Bot" })).toBeNull();
    });

    it("errors name method, path and status, never the token; a wrong token is refused", async () => {
      const error = await host.getPull({ ...repo, name: "gone" }, 1).then(() => new Error("no error"), (e: unknown) => e as Error);
      expect(error.message).toBe("Gitea API (main) GET /repos/acme/gone/pulls/1 answered 404: GetRepositoryByName");
      const stranger = new GiteaHost({ kind: "gitea-main", flavor, client: new GiteaClient({ token: "wrong", apiUrl: fake.apiUrl, name: "main", log: capture.log, retries: 0 }), log: capture.log });
      await expect(stranger.getPull(repo, 3)).rejects.toThrow("answered 401: token is required");
    });

    it("the fake refuses what the server refuses: no token, unknown fields, missing body, wrong method", async () => {
      const api = axios.create({ baseURL: fake.apiUrl, validateStatus: () => true, headers: { Authorization: `token ${TOKEN}` } });
      expect((await axios.get(`${fake.apiUrl}/repos/acme/shop/pulls/3`, { validateStatus: () => true })).status).toBe(401);
      expect((await api.post("/repos/acme/shop/issues/3/comments", { body: "x", bdy: "typo" })).status).toBe(422);
      expect((await api.post("/repos/acme/shop/issues/3/comments", {})).status).toBe(422);
      expect((await api.delete("/repos/acme/shop/statuses/" + headSha)).status).toBe(405);
      expect((await api.get("/repos/acme/shop/no-such-thing")).status).toBe(404);
      // These requests were wrong on purpose; what the fake noted about them is not berth's doing.
      expect(fake.violations.length).toBeGreaterThanOrEqual(4);
      fake.violations.length = 0;
    });
  });
}

describe("GiteaHost on gogs (0.13 subset)", () => {
  setUp("gogs");

  it("shows stage statuses as PR labels, replacing the stage's previous one", async () => {
    expect(host.capabilities.statusScope).toBe("pull-request");
    await host.setStatus(repo, headSha, 3, { context: "berth/build", state: "pending", description: "building" });
    await host.setStatus(repo, headSha, 3, { context: "berth/build", state: "success", description: "built" });
    await host.setStatus(repo, headSha, 3, { context: "berth/deploy", state: "failure", description: "no" });
    expect(fake.prLabels("acme", "shop", 3).sort()).toEqual(["berth:build-passed", "berth:deploy-failed"]);
    expect(fake.calls.some((c) => c.template === "/repos/{owner}/{repo}/statuses/{sha}")).toBe(false);
  });

  it("does not react (Gogs has no reactions) and reads permissions from the collaborator list", async () => {
    const id = fake.addComment("acme", "shop", 3, "/deploy", "bob");
    await host.reactToComment(repo, String(id), "eyes");
    expect(fake.reactions("acme", "shop")).toEqual([]);
    expect(await host.getPermission(repo, "acme")).toBe("admin");
    expect(await host.getPermission(repo, "bob")).toBe("write");
    expect(await host.getPermission(repo, "carol")).toBe("read");
    expect(await host.getPermission(repo, "dave")).toBe("none");
  });

  it("reads a PR's state from its issue, and fills in a PR event's head from its branch", async () => {
    expect(await host.getPull(repo, 3)).toMatchObject({ state: "open", fromFork: true, headSha: "" });
    const pr = { repo, number: 3, headSha: "", headRef: "feature/x", baseRef: "main", fromFork: false, url: "", author: "alice", state: "open" as const };
    const confirmed = await host.confirmEvent({ kind: "pr-updated", deliveryId: "d", pr, action: "opened", sender: "alice" });
    expect(confirmed?.kind === "pr-updated" && confirmed.pr.headSha).toBe(headSha);
    expect(await host.confirmEvent({ kind: "pr-updated", deliveryId: "d", pr: { ...pr, fromFork: true }, action: "opened", sender: "alice" })).toBeNull();
    expect(await host.confirmEvent({ kind: "pr-updated", deliveryId: "d", pr: { ...pr, headRef: "gone" }, action: "opened", sender: "alice" })).toBeNull();
  });

  it("downloads the archive and keeps the status comment like Gitea", async () => {
    const files = await entries((await host.downloadSource(repo, headSha)).data);
    expect(files.map((f) => f.name)).toContain("shop/Dockerfile");
    const { id } = await host.createComment(repo, 3, `${MARKER}\nx`);
    expect((await host.findComment(repo, 3, MARKER))?.id).toBe(id);
  });
});
