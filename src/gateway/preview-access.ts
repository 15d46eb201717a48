/**
 * Who may open a private preview (`preview.access: private`), decided by berth's gateway:
 * - a **signed link** berth puts in the status comment (`?berth_link=…`): HMAC-signed, bound to the
 *   preview's host name, expiring (by default 7 days after the deploy), for people without an
 *   account on the code host;
 * - a **sign-in** with the code host: the gateway sends the visitor to berth's own `/auth/preview`,
 *   which signs them in (OAuth, the dashboard's module), checks they can read the repository and
 *   hands back a one-minute grant the gateway trades for a session cookie.
 *
 * Either way the gateway then sets `berth_preview`, a cookie of the preview's own host name
 * (`HttpOnly`, `SameSite=Lax`, `Secure` over https), valid for `sessionTtlMs` (15 min by default):
 * the repository check is cached that long, not made on every request. berth's cookies never
 * reach the preview (see `withoutBerthCookies`).
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { z } from "zod";

/** Query parameter of a signed link. */
export const LINK_PARAM = "berth_link";
/** Path on a preview host where a sign-in grant is traded for the session cookie. */
export const GRANT_PATH = "/.berth/session";
/** The session cookie of a private preview. */
export const SESSION_COOKIE = "berth_preview";

export type PreviewAccessMode = "public" | "private";

type TokenKind = "link" | "grant" | "session";

const tokenSchema = z.object({ k: z.enum(["link", "grant", "session"]), l: z.string().max(63), e: z.number().int(), u: z.string().max(100).optional() });

export interface PreviewAccessOptions {
  /** Key of every token (the same on every replica). */
  secret: string | Buffer;
  /** `https` when previews are served over TLS (cookies get `Secure`). */
  scheme: "http" | "https";
  /** berth's own URL (`BERTH_PUBLIC_URL`) when sign-in is configured; without it only signed links let people in. */
  signInBaseUrl?: string;
  sessionTtlMs?: number;
  grantTtlMs?: number;
  now?: () => number;
}

/** What the gateway does with a request to a private preview. */
export type AccessDecision =
  | { kind: "allow" }
  /** Send the visitor on (with the cookie to set, when a link or grant was just accepted). */
  | { kind: "redirect"; location: string; setCookie?: string }
  | { kind: "deny"; reason: string };

export class PreviewAccess {
  private readonly now: () => number;

  constructor(private readonly options: PreviewAccessOptions) {
    this.now = options.now ?? Date.now;
  }

  /** Whether berth can sign people in for private previews (else only signed links work). */
  get signInEnabled(): boolean {
    return this.options.signInBaseUrl !== undefined;
  }

  /** `url` with a signed link parameter for the preview `label`, valid until `expiresAt` (ms). */
  signedLink(url: string, label: string, expiresAt: number): string {
    const link = new URL(url);
    link.searchParams.set(LINK_PARAM, this.token({ k: "link", l: label, e: Math.floor(expiresAt / 1000) }));
    return link.toString();
  }

  /** A one-minute grant for `user` to open the preview `label` (made by berth after its repository check). */
  grant(label: string, user: string): string {
    return this.token({ k: "grant", l: label, u: user, e: Math.floor((this.now() + (this.options.grantTtlMs ?? 60_000)) / 1000) });
  }

  /**
   * Decide a request for the private preview `label` served at `host` (the request's Host):
   * its path with query, and its cookies.
   */
  decide(request: { host: string; pathAndQuery: string; cookies: Record<string, string> }, label: string): AccessDecision {
    const url = new URL(request.pathAndQuery, `${this.options.scheme}://${request.host}`);
    if (url.pathname === GRANT_PATH) {
      const grant = this.verify(url.searchParams.get("grant"), "grant", label);
      if (!grant) return { kind: "deny", reason: "the sign-in grant is not valid for this preview, or has expired; open the preview again" };
      return { kind: "redirect", location: safeReturn(url.searchParams.get("return")), setCookie: this.sessionCookie(label, grant.u) };
    }
    const link = url.searchParams.get(LINK_PARAM);
    if (link !== null) {
      if (!this.verify(link, "link", label)) return { kind: "deny", reason: "this signed link is not valid for this preview, or has expired; take the link from the PR's status comment again" };
      url.searchParams.delete(LINK_PARAM);
      return { kind: "redirect", location: `${url.pathname}${url.search}`, setCookie: this.sessionCookie(label, undefined) };
    }
    if (this.verify(request.cookies[SESSION_COOKIE], "session", label)) return { kind: "allow" };
    if (!this.options.signInBaseUrl) return { kind: "deny", reason: "this preview is private: open it with the signed link in the PR's status comment" };
    const signIn = new URL(`${this.options.signInBaseUrl.replace(/\/+$/, "")}/auth/preview`);
    signIn.searchParams.set("host", request.host);
    signIn.searchParams.set("return", `${url.pathname}${url.search}`);
    return { kind: "redirect", location: signIn.toString() };
  }

  private sessionCookie(label: string, user: string | undefined): string {
    const ttl = this.options.sessionTtlMs ?? 15 * 60_000;
    const value = this.token({ k: "session", l: label, e: Math.floor((this.now() + ttl) / 1000), ...(user ? { u: user } : {}) });
    const secure = this.options.scheme === "https" ? "; Secure" : "";
    return `${SESSION_COOKIE}=${value}; Path=/; Max-Age=${Math.floor(ttl / 1000)}; HttpOnly; SameSite=Lax${secure}`;
  }

  private token(payload: z.infer<typeof tokenSchema>): string {
    const body = Buffer.from(JSON.stringify(payload)).toString("base64url");
    return `${body}.${this.sign(body)}`;
  }

  private sign(body: string): string {
    return createHmac("sha256", this.options.secret).update(`berth-preview-access\u0000${body}`).digest("base64url");
  }

  /** The token's payload when it is ours, of `kind`, for `label` and not expired. */
  private verify(token: string | null | undefined, kind: TokenKind, label: string): z.infer<typeof tokenSchema> | undefined {
    if (!token || token.length > 2048) return undefined;
    const [body, signature] = token.split(".");
    if (!body || !signature) return undefined;
    const expected = Buffer.from(this.sign(body));
    const given = Buffer.from(signature);
    if (expected.length !== given.length || !timingSafeEqual(expected, given)) return undefined;
    let payload: unknown;
    try {
      payload = JSON.parse(Buffer.from(body, "base64url").toString("utf8"));
    } catch {
      return undefined;
    }
    const parsed = tokenSchema.safeParse(payload);
    if (!parsed.success || parsed.data.k !== kind || parsed.data.l !== label || parsed.data.e * 1000 <= this.now()) return undefined;
    return parsed.data;
  }
}

/** A path on the same host to return to; anything else (another host, a scheme) becomes `/`. */
function safeReturn(value: string | null): string {
  if (!value || !value.startsWith("/") || value.startsWith("//") || value.includes("\\")) return "/";
  return value;
}
