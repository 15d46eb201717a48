/**
 * The one JSON-over-HTTP transport of the Gitee, Harbor and registry clients: a deadline per
 * attempt, retries of transient failures (network codes, 5xx, 429) with exponential backoff,
 * jitter and `Retry-After`, never of other 4xx, a bounded number of attempts, zod parsing of
 * answers, and one error class whose messages never carry the clients' secrets.
 *
 * Axios errors hold the whole request (URL with tokens, the Authorization header, the body); they
 * are never rethrown or logged: every failure becomes an `HttpApiError` built from method, path,
 * status, network code and the server's own message (each client parses its error bodies through
 * `describeError`), passed through the redactor.
 */
import { randomUUID } from "node:crypto";
import axios, { type AxiosInstance } from "axios";
import type { Logger } from "pino";
import type { z } from "zod";
import { createRedactor, type CredentialPair, type Redactor } from "../domain/redact.js";
import { isRetryableStatus, retryAfterMs, TRANSIENT_NETWORK_CODES } from "./http-retry.js";

/** HTTP methods the clients use. */
export type HttpMethod = "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE";

/** What an `HttpApiError` knows besides its message. */
export interface HttpErrorDetails {
  method?: string;
  /** Path below the base URL, redacted (query included only when the caller put it in the path). */
  path?: string;
  /** HTTP status, when the server answered. */
  status?: number;
  /** The server's error code (`NOT_FOUND`, ...), the network code (`ECONNRESET`, `ETIMEDOUT`) or `INVALID_RESPONSE`. */
  code?: string;
  /** The server's own message, as `describeError` read it (redacted). */
  serverMessage?: string;
}

/** A failed call. The message names method, path and status; never a secret. */
export class HttpApiError extends Error {
  readonly method: string | undefined;
  readonly path: string | undefined;
  readonly status: number | undefined;
  readonly code: string | undefined;
  readonly serverMessage: string | undefined;

  constructor(message: string, details: HttpErrorDetails = {}) {
    super(message);
    this.name = "HttpApiError";
    this.method = details.method;
    this.path = details.path;
    this.status = details.status;
    this.code = details.code;
    this.serverMessage = details.serverMessage;
  }
}

/** Settings of one transport (one per client). */
export interface HttpTransportOptions {
  /** Short name for log messages (`gitee request`, `harbor request failed, retrying`). */
  name: string;
  /** Start of every error message, e.g. `Gitee API` or `registry example.com:`. */
  label: string;
  baseUrl: string;
  /** Headers of every request (Authorization, Accept, User-Agent). */
  headers?: Record<string, string>;
  log: Pick<Logger, "debug" | "warn">;
  /** Secrets removed (raw, URL-encoded, base64) from every error message. */
  secrets: ReadonlyArray<string | undefined | CredentialPair>;
  /** Deadline of one attempt (connect, send, answer). */
  timeoutMs: number;
  /** Retries after the first attempt. */
  retries: number;
  /** First backoff delay, doubled per retry, plus up to 25 % jitter. */
  backoffMs: number;
  /** Longest `Retry-After` honoured. Default 60 s. */
  retryAfterCapMs?: number;
  /** Largest accepted response body. Default: no limit. */
  maxResponseBytes?: number;
  /** Redirects followed. Default 0 (a redirect could carry the Authorization header elsewhere). */
  maxRedirects?: number;
  /** Header carrying one id per logical request (same on every attempt), e.g. `X-Request-Id`. */
  requestIdHeader?: string;
  /** The server's error body as a code and a short message; default: the text, on one line. */
  describeError?: (text: string) => { code?: string | undefined; message?: string | undefined };
  /** How the server's message follows the status in an error message. Default ` (message)`. */
  formatDetail?: (message: string) => string;
  /** Builds the client's own error type (a subclass of `HttpApiError`). */
  createError?: (message: string, details: HttpErrorDetails) => HttpApiError;
  /** Waits between retries; injected in tests. Must reject when `signal` aborts. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** Told of every attempt that got an answer or failed on the network (metrics); not of the caller's aborts. */
  observe?: (attempt: ObservedAttempt) => void;
}

/** One attempt, as `observe` is told of it. */
export interface ObservedAttempt {
  method: HttpMethod;
  /** The request's path as the client gave it (below the base URL, query not included). */
  path: string;
  /** The answer's status, or the network code (`ETIMEDOUT`, `ECONNRESET`) when none came. */
  status: number | string;
  /** A header of the answer (none when no answer came). */
  header(name: string): string | undefined;
}

