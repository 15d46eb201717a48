/**
 * The sign-in routes over HTTP against fake GitHub and Gitee OAuth servers: the round trip sets
 * a session (state checked, PKCE sent to GitHub), a callback with another state or a replayed
 * code signs nobody in, the return path cannot leave the site, the admin token logs in only from
 * the dashboard's own origin, and sign-out needs the CSRF token. Read access is asked with the
 * user's token.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { html } from "../../src/render/html.js";
import { createAuth, type Auth } from "../../src/web/auth/auth.js";
import { GiteeOAuth, GitHubOAuth } from "../../src/web/auth/oauth-providers.js";
import { FakeGiteeOAuth } from "../fakes/gitee-oauth.js";
import { FakeGitHubOAuth } from "../fakes/github-oauth.js";

const log = pino({ level: "silent" });
let server: Server;
let origin: string;
let auth: Auth;
let github: FakeGitHubOAuth;
let gitee: FakeGiteeOAuth;

beforeAll(async () => {
  let handler: Parameters<typeof createServer>[1] = (_req, res) => res.end();
  server = createServer((req, res) => handler!(req, res));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  github = new FakeGitHubOAuth({ clientId: "Iv1.test", clientSecret: "gh-secret", callbackUrl: `${origin}/auth/github/callback` });
  gitee = new FakeGiteeOAuth({ clientId: "gitee-id", clientSecret: "gitee-secret", callbackUrl: `${origin}/auth/gitee/callback` });
  await Promise.all([github.start(), gitee.start()]);
  github.grant("octocat", "acme/app");
  gitee.grant("gitee-user", "acme/app");
  auth = createAuth({
    publicUrl: origin,
    secret: "sign-in-test-secret-0123456789abcdef",
    providers: {
      github: new GitHubOAuth({ clientId: "Iv1.test", clientSecret: "gh-secret", webUrl: github.url, apiUrl: github.url, log }),
      gitee: new GiteeOAuth({ clientId: "gitee-id", clientSecret: "gitee-secret", webUrl: gitee.url, apiUrl: `${gitee.url}/api/v5`, log }),
    },
    adminToken: "admin-token-0123456789",
    sessionTtlMs: 12 * 3_600_000,
    page: (title, body) => html`<title>${title}</title>${body}`.value,
    log,
  });
  handler = (req, res) =>
    void (async () => {
      if (await auth.routes(req, res)) return;
      const session = auth.session(req);
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify(session ? { user: session.user.kind === "admin" ? "admin" : `${session.user.host}:${session.user.login}`, csrf: session.csrf, canRead: await auth.canRead(session, { host: "github", owner: "acme", name: "app" }) } : null));
    })();
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
  await Promise.all([github.stop(), gitee.stop()]);
});

/** Cookies set by a response, as a Cookie header value (only those not deleted). */
function cookiesOf(res: Response, jar: Map<string, string> = new Map()): Map<string, string> {
  for (const line of res.headers.getSetCookie()) {
    const [pair] = line.split(";");
    const [name, value] = pair!.split("=") as [string, string];
    if (/Max-Age=0/.test(line)) jar.delete(name);
    else jar.set(name, value);
  }
  return jar;
}

const header = (jar: Map<string, string>) => [...jar].map(([k, v]) => `${k}=${v}`).join("; ");

/** Follow the OAuth round trip by hand: start → host authorize → callback. */
async function roundTrip(host: "github" | "gitee", returnTo: string): Promise<{ callback: Response; jar: Map<string, string>; callbackUrl: string; flowCookie: string }> {
  const start = await fetch(`${origin}/auth/${host}/start?return=${encodeURIComponent(returnTo)}`, { redirect: "manual" });
  expect(start.status).toBe(302);
  const jar = cookiesOf(start);
  const flowCookie = `berth_oauth=${jar.get("berth_oauth")}`;
  const authorize = await fetch(start.headers.get("location")!, { redirect: "manual" });
  expect(authorize.status).toBe(302);
  const callbackUrl = authorize.headers.get("location")!;
  const callback = await fetch(callbackUrl, { redirect: "manual", headers: { cookie: header(jar) } });
  cookiesOf(callback, jar);
  return { callback, jar, callbackUrl, flowCookie };
}

