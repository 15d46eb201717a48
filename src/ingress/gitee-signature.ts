/**
 * Verification of Gitee webhook deliveries (`X-Gitee-Token` + `X-Gitee-Timestamp`).
 *
 * Gitee offers two modes when a webhook is created:
 * - password mode: `X-Gitee-Token` carries the secret itself;
 * - signature mode: `X-Gitee-Token` carries base64(HMAC-SHA256(key = secret,
 *   message = timestamp + "\n" + secret)), sometimes URL-encoded, and `X-Gitee-Timestamp` the
 *   millisecond timestamp it signs.
 *
 * Both are accepted. Comparisons are constant-time. In signature mode the timestamp must be within
 * one hour of the clock; in password mode the timestamp is not covered by anything secret, so it is
 * not checked (checking it would add no protection against replay).
 */
import { createHmac, timingSafeEqual, createHash } from "node:crypto";

/** Largest accepted distance between the signed timestamp and the clock. */
export const GITEE_MAX_CLOCK_SKEW_MS = 60 * 60 * 1000;

/** Why a delivery was refused; never contains the secret or the received token. */
export type GiteeSignatureFailure =
  | "missing secret"
  | "missing token"
  | "missing timestamp"
  | "invalid timestamp"
  | "stale timestamp"
  | "token mismatch";

/**
 * Outcome of `verifyGiteeSignature`: the mode that matched, or why the delivery is refused. In
 * signature mode it carries what was signed (the timestamp) and the signature in its canonical
 * (decoded) form: together they identify the delivery, since the body is not signed.
 */
export type GiteeSignatureResult =
  | { ok: true; mode: "password" }
  | { ok: true; mode: "signature"; timestamp: string; signature: string }
  | { ok: false; reason: GiteeSignatureFailure };

/** The headers of one delivery and the configured secret. */
export interface GiteeSignatureInput {
  /** The configured webhook secret (password or signing key). */
  secret: string;
  /** Value of the `X-Gitee-Token` header. */
  token: string | undefined;
  /** Value of the `X-Gitee-Timestamp` header (milliseconds since the epoch). */
  timestamp: string | undefined;
  /** Current time in milliseconds; injected in tests. */
  now?: number;
}

/** base64(HMAC-SHA256(key = secret, message = `${timestamp}\n${secret}`)), as Gitee computes it. */
export function signGiteeTimestamp(secret: string, timestamp: string): string {
  return createHmac("sha256", secret).update(`${timestamp}\n${secret}`).digest("base64");
}

/** Constant-time string equality (hashing first so different lengths do not leak through timing). */
function safeEqual(a: string, b: string): boolean {
  const ha = createHash("sha256").update(a, "utf8").digest();
  const hb = createHash("sha256").update(b, "utf8").digest();
  return timingSafeEqual(ha, hb);
}

function decodeOrSelf(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

/**
 * Check a delivery's token against the secret. Never throws; the result says which mode matched or
 * why the delivery must be refused.
 */
export function verifyGiteeSignature(input: GiteeSignatureInput): GiteeSignatureResult {
  const { secret } = input;
  if (!secret) return { ok: false, reason: "missing secret" };
  const token = input.token?.trim();
  if (!token) return { ok: false, reason: "missing token" };

  if (safeEqual(token, secret)) return { ok: true, mode: "password" };

  const timestamp = input.timestamp?.trim();
  if (!timestamp) return { ok: false, reason: "missing timestamp" };
  if (!/^\d{1,16}$/.test(timestamp)) return { ok: false, reason: "invalid timestamp" };
  const expected = signGiteeTimestamp(secret, timestamp);
  // The token may arrive raw ("a+b/c=") or URL-encoded ("a%2Bb%2Fc%3D"); compare both forms, always
  // doing both comparisons so timing does not reveal which form was sent.
  const rawMatch = safeEqual(token, expected);
  const decodedMatch = safeEqual(decodeOrSelf(token), expected);
  if (!rawMatch && !decodedMatch) return { ok: false, reason: "token mismatch" };

  const now = input.now ?? Date.now();
  if (Math.abs(now - Number(timestamp)) > GITEE_MAX_CLOCK_SKEW_MS) return { ok: false, reason: "stale timestamp" };
  return { ok: true, mode: "signature", timestamp, signature: expected };
}