/** How a code-host API client over this transport may be tuned (its defaults: 15 s, 3 retries, 300 ms, 64 MiB). */
export interface ClientTuning {
  /** Per-attempt deadline for the whole exchange. Default 15 s. */
  timeoutMs?: number;
  /** Retries after the first attempt on 5xx, 429, resets and timeouts. Default 3. */
  retries?: number;
  /** First backoff delay; doubled per retry, plus jitter. Default 300 ms. */
  backoffMs?: number;
  /** Largest accepted response body. Default 64 MiB. */
  maxResponseBytes?: number;
  /** Injected in tests. */
  sleep?: (ms: number) => Promise<void>;
}

/** The transport settings of a code-host client from its tuning, with the defaults above. */
export function tunedTransport(tuning: ClientTuning): Pick<HttpTransportOptions, "timeoutMs" | "retries" | "backoffMs" | "maxResponseBytes" | "sleep"> {
  const sleep = tuning.sleep;
  return {
    timeoutMs: tuning.timeoutMs ?? 15_000,
    retries: tuning.retries ?? 3,
    backoffMs: tuning.backoffMs ?? 300,
    maxResponseBytes: tuning.maxResponseBytes ?? 64 * 1024 * 1024,
    ...(sleep ? { sleep: (ms: number) => sleep(ms) } : {}),
  };
}

/** One call. */
export interface TransportRequest {
  method: HttpMethod;
  /** Path below the base URL, already encoded (may carry a query), or an absolute URL. */
  path: string;
  query?: Record<string, string | number | boolean | undefined>;
  /** JSON body. */
  body?: unknown;
  headers?: Record<string, string>;
  /** Statuses besides 2xx that are returned instead of thrown (never retried); `"any"` returns every answer. */
  accept?: readonly number[] | "any";
  /** The caller giving up: rejects with its reason, not retried. */
  signal?: AbortSignal;
  /**
   * False when repeating the request after a timeout could do the work twice (a POST that makes a
   * comment): such a request is not retried on ETIMEDOUT / ECONNABORTED. Default true.
   */
  idempotent?: boolean;
  /** Overrides the transport's retries for this call. */
  retries?: number;
  /** Overrides the transport's per-attempt deadline for this call (large downloads). */
  timeoutMs?: number;
  /** Read the answer as bytes (`TransportResponse.bytes`), e.g. an archive; error bodies still become `text`. */
  binary?: boolean;
  /** Largest answer of this call, below the transport's own limit; a larger one fails with code `TOO_LARGE` (not retried). */
  maxResponseBytes?: number;
  /**
   * Wraps one attempt, e.g. to answer an auth challenge: `send(headers)` performs one exchange with
   * extra headers. Errors it throws that are `HttpApiError`s end the call.
   */
  authenticate?: (send: (headers?: Record<string, string>) => Promise<TransportResponse>) => Promise<TransportResponse>;
}

/** An answer, body as text. */
export interface TransportResponse {
  status: number;
  text: string;
  /** The body as bytes, for `binary` requests. */
  bytes?: Buffer;
  /** A response header (lower or any case), when it is a single string. */
  header(name: string): string | undefined;
}

/** Errors after which the server may still have done the work. */
const MAYBE_PROCESSED_CODES: ReadonlySet<string> = new Set(["ETIMEDOUT", "ECONNABORTED"]);

class NetworkFailure {
  constructor(readonly code: string) {}
}

/** A text on one line, cut at `max` characters. */
export function oneLine(text: string, max: number): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > max ? `${flat.slice(0, max)}…` : flat;
}

/** The default reading of an error body: its text on one line. */
function describeText(text: string): { message: string } {
  return { message: oneLine(text, 200) };
}

/** A `sleep` that rejects with the signal's reason when it aborts. */
export function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** The network code of a failed axios call: a transient `cause.code` wins over axios' own. */
function networkCode(error: unknown): string {
  if (!axios.isAxiosError(error)) return error instanceof Error && error.name === "TimeoutError" ? "ETIMEDOUT" : "ERR_UNKNOWN";
  const cause = error.cause as { code?: unknown } | undefined;
  const causeCode = typeof cause?.code === "string" ? cause.code : undefined;
  return causeCode && TRANSIENT_NETWORK_CODES.has(causeCode) ? causeCode : (error.code ?? "ERR_NETWORK");
}