describe("sign-in routes", () => {
  it("GitHub: state and PKCE round trip, a session with read access through the user's token", async () => {
    github.signedInAs = "octocat";
    const { callback, jar } = await roundTrip("github", "/runs/abc?x=1");
    expect(callback.status).toBe(302);
    expect(callback.headers.get("location")).toBe("/runs/abc?x=1");
    // GitHub's user token lasts 8 h (expires_in 28800): so does the session, below the 12 h configured.
    expect(callback.headers.getSetCookie().join("\n")).toMatch(/berth_session=[^;]+; Path=\/; Max-Age=28800; HttpOnly; SameSite=Lax/);
    expect(github.tokenRequests.at(-1)?.code_verifier).toBeTruthy();
    const me = await (await fetch(`${origin}/`, { headers: { cookie: header(jar) } })).json();
    expect(me).toMatchObject({ user: "github:octocat", canRead: true });
  });

  it("Gitee: a session for the Gitee user, who reads no GitHub repository", async () => {
    const { callback, jar } = await roundTrip("gitee", "/");
    expect(callback.status).toBe(302);
    const me = await (await fetch(`${origin}/`, { headers: { cookie: header(jar) } })).json();
    expect(me).toMatchObject({ user: "gitee:gitee-user", canRead: false });
  });

  it("a callback with another state, without the flow cookie or with a replayed code signs nobody in", async () => {
    const { callbackUrl, jar, flowCookie } = await roundTrip("github", "/");
    const forged = new URL(callbackUrl);
    forged.searchParams.set("state", "attacker-state");
    const start = await fetch(`${origin}/auth/github/start`, { redirect: "manual" });
    const flow = cookiesOf(start);
    const wrongState = await fetch(forged, { redirect: "manual", headers: { cookie: header(flow) } });
    expect(wrongState.status).toBe(400);
    expect(wrongState.headers.getSetCookie().join("")).not.toContain("berth_session=");
    const noCookie = await fetch(callbackUrl, { redirect: "manual" });
    expect(noCookie.status).toBe(400);
    // The same callback again with its own flow cookie copied back: GitHub refuses the used code.
    const replay = await fetch(callbackUrl, { redirect: "manual", headers: { cookie: flowCookie } });
    expect(replay.status).toBe(502);
    expect(await replay.text()).toContain("bad_verification_code");
    expect(replay.headers.getSetCookie().join("")).not.toContain("berth_session=");
    expect(jar.has("berth_session")).toBe(true);
  });

  it("refuses a wrong client secret with the host's reason, and never returns to another site", async () => {
    const start = await fetch(`${origin}/auth/github/start?return=${encodeURIComponent("//evil.example/x")}`, { redirect: "manual" });
    const jar = cookiesOf(start);
    const authorize = await fetch(start.headers.get("location")!, { redirect: "manual" });
    const secret = github.app.clientSecret;
    (github.app as { clientSecret: string }).clientSecret = "rotated";
    try {
      const callback = await fetch(authorize.headers.get("location")!, { redirect: "manual", headers: { cookie: header(jar) } });
      expect(callback.status).toBe(502);
      expect(await callback.text()).toContain("incorrect_client_credentials");
    } finally {
      (github.app as { clientSecret: string }).clientSecret = secret;
    }
    const { callback } = await roundTrip("github", "https://evil.example/");
    expect(callback.headers.get("location")).toBe("/");
  });

  it("admin token: same origin only, constant-time compare; sign-out needs the CSRF token", async () => {
    const post = (body: string, headers: Record<string, string>) => fetch(`${origin}/auth/token`, { method: "POST", redirect: "manual", body, headers: { "content-type": "application/x-www-form-urlencoded", ...headers } });
    expect((await post("token=admin-token-0123456789", { origin: "https://evil.example" })).status).toBe(403);
    expect((await post("token=admin-token-0123456789", {})).status).toBe(403);
    expect((await post("token=wrong", { origin })).status).toBe(403);
    const ok = await post("token=admin-token-0123456789&return=%2Fruns%2F1", { origin });
    expect(ok.status).toBe(302);
    expect(ok.headers.get("location")).toBe("/runs/1");
    const jar = cookiesOf(ok);
    const me = (await (await fetch(`${origin}/`, { headers: { cookie: header(jar) } })).json()) as { user: string; csrf: string; canRead: boolean };
    expect(me).toMatchObject({ user: "admin", canRead: true });
    const signOut = (body: string) => fetch(`${origin}/auth/sign-out`, { method: "POST", redirect: "manual", body, headers: { origin, cookie: header(jar), "content-type": "application/x-www-form-urlencoded" } });
    expect((await signOut("")).status).toBe(403);
    const out = await signOut(`_csrf=${me.csrf}`);
    expect(out.status).toBe(302);
    expect(out.headers.getSetCookie().join("")).toContain("berth_session=; Path=/; Max-Age=0");
  });
});
