/**
 * Secret redaction for anything berth prints or posts (logs, comments, error messages).
 */

/** Text put in place of a secret. */
export const REDACTED = "***";

/** A function that removes every known secret from a text. */
export type Redactor = (text: string) => string;

/**
 * Build a redactor for the given secrets. Secrets shorter than 4 characters are ignored (they would
 * mangle ordinary text); URL-encoded and base64 forms are removed too.
 */
export function createRedactor(secrets: ReadonlyArray<string | undefined>): Redactor {
  const forms = new Set<string>();
  for (const secret of secrets) {
    if (!secret || secret.length < 4) continue;
    forms.add(secret);
    forms.add(encodeURIComponent(secret));
    forms.add(Buffer.from(secret).toString("base64"));
  }
  const ordered = [...forms].sort((a, b) => b.length - a.length);
  return (text) => {
    let out = text;
    for (const form of ordered) out = out.split(form).join(REDACTED);
    // Credentials embedded in URLs (https://user:pass@host) never leave berth.
    return out.replace(/(\b[a-z][a-z0-9+.-]*:\/\/)[^/\s:@]+:[^/\s@]+@/gi, `$1${REDACTED}@`);
  };
}
