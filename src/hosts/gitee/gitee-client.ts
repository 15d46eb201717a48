/**
 * The one HTTP client for Gitee API v5: base URL, `access_token`, timeouts, retries with backoff on
 * transient failures, zod validation of every response, and errors that never carry the token.
 *
 * Axios errors hold the full request (URL with `access_token=`, body with `access_token`); they are
 * never rethrown or logged: every failure becomes a `GiteeApiError` built from the method, the path
 * (without query) and the status only, passed through the redactor.
 */
import axios, { type AxiosInstance, type AxiosResponse } from "axios";
import type { Logger } from "pino";
import { z } from "zod";
import { isRetryableStatus, retryAfterMs, TRANSIENT_NETWORK_CODES } from "../../adapters/http-retry.js";
import { createRedactor, type Redactor } from "../../domain/redact.js";

/** Default `GITEE_API_URL`. */
export const GITEE_DEFAULT_API_URL = "https://gitee.com/api/v5";

/** HTTP methods berth uses against Gitee. */
export type GiteeMethod = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

/** Settings of the Gitee client (from `GITEE_TOKEN` / `GITEE_API_URL`). */
export interface GiteeClientOptions {
  /** Personal access token of the bot account (`GITEE_TOKEN`). */
  token: string;
  /** `GITEE_API_URL`; defaults to gitee.com. */
  baseUrl?: string;
  log: Logger;
  /** Per-attempt deadline for the whole exchange. Default 15 s. */
  timeoutMs?: number;
  /** Retries after the first attempt on 5xx, resets and timeouts. Default 3. */
  retries?: number;
  /** First backoff delay; doubled per retry, plus jitter. Default 300 ms. */
  backoffMs?: number;
  /** Largest accepted response body. Default 64 MiB. */
  maxResponseBytes?: number;
  /** Injected in tests. */
  sleep?: (ms: number) => Promise<void>;
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
export class GiteeApiError extends Error {
  readonly method: GiteeMethod;
  readonly path: string;
  /** HTTP status, when the server answered. */
  readonly status: number | undefined;
  /** Network error code (ECONNRESET, ETIMEDOUT, ...) when it did not. */
  readonly code: string | undefined;

  constructor(message: string, details: { method: GiteeMethod; path: string; status?: number; code?: string }) {
    super(message);
    this.name = "GiteeApiError";
    this.method = details.method;
    this.path = details.path;
    this.status = details.status;
    this.code = details.code;
  }
}

/** Errors after which the server may still have done the work: a POST is not repeated (no duplicate comments). */
const MAYBE_PROCESSED_CODES = new Set(["ETIMEDOUT", "ECONNABORTED"]);

type Outcome =
  | { kind: "response"; response: AxiosResponse<string> }
  | { kind: "network"; code: string };

function defaultSleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Short, token-free description of a Gitee error body (`{"message": "..."}`). */
function describeBody(text: string): string {
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed && typeof parsed === "object" && "message" in parsed && typeof parsed.message === "string") return parsed.message;
  } catch {
    // not JSON: fall through to the raw text
  }
  return text;
}

function truncate(text: string, max: number): string {
  const oneLine = text.replace(/\s+/g, " ").trim();
  return oneLine.length > max ? `${oneLine.slice(0, max)}…` : oneLine;
}

/** Small Gitee API v5 client. */
export class GiteeClient {
  /** Removes the token (raw, URL-encoded, base64) from any text. */
  readonly redact: Redactor;
  private readonly http: AxiosInstance;
  private readonly token: string;
  private readonly log: Logger;
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly backoffMs: number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(options: GiteeClientOptions) {
    if (!options.token) throw new Error("Gitee access token is missing (GITEE_TOKEN)");
    this.token = options.token;
    this.redact = createRedactor([options.token]);
    this.log = options.log;
    this.timeoutMs = options.timeoutMs ?? 15_000;
    this.retries = options.retries ?? 3;
    this.backoffMs = options.backoffMs ?? 300;
    this.sleep = options.sleep ?? defaultSleep;
    const maxBytes = options.maxResponseBytes ?? 64 * 1024 * 1024;
    this.http = axios.create({
      baseURL: (options.baseUrl ?? GITEE_DEFAULT_API_URL).replace(/\/+$/, ""),
      headers: { "User-Agent": "berth", Accept: "application/json" },
      responseType: "text",
      transformResponse: [(data: unknown) => data],
      validateStatus: () => true,
      maxRedirects: 0,
      maxContentLength: maxBytes,
      maxBodyLength: maxBytes,
      paramsSerializer: { serialize: (params: Record<string, string>) => new URLSearchParams(params).toString() },
    });
  }

  /** Perform a request; a non-2xx answer throws `GiteeApiError`. */
  async request<S extends z.ZodType>(req: GiteeRequest<S>): Promise<z.output<S>> {
    const { response } = await this.exchange(req);
    return this.parse(req, response);
  }

  /** Like `request`, but a 404 answer is `null`. */
  async requestOrNull<S extends z.ZodType>(req: GiteeRequest<S>): Promise<z.output<S> | null> {
    const { response } = await this.exchange(req, true);
    if (response.status === 404) return null;
    return this.parse(req, response);
  }

