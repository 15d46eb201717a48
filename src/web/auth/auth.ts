/**
 * The dashboard's sign-in, as one reusable module (private previews reuse it): routes under
 * `/auth/`, the session of a request, the CSRF check of a POST and what a user may read.
 *
 * - `GET /auth/sign-in?return=/path`: the sign-in page (one button per configured host, and the
 *   admin token form when BERTH_DASHBOARD_TOKEN is set).
 * - `GET /auth/<host>/start?return=/path`: a fresh `state` (and PKCE verifier where the host takes
 *   one) in a sealed, 10-minute cookie; redirect to the host's authorize page.
 * - `GET /auth/<host>/callback?code&state`: the state must match the cookie's; the code is traded for
 *   the user's token, the user's login read, the session cookie set; back to `return`.
 * - `POST /auth/token`: the admin login (same-origin form, token compared in constant time).
 * - `POST /auth/sign-out`: ends the session (CSRF-checked).
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "pino";
import { z } from "zod";
import type { HostKind } from "../../domain/types.js";
import { html, type Html } from "../../render/html.js";
import { BodyRefusedError, readBoundedBody, refusalStatus } from "../bounded-body.js";
import type { RouteHandler } from "../routes.js";
import { parseCookies, serializeCookie } from "./cookies.js";
import { checkCsrf, checkOrigin, type CsrfVerdict } from "./csrf.js";
import type { OAuthProvider } from "./oauth-providers.js";
import { RepoAccess, type RepoName } from "./repo-access.js";
import { CookieSealer } from "./sealed-cookie.js";
import { SessionCookies, type Session } from "./session.js";

export interface AuthOptions {
  /** BERTH_PUBLIC_URL: callback URLs are `<publicUrl>/auth/<host>/callback`. */
  publicUrl: string;
  /** Key material of the sealed cookies. */
  secret: string | Buffer;
  providers: Partial<Record<HostKind, OAuthProvider>>;
  /** BERTH_DASHBOARD_TOKEN. */
  adminToken?: string;
  /** How long a sign-in lasts (default 8 h). */
  sessionTtlMs?: number;
  /** How long a read-access answer is kept (default 60 s). */
  accessTtlMs?: number;
  /** Wraps a page body into the site's layout. */
  page: (title: string, body: Html, session?: Session) => string;
  log: Logger;
  now?: () => number;
}

export interface Auth {
  routes: RouteHandler;
  /** The signed-in session of a request, if any. */
  session(req: IncomingMessage): Session | undefined;
  /** CSRF check of a state-changing request carrying `token`. */
  checkPost(req: IncomingMessage, session: Session | undefined, token: string | undefined): CsrfVerdict;
  /** Whether the session's user may read the repository (cached briefly). */
  canRead(session: Session, repo: RepoName): Promise<boolean>;
  /** The repositories of `repos` the session's user may read. */
  readable<R extends RepoName>(session: Session, repos: readonly R[]): Promise<R[]>;
  /** Where to send someone who is not signed in. */
  signInUrl(returnTo: string): string;
  /** Whether any way of signing in is configured. */
  readonly enabled: boolean;
}

const OAUTH_COOKIE = "berth_oauth";
/** What the sealed flow cookie holds between `/start` and `/callback`. */
const flowSchema = z.object({ host: z.enum(["github", "gitee"]), state: z.string().min(16), verifier: z.string().optional(), returnTo: z.string() });
const OAUTH_TTL_MS = 10 * 60_000;
const FORM_LIMIT = 8 * 1024;

/** A local path to go back to after sign-in (never another site: no `//host`, no scheme). */
export function localReturnPath(value: string | null | undefined): string {
  if (!value || !value.startsWith("/") || value.startsWith("//") || value.startsWith("/\\") || /[\r\n]/.test(value)) return "/";
  return value;
}

function sameSecret(a: string, b: string): boolean {
  // Digests first: equal lengths for timingSafeEqual, and the token's length does not leak.
  return timingSafeEqual(createHash("sha256").update(a).digest(), createHash("sha256").update(b).digest());
}

