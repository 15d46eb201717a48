/**
 * Who is signed in: a sealed cookie (`CookieSealer`) holding the user and a CSRF token, valid for
 * a fixed time after sign-in. Nothing is kept on the server, so every replica reads the same
 * session when they share the dashboard secret.
 */
import { randomBytes } from "node:crypto";
import type { IncomingMessage } from "node:http";
import { z } from "zod";
import type { HostKind } from "../../domain/types.js";
import { parseCookies, serializeCookie } from "./cookies.js";
import { CookieSealer } from "./sealed-cookie.js";

/** Who the dashboard acts for. */
export type SignedInUser =
  /** Signed in with BERTH_DASHBOARD_TOKEN: sees every repository, acts as admin. */
  | { kind: "admin" }
  /** Signed in with a code host: sees what the host lets `login` read, acts with their permission. */
  | { kind: "oauth"; host: HostKind; login: string; token: string };

export interface Session {
  user: SignedInUser;
  /** The synchronizer token every POST carries back. */
  csrf: string;
}

const sessionSchema = z.object({
  user: z.discriminatedUnion("kind", [
    z.object({ kind: z.literal("admin") }),
    z.object({ kind: z.literal("oauth"), host: z.enum(["github", "gitee"]), login: z.string().min(1), token: z.string().min(1) }),
  ]),
  csrf: z.string().min(16),
});

/** The audit log's name of a user: `github:octocat`, `gitee:alice`, `admin`. */
export function actorOf(user: SignedInUser): string {
  return user.kind === "admin" ? "admin" : `${user.host}:${user.login}`;
}

export const SESSION_COOKIE = "berth_session";

export class SessionCookies {
  private readonly sealer: CookieSealer;

  constructor(
    secret: string | Buffer,
    private readonly options: { ttlMs: number; secure: boolean; now: () => number },
  ) {
    this.sealer = new CookieSealer(secret, "session");
  }

  /** The request's session, or undefined (none, tampered, expired). */
  read(req: Pick<IncomingMessage, "headers">): Session | undefined {
    const value = parseCookies(req.headers.cookie).get(SESSION_COOKIE);
    const parsed = sessionSchema.safeParse(this.sealer.open(value, this.options.now()));
    return parsed.success ? (parsed.data as Session) : undefined;
  }

  /**
   * A new session for `user` (a fresh CSRF token) and its Set-Cookie value. It lasts the configured
   * time, or less when `endsWithinMs` says so (the user's OAuth token expires sooner).
   */
  start(user: SignedInUser, endsWithinMs?: number): { session: Session; cookie: string } {
    const session: Session = { user, csrf: randomBytes(24).toString("base64url") };
    const ttlMs = Math.min(this.options.ttlMs, endsWithinMs ?? Infinity);
    const value = this.sealer.seal(session, this.options.now() + ttlMs);
    return { session, cookie: serializeCookie(SESSION_COOKIE, value, { maxAge: ttlMs / 1000, secure: this.options.secure }) };
  }

  /** The Set-Cookie value that ends the session. */
  clear(): string {
    return serializeCookie(SESSION_COOKIE, "", { maxAge: 0, secure: this.options.secure });
  }
}