  private parse<S extends z.ZodType>(req: GiteeRequest<S>, response: AxiosResponse<string>): z.output<S> {
    const text = typeof response.data === "string" ? response.data : "";
    let json: unknown;
    if (text.trim() === "") {
      json = undefined;
    } else {
      try {
        json = JSON.parse(text);
      } catch {
        throw this.error(req, `answered ${response.status} with a body that is not JSON`, { status: response.status });
      }
    }
    const parsed = req.schema.safeParse(json);
    if (!parsed.success) {
      const issues = parsed.error.issues
        .slice(0, 3)
        .map((issue) => `${issue.path.join(".") || "(root)"}: ${issue.message}`)
        .join("; ");
      throw this.error(req, `answered ${response.status} with an unexpected body (${issues})`, { status: response.status });
    }
    return parsed.data;
  }

  private error(req: { method: GiteeMethod; path: string }, what: string, details: { status?: number; code?: string }): GiteeApiError {
    const message = this.redact(`Gitee API ${req.method} ${req.path} ${what}`);
    return new GiteeApiError(message, { method: req.method, path: this.redact(req.path), ...details });
  }

  private async exchange(req: GiteeRequest<z.ZodType>, allowNotFound = false): Promise<{ response: AxiosResponse<string> }> {
    const attempts = this.retries + 1;
    for (let attempt = 1; ; attempt++) {
      const started = Date.now();
      const outcome = await this.attempt(req);
      const last = attempt >= attempts;

      if (outcome.kind === "network") {
        const retryable = TRANSIENT_NETWORK_CODES.has(outcome.code) && !(req.method === "POST" && MAYBE_PROCESSED_CODES.has(outcome.code));
        if (!retryable || last) {
          throw this.error(req, `failed: ${outcome.code}${attempt > 1 ? ` after ${attempt} attempts` : ""}`, { code: outcome.code });
        }
        await this.backoff(req, attempt, { code: outcome.code });
        continue;
      }

      const { response } = outcome;
      this.log.debug({ method: req.method, path: req.path, status: response.status, ms: Date.now() - started, attempt }, "gitee request");
      if (response.status >= 200 && response.status < 300) return { response };
      if (response.status === 404 && allowNotFound) return { response };
      if (isRetryableStatus(response.status) && !last) {
        await this.backoff(req, attempt, { status: response.status }, retryAfterMs(response.headers["retry-after"]));
        continue;
      }
      const reason = truncate(describeBody(typeof response.data === "string" ? response.data : ""), 200);
      throw this.error(req, `answered ${response.status}${reason ? `: ${reason}` : ""}${attempt > 1 ? ` after ${attempt} attempts` : ""}`, {
        status: response.status,
      });
    }
  }

  private async backoff(req: { method: GiteeMethod; path: string }, attempt: number, why: { status?: number; code?: string }, atLeastMs = 0): Promise<void> {
    const delayMs = Math.max(atLeastMs, Math.round(this.backoffMs * 2 ** (attempt - 1) * (1 + Math.random() * 0.25)));
    this.log.warn({ method: req.method, path: req.path, attempt, delayMs, ...why }, "gitee request failed, retrying");
    await this.sleep(delayMs);
  }

  private async attempt(req: GiteeRequest<z.ZodType>): Promise<Outcome> {
    const withBody = req.method === "POST" || req.method === "PUT" || req.method === "PATCH";
    const query: Record<string, string> = {};
    for (const [key, value] of Object.entries(req.query ?? {})) if (value !== undefined) query[key] = String(value);
    // Gitee reads `access_token` from the query string or the body; the v5 spec declares it in the
    // query for GET/DELETE and in the JSON body for POST/PUT/PATCH, so it goes where the spec says.
    if (!withBody) query.access_token = this.token;
    const signal = AbortSignal.timeout(this.timeoutMs);
    try {
      const response = await this.http.request<string>({
        method: req.method,
        url: req.path,
        params: query,
        data: withBody ? { ...req.body, access_token: this.token } : undefined,
        headers: withBody ? { "Content-Type": "application/json" } : undefined,
        timeout: this.timeoutMs,
        signal,
      });
      return { kind: "response", response };
    } catch (error: unknown) {
      // Keep only the code: the error object carries the URL and body with the token.
      if (signal.aborted) return { kind: "network", code: "ETIMEDOUT" };
      const code = axios.isAxiosError(error) ? (error.code ?? "ERR_NETWORK") : "ERR_UNKNOWN";
      const cause = axios.isAxiosError(error) ? (error.cause as { code?: unknown } | undefined) : undefined;
      const causeCode = typeof cause?.code === "string" ? cause.code : undefined;
      return { kind: "network", code: causeCode && TRANSIENT_NETWORK_CODES.has(causeCode) ? causeCode : code };
    }
  }
}

/** Encode one path segment (owner, repo, label name, user). */
export function seg(value: string | number): string {
  return encodeURIComponent(String(value));
}

/** Encode a file path inside a repository, keeping its slashes. */
export function filePath(path: string): string {
  return path
    .replace(/^\/+/, "")
    .split("/")
    .map((part) => encodeURIComponent(part))
    .join("/");
}
