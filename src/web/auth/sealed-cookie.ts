/**
 * Sealed cookie values: JSON encrypted and authenticated with AES-256-GCM under a key derived
 * (HKDF-SHA256) from the dashboard secret, with an expiry inside the sealed text. A value that was
 * changed, sealed under another key or for another purpose, or has expired opens to undefined.
 * Sealed (not only signed) because a session carries the user's OAuth token.
 */
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from "node:crypto";

const IV_BYTES = 12;
const TAG_BYTES = 16;

export class CookieSealer {
  private readonly key: Buffer;

  /**
   * @param secret the dashboard secret (any length; at least 32 characters recommended)
   * @param purpose which cookie this key seals (`session`, `oauth-state`): one cannot be replayed as the other
   */
  constructor(secret: string | Buffer, private readonly purpose: string) {
    if (secret.length === 0) throw new Error("the dashboard cookie secret is empty");
    this.key = Buffer.from(hkdfSync("sha256", secret, "berth-dashboard", `cookie:${purpose}`, 32));
  }

  /** Seal `payload` to be opened until `expiresAt` (ms). */
  seal(payload: unknown, expiresAt: number): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv("aes-256-gcm", this.key, iv);
    cipher.setAAD(Buffer.from(this.purpose));
    const plain = Buffer.from(JSON.stringify({ exp: expiresAt, payload }), "utf8");
    const sealed = Buffer.concat([cipher.update(plain), cipher.final()]);
    return Buffer.concat([iv, cipher.getAuthTag(), sealed]).toString("base64url");
  }

  /** The payload, or undefined when the value is not one this sealer made or it expired before `now`. */
  open(value: string | undefined, now: number): unknown {
    if (!value || value.length > 8192) return undefined;
    const bytes = Buffer.from(value, "base64url");
    if (bytes.length < IV_BYTES + TAG_BYTES + 1) return undefined;
    try {
      const decipher = createDecipheriv("aes-256-gcm", this.key, bytes.subarray(0, IV_BYTES));
      decipher.setAAD(Buffer.from(this.purpose));
      decipher.setAuthTag(bytes.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
      const plain = Buffer.concat([decipher.update(bytes.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString("utf8");
      const parsed = JSON.parse(plain) as { exp?: unknown; payload?: unknown };
      if (typeof parsed.exp !== "number" || parsed.exp <= now) return undefined;
      return parsed.payload;
    } catch {
      return undefined;
    }
  }
}
