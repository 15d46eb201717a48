/**
 * The dashboard in a real browser (Debian's chromium driven by playwright-core): berth behind
 * real HTTP with the fake GitHub REST API (the App's view) and a fake GitHub sign-in (the user's
 * view). Alice signs in through GitHub's OAuth web flow (state + PKCE), sees a pipeline running on
 * the overview, watches its build output arrive line by line (redacted) while the build runs,
 * deletes the preview from the page (the audit entry appears). Bob can read one repository but not
 * the private one: he sees nothing of it, and its pages answer 404. A POST without the CSRF token,
 * or from another origin, is refused and leaves no trace. Screenshots go to .tmp/screenshots/ (docs/screenshots/ with BERTH_UPDATE_SCREENSHOTS=1).
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { generateKeyPairSync } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { gzipSync } from "node:zlib";
import { pino } from "pino";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { createNodeMiddleware, Probot, ProbotOctokit } from "probot";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BuildOutcome, BuildRequest } from "../../src/domain/ports.js";
import { CancelledError } from "../../src/domain/ports.js";
import { prKeyOf } from "../../src/domain/records.js";
import { createRedactor } from "../../src/domain/redact.js";
import { createBerth } from "../../src/index.js";
import type { Engine } from "../../src/pipeline/engine.js";
import { SqliteStore } from "../../src/pipeline/store-sqlite.js";
import { createDashboardAuth } from "../../src/web/dashboard/dashboard-auth.js";
import { FakeBuilder, FakeTarget } from "../fakes/fake-adapters.js";
import { FakeGitHubApi } from "../fakes/github-api.js";
import { FakeGitHubOAuth } from "../fakes/github-oauth.js";
import { pullRequestPayload } from "../helpers/github-payloads.js";

const CHROMIUM = "/usr/bin/chromium";
/** The README's screenshots are refreshed with BERTH_UPDATE_SCREENSHOTS=1; otherwise they go to .tmp (the tree stays clean). */
const SCREENSHOTS = resolve(import.meta.dirname, process.env.BERTH_UPDATE_SCREENSHOTS === "1" ? "../../docs/screenshots" : "../../.tmp/screenshots");
const SECRET = "s3cr3t-registry-password";
const APP = "acme/app";
const PRIVATE = "acme/secret";
const SHA_APP = "a1".repeat(20);
const SHA_PRIVATE = "b2".repeat(20);
const CONFIG = "preview:\n  port: 8080\n  healthPath: /health\n";

/** A builder whose builds of `acme/app` run until the test ends them, printing what the test says. */
class SteeredBuilder extends FakeBuilder {
  private current?: { req: BuildRequest; finish: () => void };
  private waiters: Array<() => void> = [];
  hold = false;

  override async build(req: BuildRequest): Promise<BuildOutcome> {
    if (!this.hold) return super.build(req);
    this.builds.push(req);
    await new Promise<void>((resolveBuild, reject) => {
      this.current = { req, finish: resolveBuild };
      req.signal.addEventListener("abort", () => reject(new CancelledError("aborted")), { once: true });
      for (const w of this.waiters.splice(0)) w();
    });
    this.current = undefined;
    return { ok: true, imageId: `sha256:${"2".repeat(64)}`, logTail: ["built"] };
  }

  /** Resolves once a held build is running. */
  running(): Promise<void> {
    return this.current ? Promise.resolve() : new Promise((r) => this.waiters.push(r));
  }

  /** One line of build output, now. */
  say(line: string): void {
    if (!this.current) throw new Error("no build is running");
    this.current.req.onLog?.(line);
  }

  finish(): void {
    this.current?.finish();
  }
}

const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048, privateKeyEncoding: { type: "pkcs8", format: "pem" }, publicKeyEncoding: { type: "spki", format: "pem" } });
const log = pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" });
const api = new FakeGitHubApi();
const builder = new SteeredBuilder();
const target = new FakeTarget();
let oauth: FakeGitHubOAuth;
let server: Server;
let origin: string;
let engine: Engine;
let store: SqliteStore;
let probot: Probot;
let dataDir: string;
let browser: Browser;