/** A `{"message": "..."}` error body (Gitee, Gitea, Forgejo, Gogs), else the raw text, on one line. */
export function describeMessageBody(text: string): { message: string } {
  let message = text;
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed && typeof parsed === "object" && "message" in parsed && typeof parsed.message === "string") message = parsed.message;
  } catch {
    // not JSON: the raw text
  }
  return { message: oneLine(message, 200) };
}

/** JSON over HTTP with deadline, retries, redacted typed errors and zod parsing. */
export class HttpTransport {
  /** Removes the transport's secrets from a text. */
  readonly redact: Redactor;
  private readonly http: AxiosInstance;
  private readonly options: HttpTransportOptions;
  private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;

  constructor(options: HttpTransportOptions) {
    this.options = options;
    this.redact = createRedactor(options.secrets);
    this.sleep = options.sleep ?? abortableSleep;
    const maxBytes = options.maxResponseBytes ?? -1;
    this.http = axios.create({
      baseURL: options.baseUrl.replace(/\/+$/, ""),
      headers: options.headers ?? {},
      responseType: "text",
      transformResponse: [(data: unknown) => data],
      validateStatus: () => true,
      maxRedirects: options.maxRedirects ?? 0,
      maxContentLength: maxBytes,
      maxBodyLength: maxBytes,
      paramsSerializer: { serialize: (params: Record<string, string>) => new URLSearchParams(params).toString() },
    });
  }

  /** Send and parse the answer with `schema`; a non-2xx answer (not in `accept`) throws. */
  async request<S extends z.ZodType>(req: TransportRequest & { schema: S }): Promise<z.output<S>> {
    const res = await this.send(req);
    return this.parse(req, res, req.schema);
  }

  /**
   * Send with retries. Returns 2xx answers and those in `req.accept`; throws `HttpApiError` for
   * any other answer, for network failures once retries are spent, and rethrows the caller's abort.
   */
  async send(req: TransportRequest): Promise<TransportResponse> {
    const requestId = randomUUID();
    const attempts = (req.retries ?? this.options.retries) + 1;
    for (let attempt = 1; ; attempt++) {
      const last = attempt >= attempts;
      const after = attempt > 1 ? ` after ${attempt} attempts` : "";
      let res: TransportResponse;
      try {
        res = req.authenticate
          ? await req.authenticate((headers) => this.exchange(req, requestId, attempt, headers))
          : await this.exchange(req, requestId, attempt);
      } catch (error: unknown) {
        if (!(error instanceof NetworkFailure)) throw error;
        if (error.code === "TOO_LARGE") throw this.fail(req, `answered with a body over ${req.maxResponseBytes ?? this.options.maxResponseBytes} bytes`, { code: error.code });
        const retryable = TRANSIENT_NETWORK_CODES.has(error.code) && !(req.idempotent === false && MAYBE_PROCESSED_CODES.has(error.code));
        if (!retryable || last) throw this.fail(req, `failed: ${error.code}${after}`, { code: error.code });
        await this.backoff(req, attempt, { code: error.code });
        continue;
      }
      if ((res.status >= 200 && res.status < 300) || req.accept === "any" || req.accept?.includes(res.status)) return res;
      if (isRetryableStatus(res.status) && !last) {
        await this.backoff(req, attempt, { status: res.status }, retryAfterMs(res.header("retry-after"), Date.now(), this.options.retryAfterCapMs));
        continue;
      }
      const described: { code?: string | undefined; message?: string | undefined } = (this.options.describeError ?? describeText)(res.text);
      const detail = described.message ? (this.options.formatDetail ?? ((m: string) => ` (${m})`))(described.message) : "";
      throw this.fail(req, `answered ${res.status}${detail}${after}`, {
        status: res.status,
        ...(described.code ? { code: described.code } : {}),
        ...(described.message ? { serverMessage: described.message } : {}),
      });
    }
  }

