/**
 * The pure parts of the dashboard's sign-in: sealed cookies (tamper, key, purpose, expiry),
 * sessions, cookies' attributes, the CSRF check, return paths and the read-access cache.
 */
import { describe, expect, it } from "vitest";
import { localReturnPath } from "../../src/web/auth/auth.js";
import { parseCookies, serializeCookie } from "../../src/web/auth/cookies.js";
import { checkCsrf } from "../../src/web/auth/csrf.js";
import { RepoAccess } from "../../src/web/auth/repo-access.js";
import { CookieSealer } from "../../src/web/auth/sealed-cookie.js";
import { SESSION_COOKIE, SessionCookies, type SignedInUser } from "../../src/web/auth/session.js";
import { parseDashboardSettings } from "../../src/config/dashboard-settings.js";

const SECRET = "a-dashboard-secret-of-enough-length-000";

describe("sealed cookies", () => {
  it("open what they sealed until it expires, and nothing else", () => {
    const sealer = new CookieSealer(SECRET, "session");
    const value = sealer.seal({ user: "alice", token: "ghu_secret" }, 2_000);
    expect(sealer.open(value, 1_999)).toEqual({ user: "alice", token: "ghu_secret" });
    expect(sealer.open(value, 2_000)).toBeUndefined();
    // Encrypted: the token is not readable in the cookie.
    expect(Buffer.from(value, "base64url").toString("latin1")).not.toContain("ghu_secret");
    // One changed character anywhere fails authentication (not the last: its low bits are padding in base64url).
    for (const at of [0, 13, 30, value.length - 3]) {
      const flipped = value.slice(0, at) + (value[at] === "A" ? "B" : "A") + value.slice(at + 1);
      expect(sealer.open(flipped, 1_000), `changed at ${at}`).toBeUndefined();
    }
    expect(sealer.open(value.slice(0, -4), 1_000)).toBeUndefined();
    expect(new CookieSealer("another-secret-of-enough-length-1111", "session").open(value, 1_000)).toBeUndefined();
    expect(new CookieSealer(SECRET, "oauth-state").open(value, 1_000)).toBeUndefined();
    for (const junk of ["", "x", "!!!", "a".repeat(9000), undefined]) expect(sealer.open(junk, 1_000)).toBeUndefined();
    expect(() => new CookieSealer("", "session")).toThrow(/empty/);
  });
});

describe("sessions", () => {
  it("read back the user and CSRF token until the session ends; a tampered or foreign cookie is no session", () => {
    let now = 10_000;
    const sessions = new SessionCookies(SECRET, { ttlMs: 60_000, secure: true, now: () => now });
    const user: SignedInUser = { kind: "oauth", host: "github", login: "alice", token: "ghu_1" };
    const { session, cookie } = sessions.start(user);
    expect(cookie).toMatch(/^berth_session=[A-Za-z0-9_-]+; Path=\/; Max-Age=60; HttpOnly; SameSite=Lax; Secure$/);
    const value = cookie.split(";")[0]!.slice(`${SESSION_COOKIE}=`.length);
    const req = { headers: { cookie: `other=1; ${SESSION_COOKIE}=${value}` } };
    expect(sessions.read(req)).toEqual(session);
    expect(session.csrf).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(sessions.start(user).session.csrf).not.toBe(session.csrf);
    now += 60_000;
    expect(sessions.read(req)).toBeUndefined();
    // A sealed value of the right key but not a session's shape is no session either.
    const odd = new CookieSealer(SECRET, "session").seal({ user: { kind: "root" }, csrf: "x".repeat(20) }, now + 1000);
    expect(sessions.read({ headers: { cookie: `${SESSION_COOKIE}=${odd}` } })).toBeUndefined();
    expect(sessions.clear()).toContain("Max-Age=0");
    // A token that expires sooner shortens the session; a later one does not lengthen it.
    expect(sessions.start(user, 5_000).cookie).toContain("Max-Age=5;");
    expect(sessions.start(user, 10 * 60_000).cookie).toContain("Max-Age=60;");
    expect(new SessionCookies(SECRET, { ttlMs: 1000, secure: false, now: () => 0 }).start({ kind: "admin" }).cookie).not.toContain("Secure");
  });
});

describe("cookies", () => {
  it("parse the first of each name, skip malformed ones; serialize only token names", () => {
    const cookies = parseCookies(`a=1; b="two"; a=3; bad; c=%E0%A4%A; d=x%20y`);
    expect([...cookies]).toEqual([["a", "1"], ["b", "two"], ["d", "x y"]]);
    expect(parseCookies(undefined).size).toBe(0);
    expect(() => serializeCookie("a b", "v", { maxAge: 1, secure: false })).toThrow();
  });
});

describe("CSRF check", () => {
  const base = { origin: "https://berth.example.com", referer: undefined, token: "t".repeat(32), sessionToken: "t".repeat(32), publicOrigin: "https://berth.example.com" };
  it("passes a same-origin request with the session's token", () => {
    expect(checkCsrf(base)).toEqual({ ok: true });
    expect(checkCsrf({ ...base, origin: undefined, referer: "https://berth.example.com/runs/1" })).toEqual({ ok: true });
  });
  it("refuses other origins, no origin, no session and a missing or wrong token", () => {
    const refused = [
      { ...base, origin: "https://evil.example" },
      { ...base, origin: "http://berth.example.com" },
      { ...base, origin: "null", referer: undefined },
      { ...base, origin: undefined, referer: "https://evil.example/berth.example.com" },
      { ...base, origin: undefined, referer: "not a url" },
      { ...base, origin: undefined },
      { ...base, sessionToken: undefined },
      { ...base, token: undefined },
      { ...base, token: "u".repeat(32) },
      { ...base, token: "t".repeat(31) },
    ];
    for (const input of refused) expect(checkCsrf(input).ok, JSON.stringify(input)).toBe(false);
    expect(checkCsrf({ ...base, token: undefined })).toEqual({ ok: false, reason: "the form's CSRF token is missing or wrong; reload the page" });
  });
});

