/**
 * A small client for the registry API every OCI registry speaks (the OCI distribution spec, the
 * Docker Registry HTTP API v2): list a repository's tags, resolve a tag to its manifest digest,
 * delete a manifest or a tag. Used to clean up PR images on registries that are not Harbor.
 *
 * - Auth the way Docker does it: an unauthenticated attempt; on 401 the `WWW-Authenticate`
 *   challenge decides — `Basic` sends the credentials, `Bearer` fetches a token from the realm
 *   (with the credentials, or anonymously) for the scope the registry asked for, cached per scope.
 * - Plain HTTP only for loopback registries (as the Docker engine allows by default), HTTPS
 *   otherwise.
 * - Deadline, retries (5xx, 429, connection errors, timeouts), zod parsing and redacted errors
 *   come from the shared transport (`../http-transport.ts`); errors carry method, path, status and
 *   the registry's `{errors:[{code,message}]}`.
 */
import type { Logger } from "pino";
import { z } from "zod";
import { HttpApiError, HttpTransport, type HttpErrorDetails, type TransportRequest, type TransportResponse } from "../http-transport.js";

export interface DistributionClientOptions {
  /** Registry host with optional port, e.g. `127.0.0.1:5000` or `registry.example.com`. */
  host: string;
  username?: string | undefined;
  password?: string | undefined;
  log: Pick<Logger, "debug" | "info" | "warn">;
  /** Deadline of one attempt. Default 15 s. */
  timeoutMs?: number;
  /** Retries after the first attempt on 5xx and connection errors. Default 2. */
  retries?: number;
  /** First backoff delay, doubled per retry, plus up to 25 % jitter. Default 500 ms. */
  backoffMs?: number;
  /** A tag listing longer than this fails instead of being cut short. Default 10 000. */
  maxTags?: number;
  /** Waits between retries; injected in tests. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

/** A registry answer that was not what the call needed. */
export class RegistryApiError extends HttpApiError {
  constructor(message: string, details: HttpErrorDetails) {
    super(message, details);
    this.name = "RegistryApiError";
  }
}

/** Manifest media types berth asks for, so HEAD answers with the digest the push produced. */
export const MANIFEST_MEDIA_TYPES = [
  "application/vnd.oci.image.index.v1+json",
  "application/vnd.oci.image.manifest.v1+json",
  "application/vnd.docker.distribution.manifest.list.v2+json",
  "application/vnd.docker.distribution.manifest.v2+json",
] as const;

const DIGEST = /^sha256:[0-9a-f]{64}$/;
/** Repository names of the distribution spec. */
const REPOSITORY_NAME = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;
const TAG_NAME = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;

const tagListSchema = z.object({ name: z.string(), tags: z.array(z.string()).nullable().optional() });
const errorBodySchema = z.object({ errors: z.array(z.object({ code: z.string(), message: z.string().optional() })).min(1) });
const tokenSchema = z.object({ token: z.string().optional(), access_token: z.string().optional() }).refine((t) => Boolean(t.token ?? t.access_token), "no token");

/** A parsed `WWW-Authenticate` challenge. */
export interface AuthChallenge {
  scheme: "basic" | "bearer";
  realm?: string;
  service?: string;
  scope?: string;
}

/** Parse `Bearer realm="…",service="…",scope="…"` or `Basic realm="…"`; null for anything else. */
export function parseAuthChallenge(header: string | undefined): AuthChallenge | null {
  if (!header) return null;
  const match = /^\s*(Basic|Bearer)\b\s*(.*)$/i.exec(header);
  if (!match) return null;
  const challenge: AuthChallenge = { scheme: match[1]!.toLowerCase() as AuthChallenge["scheme"] };
  for (const param of (match[2] ?? "").matchAll(/([a-zA-Z]+)\s*=\s*(?:"([^"]*)"|([^\s,]+))/g)) {
    const key = param[1]!.toLowerCase();
    const value = param[2] ?? param[3] ?? "";
    if (key === "realm" || key === "service" || key === "scope") challenge[key] = value;
  }
  return challenge;
}

/** True for hosts the Docker engine talks plain HTTP to without configuration. */
export function isLoopbackRegistry(host: string): boolean {
  const name = host.startsWith("[") ? host.slice(1, host.indexOf("]")) : host.split(":")[0] ?? "";
  return name === "localhost" || name === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name);
}