async function deliver(id: string, fullName: string, prNumber: number, headSha: string): Promise<void> {
  await probot.receive({ id, name: "pull_request", payload: pullRequestPayload({ action: "opened", repo: fullName, prNumber, headSha }) } as never);
}

function fakeRepo(fullName: string, prNumber: number, sha: string): void {
  const repo = api.repo(fullName);
  repo.config = CONFIG;
  repo.tarballs.set(sha, gzipSync(Buffer.alloc(1024)));
  repo.permissions.set("alice", "write");
  repo.permissions.set("bob", "read");
  repo.pulls = new Map([[prNumber, pullRequestPayload({ action: "opened", repo: fullName, prNumber, headSha: sha }).pull_request]]);
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install chromium`);
  mkdirSync(SCREENSHOTS, { recursive: true });
  await api.start();
  // Listen first: the public URL (Origin checks, OAuth callback) is this server's own address.
  let handler: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => res.writeHead(503).end();
  server = createServer((req, res) => handler(req, res));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  oauth = new FakeGitHubOAuth({ clientId: "Iv1.dashboardtest", clientSecret: "oauth-client-secret", callbackUrl: `${origin}/auth/github/callback` });
  await oauth.start();
  oauth.grant("alice", APP);
  oauth.grant("alice", PRIVATE);
  oauth.grant("bob", APP);
  fakeRepo(APP, 1, SHA_APP);
  fakeRepo(PRIVATE, 2, SHA_PRIVATE);

  dataDir = mkdtempSync(join(tmpdir(), "berth-dashboard-"));
  store = SqliteStore.open(dataDir);
  probot = new Probot({ appId: 1, privateKey, log, baseUrl: api.url, Octokit: ProbotOctokit.defaults((o: Record<string, unknown>) => ({ ...o, retry: { enabled: false }, throttle: { enabled: false } })) });
  const auth = createDashboardAuth(
    { github: { clientId: oauth.app.clientId, clientSecret: oauth.app.clientSecret, webUrl: oauth.url, apiUrl: oauth.url }, secret: "dashboard-test-secret-0123456789abcdef", secretSet: true, sessionTtlMs: 3_600_000 },
    origin,
    log,
  );
  const berth = createBerth({ store, builder, targets: { docker: target }, publicUrl: origin, replicaId: "berth-replica-1", concurrency: 2, commentIntervalMs: 0, redact: createRedactor([SECRET]), log, dashboard: { auth } });
  engine = berth.engine;
  const middleware = await createNodeMiddleware(berth.app, { probot });
  handler = (req, res) => void middleware(req, res, () => res.writeHead(404).end());
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox", "--disable-background-networking"] });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  builder.finish();
  await engine?.stop();
  server?.closeAllConnections();
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  await store?.close();
  await oauth?.stop();
  await api.stop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
}, 60_000);

/** A browser context signed in through the fake GitHub as `login`. */
async function signIn(login: string, viewport = { width: 1280, height: 900 }): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  page.on("dialog", (dialog) => void dialog.accept());
  oauth.signedInAs = login;
  await page.goto(`${origin}/`);
  expect(new URL(page.url()).pathname).toBe("/auth/sign-in");
  await page.getByRole("link", { name: "Sign in with GitHub" }).click();
  await page.waitForURL(`${origin}/`);
  await expect.poll(() => page.locator("header .who").textContent()).toContain(login);
  return { context, page };
}

describe("the dashboard in chromium", () => {
  it("signs in with GitHub, streams a running build, deletes a preview with an audit entry, hides a private repository, refuses CSRF-less posts", { timeout: 180_000 }, async () => {
    // The private repository has a preview (a finished pipeline); acme/app's build is held running.
    await deliver("open-private", PRIVATE, 2, SHA_PRIVATE);
    await engine.idle();
    expect((await store.getPull(prKeyOf({ host: "github", owner: "acme", name: "secret" }, 2)))?.preview).toBeDefined();
    const privateRun = (await store.recentRuns({ limit: 1, repoKey: "github:acme/secret" }))[0]!;
    builder.hold = true;
    await deliver("open-app", APP, 1, SHA_APP);
    await builder.running();
    const appRun = (await store.runsWithStatus(["running"]))[0]!;
    expect(appRun.repo.name).toBe("app");

    // ---- Alice: sign-in went through state + PKCE, with the App's client secret.
    const alice = await signIn("alice");
    const tokenRequest = oauth.tokenRequests.at(-1)!;
    expect(tokenRequest.code_verifier).toMatch(/^[A-Za-z0-9_-]{43,128}$/);
    expect(tokenRequest.client_secret).toBe("oauth-client-secret");
    const overviewRow = alice.page.locator(`tr[data-run="${appRun.id}"]`);
    await expect.poll(() => overviewRow.textContent()).toContain("running");
    expect(await overviewRow.textContent()).toContain(engine.replicaId);
    expect(await alice.page.locator("body").textContent()).toContain("acme/secret");
    await alice.page.screenshot({ path: join(SCREENSHOTS, "overview.png"), fullPage: true });

    // ---- The run page streams the build's output as it is printed, redacted, as text.
    await overviewRow.getByRole("link").click();
    await alice.page.waitForURL(`${origin}/runs/${appRun.id}`);
    const liveLog = alice.page.locator("#live-log");
    await expect.poll(() => alice.page.locator("#live-source").textContent()).toContain("Streaming live");
    builder.say("Step 2/3 : RUN make <b>all</b>");
    await expect.poll(() => liveLog.textContent()).toContain("[build] Step 2/3 : RUN make <b>all</b>");
    builder.say(`pushing with password ${SECRET}`);
    await expect.poll(() => liveLog.textContent()).toContain("[build] pushing with password ***");
    expect(await liveLog.textContent()).not.toContain(SECRET);
    expect(await liveLog.locator("b").count()).toBe(0);
    // Still running: nothing of this came from a stored log.
    expect((await store.getRun(appRun.id))?.status).toBe("running");
    expect((await store.stagesOf(appRun.id)).find((s) => s.name === "build")?.detail.logId).toBeUndefined();
    await alice.page.screenshot({ path: join(SCREENSHOTS, "run-live-log.png"), fullPage: true });

    builder.finish();
    await expect.poll(() => liveLog.textContent()).toContain("── build passed ──");
    await engine.idle();
    const appPull = await store.getPull(prKeyOf({ host: "github", owner: "acme", name: "app" }, 1));
    expect(appPull?.preview).toBeDefined();

    // ---- Repository page: runs, the preview, the effective berth.yml.
    await alice.page.goto(`${origin}/repos/github/acme/app`);
    expect(await alice.page.locator("body").textContent()).toContain("valid");
    expect(await alice.page.locator("pre.config").textContent()).toContain("healthPath: /health");
    await alice.page.screenshot({ path: join(SCREENSHOTS, "repository.png"), fullPage: true });

    // ---- Delete the preview from the page: queued as /delete by alice, the audit entry appears.
    await alice.page.getByRole("button", { name: "Delete preview" }).click();
    await expect.poll(() => alice.page.locator("#flash").textContent()).toContain("/delete queued");
    await engine.idle();
    expect((await store.getPull(appPull!.prKey))?.preview).toBeUndefined();
    expect(target.removed.some((key) => key.name === "app" && key.pr === 1)).toBe(true);
    await alice.page.goto(`${origin}/`);
    const audit = alice.page.locator("tr.audit").first();
    expect(await audit.textContent()).toContain("github:alice");
    expect(await audit.textContent()).toContain("delete #1");
    expect(await audit.textContent()).toContain("accepted");
    const entries = await store.auditLog({ limit: 10 });
    expect(entries.map((e) => [e.actor, e.action, e.target, e.result])).toEqual([["github:alice", "delete", "#1", "accepted"]]);

    // ---- Phone-sized overview.
    const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, storageState: await alice.context.storageState() });
    const phonePage = await phone.newPage();
    await phonePage.goto(`${origin}/`);
    await phonePage.screenshot({ path: join(SCREENSHOTS, "overview-phone.png"), fullPage: true });
    await phone.close();

    // ---- Bob reads acme/app but not acme/secret: nothing of it shows, its pages answer 404.
    const bob = await signIn("bob");
    const bobText = (await bob.page.locator("main").textContent()) ?? "";
    expect(bobText).not.toContain("acme/secret");
    expect(bobText).toContain("acme/app");
    expect(await bob.page.locator("ul.repos").textContent()).toBe("acme/app github");
    for (const path of [`/repos/github/acme/secret`, `/runs/${privateRun.id}`, `/runs/${privateRun.id}/live`]) {
      const res = await bob.page.goto(`${origin}${path}`);
      expect(res?.status(), path).toBe(404);
      expect(await bob.page.locator("body").textContent()).not.toContain(SHA_PRIVATE.slice(0, 7));
    }
    // Alice (who can read it) gets the same URL.
    expect((await alice.page.goto(`${origin}/repos/github/acme/secret`))?.status()).toBe(200);

    // ---- POSTs without the CSRF token, or from another origin, are refused and leave nothing.
    await bob.page.goto(`${origin}/`);
    const csrf = await bob.page.locator("body").getAttribute("data-csrf");
    expect(csrf).toBeTruthy();
    const noToken = await bob.context.request.post(`${origin}/actions`, { headers: { origin, accept: "application/json" }, form: { action: "delete", repo: "github:acme/app", pr: "1" } });
    expect(noToken.status()).toBe(403);
    expect(((await noToken.json()) as { message: string }).message).toContain("CSRF token");
    const foreign = await bob.context.request.post(`${origin}/actions`, { headers: { origin: "https://evil.example", accept: "application/json" }, form: { _csrf: csrf!, action: "delete", repo: "github:acme/app", pr: "1" } });
    expect(foreign.status()).toBe(403);
    const forgedSignOut = await bob.context.request.post(`${origin}/auth/sign-out`, { headers: { origin }, form: {} });
    expect(forgedSignOut.status()).toBe(403);
    // With the token, bob (read permission) is refused by the command's permission rule, and that is audited.
    const readOnly = await bob.context.request.post(`${origin}/actions`, { headers: { origin, accept: "application/json" }, form: { _csrf: csrf!, action: "keep", repo: "github:acme/app", pr: "1" } });
    expect(readOnly.status()).toBe(403);
    expect(((await readOnly.json()) as { message: string }).message).toContain("/keep needs write permission; bob has read");
    // The private repository's PR is "not found" for bob even with a valid token.
    const hidden = await bob.context.request.post(`${origin}/actions`, { headers: { origin, accept: "application/json" }, form: { _csrf: csrf!, action: "delete", repo: "github:acme/secret", pr: "2" } });
    expect(hidden.status()).toBe(404);
    expect((await store.auditLog({ limit: 10 })).map((e) => [e.actor, e.action, e.result])).toEqual([
      ["github:bob", "keep", "refused"],
      ["github:alice", "delete", "accepted"],
    ]);
    expect(await store.runsWithStatus(["queued", "running"])).toEqual([]);
    await bob.context.close();

    // ---- Alice cancels a running build from its page: /cancel stops it, the stream says so.
    const SHA_NEXT = "c3".repeat(20);
    api.repo(APP).tarballs.set(SHA_NEXT, gzipSync(Buffer.alloc(1024)));
    api.repo(APP).pulls = new Map([[1, pullRequestPayload({ action: "synchronize", repo: APP, prNumber: 1, headSha: SHA_NEXT }).pull_request]]);
    await probot.receive({ id: "push-app", name: "pull_request", payload: pullRequestPayload({ action: "synchronize", repo: APP, prNumber: 1, headSha: SHA_NEXT }) } as never);
    await builder.running();
    const nextRun = (await store.runsWithStatus(["running"]))[0]!;
    await alice.page.goto(`${origin}/runs/${nextRun.id}`);
    await expect.poll(() => alice.page.locator("#live-source").textContent()).toContain("Streaming live");
    await alice.page.getByRole("button", { name: "Cancel run" }).click();
    await expect.poll(() => alice.page.locator("#live-source").textContent()).toContain("The run ended: cancelled");
    await engine.idle();
    expect((await store.getRun(nextRun.id))?.status).toBe("cancelled");
    expect((await store.auditLog({ limit: 1 }))[0]).toMatchObject({ actor: "github:alice", action: "cancel", target: "#1", result: "accepted" });
    await alice.context.close();
  });
});