function send(res: ServerResponse, status: number, body: string, headers: Record<string, string | string[]> = {}): true {
  res.writeHead(status, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store", "x-content-type-options": "nosniff", ...headers });
  res.end(body);
  return true;
}

function redirect(res: ServerResponse, location: string, cookies: string[] = []): true {
  res.writeHead(302, { location, "cache-control": "no-store", ...(cookies.length ? { "set-cookie": cookies } : {}) });
  res.end();
  return true;
}

/** Fields of an `application/x-www-form-urlencoded` body of at most 8 KiB (else BodyRefusedError). */
export async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  return new URLSearchParams((await readBoundedBody(req, FORM_LIMIT)).toString("utf8"));
}

export function createAuth(options: AuthOptions): Auth {
  const now = options.now ?? Date.now;
  const publicUrl = options.publicUrl.replace(/\/+$/, "");
  const publicOrigin = new URL(publicUrl).origin;
  const secure = publicUrl.startsWith("https:");
  const sessions = new SessionCookies(options.secret, { ttlMs: options.sessionTtlMs ?? 8 * 3_600_000, secure, now });
  const flows = new CookieSealer(options.secret, "oauth-state");
  const access = new RepoAccess({
    check: (host, token, owner, name) => {
      const provider = options.providers[host];
      return provider ? provider.canRead(token, owner, name) : Promise.resolve(false);
    },
    ...(options.accessTtlMs !== undefined ? { ttlMs: options.accessTtlMs } : {}),
    now,
  });
  const providers = Object.values(options.providers).filter((p): p is OAuthProvider => p !== undefined);
  const callbackUrl = (host: HostKind) => `${publicUrl}/auth/${host}/callback`;

  const signInPage = (returnTo: string, error?: string): string => {
    const buttons = providers.map((p) => html`<p><a class="button" href="/auth/${p.host}/start?return=${encodeURIComponent(returnTo)}">Sign in with ${p.label}</a></p>`);
    const admin = options.adminToken
      ? html`<form method="post" action="/auth/token" class="stack"><input type="hidden" name="return" value="${returnTo}">
<label>Dashboard token <input type="password" name="token" autocomplete="current-password" required></label>
<button type="submit">Sign in with the dashboard token</button></form>`
      : "";
    const none = providers.length === 0 && !options.adminToken ? html`<p>No sign-in is configured on this server: set GITHUB_CLIENT_ID and GITHUB_CLIENT_SECRET, BERTH_GITEE_OAUTH_CLIENT_ID and BERTH_GITEE_OAUTH_CLIENT_SECRET, or BERTH_DASHBOARD_TOKEN.</p>` : "";
    return options.page("Sign in", html`<h1>Sign in to berth</h1>${error ? html`<p class="error" role="alert">${error}</p>` : ""}${buttons}${admin}${none}`);
  };

  const routes: RouteHandler = async (req, res) => {
    const url = new URL(req.url ?? "/", "http://berth.local");
    const path = url.pathname;
    if (!path.startsWith("/auth/")) return false;
    if (req.method === "GET" && path === "/auth/sign-in") return send(res, 200, signInPage(localReturnPath(url.searchParams.get("return"))));

    const flow = /^\/auth\/(github|gitee)\/(start|callback)$/.exec(path);
    if (req.method === "GET" && flow) {
      const host = flow[1] as HostKind;
      const provider = options.providers[host];
      if (!provider) return send(res, 404, signInPage("/", `Sign-in with ${host} is not configured on this server.`));
      if (flow[2] === "start") {
        const state = randomBytes(24).toString("base64url");
        const verifier = provider.pkce ? randomBytes(48).toString("base64url") : undefined;
        const returnTo = localReturnPath(url.searchParams.get("return"));
        const sealed = flows.seal({ host, state, verifier, returnTo }, now() + OAUTH_TTL_MS);
        const challenge = verifier ? createHash("sha256").update(verifier).digest("base64url") : undefined;
        const target = provider.authorizeUrl({ state, redirectUri: callbackUrl(host), ...(challenge ? { codeChallenge: challenge } : {}) });
        return redirect(res, target, [serializeCookie(OAUTH_COOKIE, sealed, { maxAge: OAUTH_TTL_MS / 1000, secure })]);
      }
      const opened = flowSchema.safeParse(flows.open(parseCookies(req.headers.cookie).get(OAUTH_COOKIE), now()));
      const pending = opened.success ? opened.data : undefined;
      const clearFlow = serializeCookie(OAUTH_COOKIE, "", { maxAge: 0, secure });
      const state = url.searchParams.get("state") ?? "";
      const code = url.searchParams.get("code");
      if (!pending || pending.host !== host || !sameSecret(state, pending.state)) {
        return send(res, 400, signInPage("/", "This sign-in was not started here or took longer than 10 minutes; please sign in again."), { "set-cookie": clearFlow });
      }
      if (!code) return send(res, 400, signInPage(localReturnPath(pending.returnTo), `${provider.label} did not authorize the sign-in${url.searchParams.get("error") ? ` (${url.searchParams.get("error")})` : ""}.`), { "set-cookie": clearFlow });
      try {
        const token = await provider.exchangeCode({ code, redirectUri: callbackUrl(host), ...(pending.verifier ? { codeVerifier: pending.verifier } : {}) });
        const login = await provider.userLogin(token.accessToken);
        // The session ends no later than the token: after that the host would answer nothing.
        const started = sessions.start({ kind: "oauth", host, login, token: token.accessToken }, token.expiresInMs);
        options.log.info({ host, login }, "dashboard: signed in");
        return redirect(res, localReturnPath(pending.returnTo), [clearFlow, started.cookie]);
      } catch (error) {
        options.log.warn({ host, err: error instanceof Error ? error.message : String(error) }, "dashboard: sign-in failed");
        return send(res, 502, signInPage(localReturnPath(pending.returnTo), `Signing in with ${provider.label} failed: ${error instanceof Error ? error.message : String(error)}`), { "set-cookie": clearFlow });
      }
    }

    if (req.method === "POST" && (path === "/auth/token" || path === "/auth/sign-out")) {
      try {
        return await post(req, res, path);
      } catch (error) {
        if (!(error instanceof BodyRefusedError)) throw error;
        return send(res, refusalStatus(error.reason), signInPage("/", "The form could not be read."));
      }
    }
    return false;
  };

  async function post(req: IncomingMessage, res: ServerResponse, path: string): Promise<true> {
    if (path === "/auth/token") {
      // No session yet, so no token: the origin alone keeps other sites from signing a browser in.
      const origin = checkOrigin({ origin: header(req, "origin"), referer: header(req, "referer"), publicOrigin });
      if (!origin.ok) return send(res, 403, signInPage("/", `Refused: ${origin.reason}.`));
      const form = await readForm(req);
      const returnTo = localReturnPath(form.get("return"));
      if (!options.adminToken || !sameSecret(form.get("token") ?? "", options.adminToken)) {
        options.log.warn({}, "dashboard: wrong dashboard token");
        return send(res, 403, signInPage(returnTo, "That is not the dashboard token."));
      }
      return redirect(res, returnTo, [sessions.start({ kind: "admin" }).cookie]);
    }

    const session = sessions.read(req);
    const form = await readForm(req);
    const verdict = checkPost(req, session, form.get("_csrf") ?? undefined);
    if (!verdict.ok) return send(res, 403, signInPage("/", `Refused: ${verdict.reason}.`));
    return redirect(res, "/auth/sign-in", [sessions.clear()]);
  }

  function header(req: IncomingMessage, name: string): string | undefined {
    const value = req.headers[name];
    return Array.isArray(value) ? value[0] : value;
  }

  function checkPost(req: IncomingMessage, session: Session | undefined, token: string | undefined): CsrfVerdict {
    return checkCsrf({ origin: header(req, "origin"), referer: header(req, "referer"), token: token ?? header(req, "x-csrf-token"), sessionToken: session?.csrf, publicOrigin });
  }

  return {
    routes,
    session: (req) => sessions.read(req),
    checkPost,
    canRead: (session, repo) => access.canRead(session.user, repo),
    readable: (session, repos) => access.readable(session.user, repos),
    signInUrl: (returnTo) => `/auth/sign-in?return=${encodeURIComponent(localReturnPath(returnTo))}`,
    enabled: providers.length > 0 || options.adminToken !== undefined,
  };
}

