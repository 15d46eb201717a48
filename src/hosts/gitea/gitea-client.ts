/**
 * The one HTTP client for a Gitea, Forgejo or Gogs server's API v1 (`<url>/api/v1`), over the
 * shared transport (`../../adapters/http-transport.ts`: deadline, retries with backoff on transient
 * failures, zod validation of every answer, errors that never carry the token). The token goes in
 * `Authorization: token <t>`, which all three servers read, never in a URL.
 */
import type { Logger } from "pino";
import type { z } from "zod";
import { transportObserver, type ApiCallObserver } from "../../metrics/berth-metrics.js";
import { describeMessageBody, HttpApiError, HttpTransport, tunedTransport, type ClientTuning, type HttpMethod } from "../../adapters/http-transport.js";

/** Settings of one server's client. */
export interface GiteaClientOptions extends ClientTuning {
  /** Told of every API call (route template, status): the metrics. */
  observe?: ApiCallObserver;
  /** Access token of berth's account (`BERTH_GITEA_<NAME>_TOKEN`). */
  token: string;
  /** `<url>/api/v1`. */
  apiUrl: string;
  /** Server name in error messages (`Gitea API (<name>)`). */
  name: string;
  log: Logger;
}

/** One API call and the schema its successful answer must match. */
export interface GiteaRequest<S extends z.ZodType> {
  method: Exclude<HttpMethod, "HEAD">;
  /** Path below `/api/v1`, already encoded. */
  path: string;
  query?: Record<string, string | number | undefined>;
  body?: Record<string, unknown>;
  schema: S;
}

/** A failed call: method, path and status; never the token. */
export class GiteaApiError extends HttpApiError {
  constructor(message: string, details: ConstructorParameters<typeof HttpApiError>[1]) {
    super(message, details);
    this.name = "GiteaApiError";
  }
}

/** Whether the server refused for good (4xx). */
export function isGiteaRefusal(error: unknown): error is GiteaApiError {
  return error instanceof GiteaApiError && error.status !== undefined && error.status >= 400 && error.status < 500;
}

export class GiteaClient {
  readonly redact: (text: string) => string;
  private readonly http: HttpTransport;

  constructor(options: GiteaClientOptions) {
    if (!options.token) throw new Error(`Gitea access token is missing (BERTH_GITEA_${options.name.toUpperCase()}_TOKEN)`);
    this.http = new HttpTransport({
      name: "gitea",
      label: `Gitea API (${options.name})`,
      baseUrl: options.apiUrl,
      headers: { "User-Agent": "berth", Accept: "application/json", Authorization: `token ${options.token}` },
      log: options.log,
      secrets: [options.token],
      ...tunedTransport(options),
      ...(options.observe ? { observe: transportObserver("gitea", options.observe) } : {}),
      describeError: describeMessageBody,
      formatDetail: (message) => `: ${message}`,
      createError: (message, details) => new GiteaApiError(message, details),
    });
    this.redact = this.http.redact;
  }

  /** Perform a request; a non-2xx answer throws `GiteaApiError`. A POST that timed out is not repeated. */
  request<S extends z.ZodType>(req: GiteaRequest<S>): Promise<z.output<S>> {
    return this.http.request({ ...req, idempotent: req.method !== "POST" });
  }

  /** Like `request`, but a 404 answer is `null`. */
  async requestOrNull<S extends z.ZodType>(req: GiteaRequest<S>): Promise<z.output<S> | null> {
    const res = await this.http.send({ ...req, idempotent: req.method !== "POST", accept: [404] });
    if (res.status === 404) return null;
    return this.http.parse(req, res, req.schema);
  }

  /** The bytes of a GET (an archive), at most `maxBytes`; larger fails with code `TOO_LARGE`. */
  async download(path: string, options: { maxBytes: number; timeoutMs?: number }): Promise<Buffer> {
    const res = await this.http.send({
      method: "GET",
      path,
      binary: true,
      maxResponseBytes: options.maxBytes,
      headers: { Accept: "application/octet-stream" },
      ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
    });
    return res.bytes ?? Buffer.alloc(0);
  }
}

export { filePath, seg, repoApiPath as giteaRepoPath } from "../api-path.js";
