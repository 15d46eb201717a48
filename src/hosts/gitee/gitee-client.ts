/**
 * The one HTTP client for Gitee API v5: base URL and `access_token`, over the shared transport
 * (`../../adapters/http-transport.ts`: deadline, retries with backoff on transient failures, zod
 * validation of every response, errors that never carry the token).
 *
 * Errors are `GiteeApiError`s built from the method, the path (without query, so without the
 * token), the status and Gitee's `{message}`, passed through the redactor.
 */
import type { Logger } from "pino";
import type { z } from "zod";
import { describeMessageBody, HttpApiError, HttpTransport, tunedTransport, type ClientTuning, type TransportRequest } from "../../adapters/http-transport.js";
import type { Redactor } from "../../domain/redact.js";
import { transportObserver, type ApiCallObserver } from "../../metrics/berth-metrics.js";

/** Default `GITEE_API_URL`. */
export const GITEE_DEFAULT_API_URL = "https://gitee.com/api/v5";

/** HTTP methods berth uses against Gitee. */
export type GiteeMethod = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

/** Settings of the Gitee client (from `GITEE_TOKEN` / `GITEE_API_URL`). */
export interface GiteeClientOptions extends ClientTuning {
  /** Personal access token of the bot account (`GITEE_TOKEN`). */
  token: string;
  /** `GITEE_API_URL`; defaults to gitee.com. */
  baseUrl?: string;
  log: Logger;
  /** Told of every API call (route template, status, rate limit left): the metrics. */
  observe?: ApiCallObserver;
}

/** One Gitee API call and the schema its successful answer must match. */
export interface GiteeRequest<S extends z.ZodType> {
  method: GiteeMethod;
  /** Path below the base URL, already encoded, e.g. `/repos/acme/app/pulls/3`. */
  path: string;
  query?: Record<string, string | number | undefined>;
  /** JSON body (POST/PUT/PATCH); the token is added to it. */
  body?: Record<string, unknown>;
  /** Schema of a successful response body. */
  schema: S;
}

/** A failed Gitee call. The message names method, path and status; never the token. */
export class GiteeApiError extends HttpApiError {
  declare readonly method: GiteeMethod;
  declare readonly path: string;

  constructor(message: string, details: { method: GiteeMethod; path: string; status?: number; code?: string; serverMessage?: string }) {
    super(message, details);
    this.name = "GiteeApiError";
  }
}

/** Small Gitee API v5 client. */
export class GiteeClient {
  /** Removes the token (raw, URL-encoded, base64) from any text. */
  readonly redact: Redactor;
  private readonly http: HttpTransport;
  private readonly token: string;

  constructor(options: GiteeClientOptions) {
    if (!options.token) throw new Error("Gitee access token is missing (GITEE_TOKEN)");
    this.token = options.token;
    this.http = new HttpTransport({
      name: "gitee",
      label: "Gitee API",
      baseUrl: options.baseUrl ?? GITEE_DEFAULT_API_URL,
      headers: { "User-Agent": "berth", Accept: "application/json" },
      log: options.log,
      secrets: [options.token],
      ...tunedTransport(options),
      describeError: describeMessageBody,
      formatDetail: (message) => `: ${message}`,
      createError: (message, details) => new GiteeApiError(message, { ...details, method: details.method as GiteeMethod, path: details.path ?? "" }),
      ...(options.observe ? { observe: transportObserver("gitee", options.observe) } : {}),
    });
    this.redact = this.http.redact;
  }

  /** Perform a request; a non-2xx answer throws `GiteeApiError`. */
  async request<S extends z.ZodType>(req: GiteeRequest<S>): Promise<z.output<S>> {
    return this.http.request({ ...this.withToken(req), schema: req.schema });
  }

  /** Like `request`, but a 404 answer is `null`. */
  async requestOrNull<S extends z.ZodType>(req: GiteeRequest<S>): Promise<z.output<S> | null> {
    const res = await this.http.send({ ...this.withToken(req), accept: [404] });
    if (res.status === 404) return null;
    return this.http.parse(req, res, req.schema);
  }

  /**
   * Gitee reads `access_token` from the query string or the body; the v5 spec declares it in the
   * query for GET/DELETE and in the JSON body for POST/PUT/PATCH, so it goes where the spec says.
   * A POST that timed out is not repeated (the server may have made the comment already).
   */
  private withToken(req: GiteeRequest<z.ZodType>): TransportRequest {
    const withBody = req.method === "POST" || req.method === "PUT" || req.method === "PATCH";
    return {
      method: req.method,
      path: req.path,
      query: withBody ? { ...req.query } : { ...req.query, access_token: this.token },
      body: withBody ? { ...req.body, access_token: this.token } : undefined,
      idempotent: req.method !== "POST",
    };
  }
}

export { filePath, seg } from "../api-path.js";