/** The `next` URL of a `Link` header, if any. */
export function nextLink(header: string | undefined): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(",")) {
    const match = /<([^>]+)>\s*;\s*rel="?next"?/i.exec(part);
    if (match) return match[1];
  }
  return undefined;
}

type Method = "GET" | "HEAD" | "DELETE";

/** A registry call: path (and query) below the registry root, already encoded. */
interface Request extends TransportRequest {
  method: Method;
}

function checkRepository(repository: string): string {
  if (!REPOSITORY_NAME.test(repository)) throw new RegistryApiError(`invalid repository name "${repository}"`, { code: "NAME_INVALID" });
  return repository;
}

export class DistributionClient {
  readonly host: string;
  private readonly http: HttpTransport;
  private readonly credentials: { username: string; password: string } | undefined;
  private readonly maxTags: number;
  /** Bearer tokens by scope; `basic` once the registry asked for Basic auth. */
  private readonly tokens = new Map<string, string>();
  private basic = false;

  constructor(options: DistributionClientOptions) {
    this.host = options.host;
    this.credentials = options.username && options.password ? { username: options.username, password: options.password } : undefined;
    this.maxTags = options.maxTags ?? 10_000;
    this.http = new HttpTransport({
      name: "registry",
      label: `registry ${options.host}:`,
      baseUrl: `${isLoopbackRegistry(options.host) ? "http" : "https"}://${options.host}`,
      log: options.log,
      secrets: [options.password],
      timeoutMs: options.timeoutMs ?? 15_000,
      retries: options.retries ?? 2,
      backoffMs: options.backoffMs ?? 500,
      maxRedirects: 5,
      describeError: describeRegistryErrors,
      createError: (message, details) => new RegistryApiError(message, details),
      ...(options.sleep ? { sleep: options.sleep } : {}),
    });
  }

  /** Every tag of a repository (all pages); empty when the registry does not know the repository. */
  async listTags(repository: string): Promise<string[]> {
    const tags: string[] = [];
    let path: string | undefined = `/v2/${checkRepository(repository)}/tags/list?n=1000`;
    while (path !== undefined) {
      const req: Request = { method: "GET", path, accept: [404] };
      const res = await this.send(req);
      if (res.status === 404) return [];
      const list = this.http.parse(req, res, tagListSchema);
      tags.push(...(list.tags ?? []));
      if (tags.length > this.maxTags) throw this.http.fail(req, `answered ${res.status} (lists more than ${this.maxTags} tags)`, { status: res.status });
      const next = nextLink(res.header("link"));
      // A next link must stay on this registry (it is followed with the registry's credentials).
      path = next === undefined ? undefined : next.startsWith("/") ? next : undefined;
    }
    return tags;
  }

  /** The manifest digest a tag points at; null when the tag does not exist. */
  async digestOf(repository: string, tag: string): Promise<string | null> {
    if (!TAG_NAME.test(tag)) throw new RegistryApiError(`invalid tag "${tag}"`, { code: "TAG_INVALID" });
    const req: Request = {
      method: "HEAD",
      path: `/v2/${checkRepository(repository)}/manifests/${tag}`,
      headers: { Accept: MANIFEST_MEDIA_TYPES.join(", ") },
      accept: [404],
    };
    const res = await this.send(req);
    if (res.status === 404) return null;
    const digest = res.header("docker-content-digest");
    if (!digest || !DIGEST.test(digest)) throw this.http.fail(req, `answered ${res.status} (answered without a Docker-Content-Digest header)`, { status: res.status });
    return digest;
  }

  /**
   * Delete a manifest (and so every tag pointing at it). `false` when it was already gone.
   * Throws `RegistryApiError` with code `UNSUPPORTED` when the registry has deletes disabled.
   */
  async deleteManifest(repository: string, digest: string): Promise<boolean> {
    if (!DIGEST.test(digest)) throw new RegistryApiError(`invalid digest "${digest}"`, { code: "DIGEST_INVALID" });
    const res = await this.send({ method: "DELETE", path: `/v2/${checkRepository(repository)}/manifests/${digest}`, accept: [404] });
    return res.status !== 404;
  }

