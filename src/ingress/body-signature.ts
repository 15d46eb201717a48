/**
 * HMAC-SHA256 signatures of webhook bodies (GitHub `X-Hub-Signature-256: sha256=<hex>`, Gitea,
 * Forgejo and Gogs `X-*-Signature: <hex>`), compared in constant time.
 */
import { createHmac, timingSafeEqual } from "node:crypto";

/** Whether `signature` is `prefix` + hex HMAC-SHA256 of `body` with `secret`. */
export function bodySignatureMatches(secret: string, body: Buffer, signature: string, prefix = ""): boolean {
  const expected = Buffer.from(`${prefix}${createHmac("sha256", secret).update(body).digest("hex")}`);
  const given = Buffer.from(signature.trim().toLowerCase());
  return given.length === expected.length && timingSafeEqual(given, expected);
}