  /** Parse a JSON answer with `schema`; an answer that is not JSON or does not match throws, naming the paths. */
  parse<S extends z.ZodType>(req: Pick<TransportRequest, "method" | "path">, res: TransportResponse, schema: S): z.output<S> {
    let json: unknown;
    try {
      json = res.text.trim() === "" ? undefined : JSON.parse(res.text);
    } catch {
      throw this.fail(req, `answered ${res.status} with a body that is not JSON`, { status: res.status, code: "INVALID_RESPONSE" });
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      const issues = parsed.error.issues
        .slice(0, 3)
        .map((issue) => `${issue.path.join(".") || "(root)"}: ${issue.message}`)
        .join("; ");
      throw this.fail(req, `answered ${res.status} with an unexpected body (${issues})`, { status: res.status, code: "INVALID_RESPONSE" });
    }
    return parsed.data as z.output<S>;
  }

  /** The client's error for a request: `label method path what`, redacted. */
  fail(req: Pick<TransportRequest, "method" | "path">, what: string, details: Omit<HttpErrorDetails, "method" | "path"> = {}): HttpApiError {
    const message = this.redact(`${this.options.label} ${req.method} ${req.path} ${what}`);
    const full: HttpErrorDetails = { ...details, method: req.method, path: this.redact(req.path) };
    if (full.serverMessage !== undefined) full.serverMessage = this.redact(full.serverMessage);
    return this.options.createError ? this.options.createError(message, full) : new HttpApiError(message, full);
  }

  private async backoff(req: TransportRequest, attempt: number, why: { status?: number; code?: string }, atLeastMs = 0): Promise<void> {
    const delayMs = Math.max(atLeastMs, Math.round(this.options.backoffMs * 2 ** (attempt - 1) * (1 + Math.random() * 0.25)));
    this.options.log.warn({ method: req.method, path: req.path, attempt, delayMs, ...why }, `${this.options.name} request failed, retrying`);
    await this.sleep(delayMs, req.signal);
  }

  /** One exchange; network failures become `NetworkFailure` (only the code is kept). */
  private async exchange(req: TransportRequest, requestId: string, attempt: number, extraHeaders: Record<string, string> = {}): Promise<TransportResponse> {
    const { requestIdHeader } = this.options;
    const timeoutMs = req.timeoutMs ?? this.options.timeoutMs;
    const query: Record<string, string> = {};
    for (const [key, value] of Object.entries(req.query ?? {})) if (value !== undefined) query[key] = String(value);
    const deadline = AbortSignal.timeout(timeoutMs);
    const signal = req.signal ? AbortSignal.any([deadline, req.signal]) : deadline;
    const started = Date.now();
    try {
      const response = await this.http.request<string | ArrayBuffer>({
        ...(req.binary ? { responseType: "arraybuffer" as const } : {}),
        ...(req.maxResponseBytes !== undefined ? { maxContentLength: req.maxResponseBytes } : {}),
        method: req.method,
        url: req.path,
        params: query,
        data: req.body === undefined ? undefined : JSON.stringify(req.body),
        headers: {
          ...(requestIdHeader ? { [requestIdHeader]: requestId } : {}),
          ...(req.body === undefined ? {} : { "Content-Type": "application/json" }),
          ...req.headers,
          ...extraHeaders,
        },
        timeout: timeoutMs,
        signal,
      });
      this.options.log.debug({ method: req.method, path: req.path, status: response.status, ms: Date.now() - started, attempt, requestId }, `${this.options.name} request`);
      const bytes = response.data instanceof ArrayBuffer ? Buffer.from(response.data) : Buffer.isBuffer(response.data) ? response.data : undefined;
      const ok = response.status >= 200 && response.status < 300;
      const text = typeof response.data === "string" ? response.data : bytes && !ok ? bytes.toString("utf8") : "";
      const headers = response.headers;
      const header = (name: string): string | undefined => {
        const value: unknown = headers[name.toLowerCase()];
        return typeof value === "string" ? value : undefined;
      };
      this.options.observe?.({ method: req.method, path: req.path, status: response.status, header });
      return { status: response.status, text, ...(bytes ? { bytes } : {}), header };
    } catch (error: unknown) {
      // The caller gave up: not a failure of the server, not retried.
      if (req.signal?.aborted) throw req.signal.reason;
      // axios stops reading at maxContentLength ("maxContentLength size of N exceeded").
      const code = deadline.aborted ? "ETIMEDOUT" : axios.isAxiosError(error) && /maxContentLength/.test(error.message) ? "TOO_LARGE" : networkCode(error);
      this.options.observe?.({ method: req.method, path: req.path, status: code, header: () => undefined });
      throw new NetworkFailure(code);
    }
  }
}