describe("return paths", () => {
  it("keep local paths and replace anything that leaves the site", () => {
    expect(localReturnPath("/runs/1?x=2")).toBe("/runs/1?x=2");
    for (const bad of ["https://evil.example/", "//evil.example", "/\\evil.example", "javascript:alert(1)", "runs", "/a\r\nSet-Cookie: x=1", null, undefined, ""]) expect(localReturnPath(bad), String(bad)).toBe("/");
  });
});

describe("read-access cache", () => {
  const alice: SignedInUser = { kind: "oauth", host: "github", login: "alice", token: "ghu_alice" };
  const repo = { host: "github" as const, owner: "acme", name: "app" };

  it("asks the host once per user and repository within the TTL, then again", async () => {
    let now = 0;
    const asked: string[] = [];
    const access = new RepoAccess({ check: async (_host, token, owner, name) => (asked.push(`${token} ${owner}/${name}`), name === "app"), ttlMs: 60_000, now: () => now });
    expect(await access.canRead(alice, repo)).toBe(true);
    expect(await access.canRead(alice, repo)).toBe(true);
    expect(await access.canRead(alice, { ...repo, name: "secret" })).toBe(false);
    expect(await access.canRead(alice, { ...repo, name: "secret" })).toBe(false);
    expect(asked).toEqual(["ghu_alice acme/app", "ghu_alice acme/secret"]);
    now = 60_000;
    expect(await access.canRead(alice, repo)).toBe(true);
    expect(asked).toHaveLength(3);
    // Another user's token is asked separately.
    expect(await access.canRead({ ...alice, login: "bob", token: "ghu_bob" }, repo)).toBe(true);
    expect(asked.at(-1)).toBe("ghu_bob acme/app");
  });

  it("lets the admin read all, a user of another host nothing, and does not keep failures", async () => {
    let fail = true;
    let calls = 0;
    const access = new RepoAccess({ check: async () => { calls++; if (fail) throw new Error("host down"); return true; } });
    expect(await access.canRead({ kind: "admin" }, repo)).toBe(true);
    expect(await access.canRead({ ...alice, host: "gitee" }, repo)).toBe(false);
    expect(calls).toBe(0);
    expect(await access.canRead(alice, repo)).toBe(false);
    fail = false;
    expect(await access.canRead(alice, repo)).toBe(true);
    expect(calls).toBe(2);
    expect(await access.readable(alice, [repo, { ...repo, host: "gitee" as const }])).toEqual([repo]);
  });

  it("keeps at most maxEntries answers", async () => {
    let calls = 0;
    const access = new RepoAccess({ check: async () => (calls++, true), maxEntries: 2 });
    for (const name of ["a", "b", "c", "a"]) await access.canRead(alice, { ...repo, name });
    expect(calls).toBe(4);
  });
});

describe("dashboard settings", () => {
  it("reads the OAuth apps, the admin token and the session key, and refuses half a pair", () => {
    const parsed = parseDashboardSettings({ GITHUB_CLIENT_ID: "Iv1.x", GITHUB_CLIENT_SECRET: "s", BERTH_DASHBOARD_TOKEN: "0123456789abcdef", BERTH_DASHBOARD_SESSION_HOURS: "2" });
    expect(parsed.ok && parsed.settings).toMatchObject({ github: { clientId: "Iv1.x", webUrl: "https://github.com", apiUrl: "https://api.github.com" }, adminToken: "0123456789abcdef", secretSet: false, sessionTtlMs: 7_200_000 });
    expect(parsed.ok && parsed.settings.secret).toBeTruthy();
    const ghe = parseDashboardSettings({ GITHUB_CLIENT_ID: "a", GITHUB_CLIENT_SECRET: "b", GHE_HOST: "ghe.example.com" });
    expect(ghe.ok && ghe.settings.github?.apiUrl).toBe("https://ghe.example.com/api/v3");
    const gitee = parseDashboardSettings({ BERTH_GITEE_OAUTH_CLIENT_ID: "g", BERTH_GITEE_OAUTH_CLIENT_SECRET: "h" });
    expect(gitee.ok && gitee.settings.gitee).toEqual({ clientId: "g", clientSecret: "h", webUrl: "https://gitee.com", apiUrl: "https://gitee.com/api/v5" });
    expect(parseDashboardSettings({}).ok && parseDashboardSettings({}).ok).toBe(true);
    expect(parseDashboardSettings({ GITHUB_CLIENT_ID: "a" })).toMatchObject({ ok: false });
    expect(parseDashboardSettings({ BERTH_GITEE_OAUTH_CLIENT_SECRET: "a" })).toMatchObject({ ok: false });
    expect(parseDashboardSettings({ BERTH_DASHBOARD_TOKEN: "short" })).toMatchObject({ ok: false, error: expect.stringContaining("16") });
    expect(parseDashboardSettings({ BERTH_DASHBOARD_SECRET: "short" })).toMatchObject({ ok: false });
  });
});
