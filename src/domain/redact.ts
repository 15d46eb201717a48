/**
 * Secret redaction for anything berth prints or posts (logs, comments, error messages).
 */

/** Text put in place of a secret. */
export const REDACTED = "***";

/**
 * A function that removes every known secret from a text. Redactors made by {@link createRedactor}
 * also say how long the longest form they remove is, so a stream can keep that much back between
 * chunks (a secret split over two writes is still found).
 */
export type Redactor = ((text: string) => string) & { readonly longest?: number };

/** A user name and password that travel together (HTTP Basic auth, a Docker `auth` field). */
export interface CredentialPair {
  username: string;
  password: string | undefined;
}

/** Base64 forms shorter than this are not removed from inside longer base64 text (they would match by chance). */
const MIN_BASE64_CORE = 8;

/** Standard, URL-safe and unpadded base64 of a text. */
function base64Forms(bytes: Buffer): string[] {
  const std = bytes.toString("base64");
  const url = bytes.toString("base64url");
  return [std, std.replace(/=+$/, ""), url, url.replace(/=+$/, "")];
}

/**
 * The base64 characters that only the secret's bytes decide, for each of the three offsets the
 * secret can have inside a longer encoded text (`user:password`, a JSON config with the secret in
 * it): a secret anywhere in a base64 blob is removed but for at most two characters at each end.
 */
function base64Cores(bytes: Buffer): string[] {
  const cores: string[] = [];
  for (let offset = 0; offset < 3; offset++) {
    const padded = Buffer.concat([Buffer.alloc(offset), bytes]);
    const start = Math.ceil((8 * offset) / 6);
    const end = Math.floor((8 * padded.length) / 6);
    if (end - start < MIN_BASE64_CORE) continue;
    cores.push(padded.toString("base64").slice(start, end), padded.toString("base64url").slice(start, end));
  }
  return cores;
}

/** Percent-encoded forms: `encodeURIComponent`, form encoding (`+` for space), lower-case hex. */
function urlForms(secret: string): string[] {
  const component = encodeURIComponent(secret);
  const form = new URLSearchParams({ s: secret }).toString().slice(2);
  return [component, component.replace(/%[0-9A-F]{2}/g, (e) => e.toLowerCase()), form, encodeURI(secret)];
}

function formsOf(secret: string, out: Set<string>): void {
  out.add(secret);
  for (const form of urlForms(secret)) out.add(form);
  // Inside JSON strings (`"password":"a\"b"`).
  out.add(JSON.stringify(secret).slice(1, -1));
  const bytes = Buffer.from(secret);
  for (const form of base64Forms(bytes)) out.add(form);
  for (const core of base64Cores(bytes)) out.add(core);
  // A secret of several lines (a PEM key) is printed line by line as often as whole.
  const lines = secret.split(/\r?\n/).map((line) => line.trim());
  if (lines.length > 1) for (const line of lines) if (line.length >= 8) out.add(line);
}

/**
 * Build a redactor for the given secrets and credential pairs. Secrets shorter than 4 characters
 * are ignored (they would mangle ordinary text). Removed are: the secret itself, its URL-encoded
 * forms, its JSON-escaped form, its standard and URL-safe base64 (padded or not, also where it
 * sits inside a longer base64 text), each line of a multi-line secret, and for a pair the base64
 * of `username:password` (Basic auth, Docker `auth`) plus the password's own forms. Credentials in
 * URLs (`https://user:pass@host`) are removed whatever they are.
 */
export function createRedactor(secrets: ReadonlyArray<string | undefined | CredentialPair>): Redactor {
  const forms = new Set<string>();
  for (const secret of secrets) {
    if (secret === undefined) continue;
    if (typeof secret === "string") {
      if (secret.length >= 4) formsOf(secret, forms);
      continue;
    }
    if (!secret.password || secret.password.length < 4) continue;
    formsOf(secret.password, forms);
    const pair = `${secret.username}:${secret.password}`;
    for (const form of base64Forms(Buffer.from(pair))) forms.add(form);
    for (const form of urlForms(pair)) forms.add(form);
  }
  for (const form of forms) if (form.length < 4) forms.delete(form);
  const ordered = [...forms].sort((a, b) => b.length - a.length);
  const redact = (text: string): string => {
    let out = text;
    for (const form of ordered) if (out.includes(form)) out = out.split(form).join(REDACTED);
    // Credentials embedded in URLs (https://user:pass@host) never leave berth.
    return out.replace(/(\b[a-z][a-z0-9+.-]*:\/\/)[^/\s:@]+:[^/\s@]+@/gi, `$1${REDACTED}@`);
  };
  return Object.assign(redact, { longest: ordered[0]?.length ?? 0 });
}

/**
 * Where to cut text that is already redacted and will be continued by more text, so that no part of
 * a secret is handed on before the rest of it arrives: all but the last `longest - 1` characters
 * (never between the halves of a surrogate pair).
 */
export function safeCut(redacted: string, redact: Redactor): number {
  let cut = Math.max(0, redacted.length - Math.max(0, (redact.longest ?? 0) - 1));
  const code = redacted.charCodeAt(cut - 1);
  if (cut > 0 && code >= 0xd800 && code <= 0xdbff) cut--;
  return cut;
}