  /**
   * Remove one tag, keeping its manifest (OCI distribution spec 1.1). `unsupported` when the
   * registry cannot (distribution 2.x answers 400 `DIGEST_INVALID`, others 405).
   */
  async deleteTag(repository: string, tag: string): Promise<"deleted" | "missing" | "unsupported"> {
    if (!TAG_NAME.test(tag)) throw new RegistryApiError(`invalid tag "${tag}"`, { code: "TAG_INVALID" });
    const res = await this.send({ method: "DELETE", path: `/v2/${checkRepository(repository)}/manifests/${tag}`, accept: [400, 404, 405] });
    if (res.status === 404) return "missing";
    if (res.status === 400 || res.status === 405) return "unsupported";
    return "deleted";
  }

  // ---- auth ----------------------------------------------------------------------------------

  /** Send through the transport; each attempt answers an auth challenge once. */
  private send(req: Request): Promise<TransportResponse> {
    return this.http.send({ ...req, authenticate: (attempt) => this.authorized(req, attempt) });
  }

  /** One attempt, answering an auth challenge once. */
  private async authorized(req: Request, attempt: (headers?: Record<string, string>) => Promise<TransportResponse>): Promise<TransportResponse> {
    const first = await attempt(this.authHeader(req));
    if (first.status !== 401) return first;
    const challenge = parseAuthChallenge(first.header("www-authenticate"));
    if (!challenge) return first;
    if (challenge.scheme === "basic") {
      if (!this.credentials) return first;
      this.basic = true;
    } else {
      await this.fetchToken(challenge);
    }
    return attempt(this.authHeader(req, challenge.scope));
  }

  private authHeader(req: Request, scope?: string): Record<string, string> {
    if (this.basic && this.credentials) {
      return { Authorization: `Basic ${Buffer.from(`${this.credentials.username}:${this.credentials.password}`).toString("base64")}` };
    }
    const token = this.tokens.get(scope ?? this.scopeOf(req));
    return token ? { Authorization: `Bearer ${token}` } : {};
  }

  /** The scope a request needs, the way registries phrase it in their challenges. */
  private scopeOf(req: Request): string {
    const name = /^\/v2\/(.+)\/(?:tags|manifests)\//.exec(req.path)?.[1] ?? "";
    return `repository:${name}:${req.method === "DELETE" ? "delete" : "pull"}`;
  }

  private async fetchToken(challenge: AuthChallenge): Promise<void> {
    if (!challenge.realm || !/^https?:\/\//.test(challenge.realm)) throw new RegistryApiError(`registry ${this.host} asked for a token without a usable realm`, { status: 401, code: "UNAUTHORIZED" });
    const params: Record<string, string> = {};
    if (challenge.service) params.service = challenge.service;
    if (challenge.scope) params.scope = challenge.scope;
    const headers: Record<string, string> = {};
    if (this.credentials) headers.Authorization = `Basic ${Buffer.from(`${this.credentials.username}:${this.credentials.password}`).toString("base64")}`;
    let res: TransportResponse;
    try {
      // The realm is an absolute URL (the transport follows it as given); one attempt, every answer returned.
      res = await this.http.send({ method: "GET", path: challenge.realm, query: params, headers, accept: "any", retries: 0 });
    } catch (err) {
      const code = err instanceof HttpApiError ? err.code : undefined;
      throw new RegistryApiError(`registry ${this.host}: token request failed: ${code ?? "ERR_NETWORK"}`, { code: code ?? "ERR_NETWORK" });
    }
    let body: unknown;
    try {
      body = JSON.parse(res.text);
    } catch {
      body = undefined;
    }
    const parsed = tokenSchema.safeParse(body);
    if (res.status !== 200 || !parsed.success) {
      throw new RegistryApiError(`registry ${this.host}: the token service answered ${res.status} for scope "${challenge.scope ?? ""}"`, { status: res.status, code: "UNAUTHORIZED" });
    }
    this.tokens.set(challenge.scope ?? "", (parsed.data.token ?? parsed.data.access_token)!);
  }

}

/** The registry's `{errors:[{code,message}]}` as `CODE: message`, if the body is one. */
export function describeRegistryErrors(text: string): { code?: string; message?: string } {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return {};
  }
  const parsed = errorBodySchema.safeParse(body);
  if (!parsed.success) return {};
  const first = parsed.data.errors[0]!;
  const detail = parsed.data.errors.map((e) => (e.message ? `${e.code}: ${e.message}` : e.code)).join("; ");
  return { code: first.code, message: detail };
}
