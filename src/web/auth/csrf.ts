/**
 * Cross-site request forgery checks of state-changing requests: a synchronizer token (kept in the
 * sealed session, sent back in a form field or the `x-csrf-token` header) and the request's
 * Origin (or, without one, its Referer) being the dashboard's own origin.
 */
import { timingSafeEqual } from "node:crypto";

export interface CsrfInput {
  /** The `Origin` header. */
  origin: string | undefined;
  /** The `Referer` header (used when a browser sends no Origin). */
  referer: string | undefined;
  /** The token the request carries. */
  token: string | undefined;
  /** The session's token; undefined when there is no session. */
  sessionToken: string | undefined;
  /** `https://berth.example.com` (BERTH_PUBLIC_URL's origin). */
  publicOrigin: string;
}

export type CsrfVerdict = { ok: true } | { ok: false; reason: string };

function originOf(url: string): string | undefined {
  try {
    return new URL(url).origin;
  } catch {
    return undefined;
  }
}

function sameToken(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Whether the request comes from the dashboard's own origin (Origin, else Referer). Pure. */
export function checkOrigin(input: Pick<CsrfInput, "origin" | "referer" | "publicOrigin">): CsrfVerdict {
  const claimed = input.origin !== undefined && input.origin !== "null" ? input.origin : input.referer !== undefined ? originOf(input.referer) : undefined;
  if (claimed === undefined) return { ok: false, reason: "the request names no origin (Origin or Referer)" };
  if (claimed !== input.publicOrigin) return { ok: false, reason: `the request comes from ${claimed}, not ${input.publicOrigin}` };
  return { ok: true };
}

/** Whether a POST may go on: its own origin and the session's token. Pure. */
export function checkCsrf(input: CsrfInput): CsrfVerdict {
  const origin = checkOrigin(input);
  if (!origin.ok) return origin;
  if (!input.sessionToken) return { ok: false, reason: "not signed in" };
  if (!input.token || !sameToken(input.token, input.sessionToken)) return { ok: false, reason: "the form's CSRF token is missing or wrong; reload the page" };
  return { ok: true };
}
