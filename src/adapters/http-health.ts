/**
 * Readiness probing over HTTP: poll a URL until it answers, the way a load balancer would.
 */
import axios from "axios";
import { CancelledError } from "../domain/ports.js";

export interface WaitUntilHealthyOptions {
  /** Give up after this long. */
  timeoutMs: number;
  /** Pause between attempts. Default 500 ms. */
  intervalMs?: number;
  /** Limit of one request. Default 5 s (never more than what is left of `timeoutMs`). */
  requestTimeoutMs?: number;
  /** Aborting stops waiting with a {@link CancelledError}. */
  signal?: AbortSignal;
  /**
   * Asked before each attempt; a returned reason ends the wait as unhealthy at once (e.g. the
   * container has exited, so waiting for the timeout would only delay the report).
   */
  giveUpIf?: () => Promise<string | undefined>;
}

export type HealthResult =
  | { healthy: true; status: number; attempts: number; elapsedMs: number }
  | {
      healthy: false;
      attempts: number;
      elapsedMs: number;
      /** Last HTTP status seen (≥ 500), if any answer came. */
      lastStatus?: number;
      /** Last transport error (refused, reset, timeout), if the last attempt got no answer. */
      lastError?: string;
      /** Why the wait ended early (from `giveUpIf`). */
      gaveUp?: string;
    };

/** A one-line description of an unhealthy result, for error messages. */
export function describeUnhealthy(result: Extract<HealthResult, { healthy: false }>): string {
  if (result.gaveUp) return result.gaveUp;
  if (result.lastError) return `last attempt: ${result.lastError}`;
  if (result.lastStatus !== undefined) return `last answer: HTTP ${result.lastStatus}`;
  return "no attempt completed";
}

function transportError(err: unknown): string {
  if (axios.isAxiosError(err)) {
    if (err.code === "ECONNABORTED" || err.code === "ETIMEDOUT") return "request timed out";
    return err.code ? `${err.code}${err.message && !err.message.includes(err.code) ? ` (${err.message})` : ""}` : err.message;
  }
  return err instanceof Error ? err.message : String(err);
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}

/**
 * Poll `url` with GET until any HTTP answer with status < 500 (a redirect or a 404 means the
 * server is up; only 5xx and transport errors mean it is not), `timeoutMs` passes, or `giveUpIf`
 * names a reason. Never throws for an unhealthy server: the result carries the last status or
 * error. Throws {@link CancelledError} when `signal` aborts.
 */
export async function waitUntilHealthy(url: string, options: WaitUntilHealthyOptions): Promise<HealthResult> {
  const { timeoutMs, signal } = options;
  const intervalMs = options.intervalMs ?? 500;
  const requestTimeoutMs = options.requestTimeoutMs ?? 5000;
  const started = Date.now();
  const deadline = started + timeoutMs;
  let attempts = 0;
  let lastStatus: number | undefined;
  let lastError: string | undefined;
  const unhealthy = (extra: { gaveUp?: string } = {}): HealthResult => {
    const result: HealthResult = { healthy: false, attempts, elapsedMs: Date.now() - started, ...extra };
    if (lastStatus !== undefined) result.lastStatus = lastStatus;
    if (lastError !== undefined) result.lastError = lastError;
    return result;
  };
  const cancelled = (): CancelledError => new CancelledError("health check cancelled");

  for (;;) {
    if (signal?.aborted) throw cancelled();
    const reason = options.giveUpIf ? await options.giveUpIf() : undefined;
    if (signal?.aborted) throw cancelled();
    if (reason !== undefined) return unhealthy({ gaveUp: reason });

    attempts++;
    const limit = Math.min(requestTimeoutMs, Math.max(1, deadline - Date.now()));
    const requestSignal = signal ? AbortSignal.any([signal, AbortSignal.timeout(limit)]) : AbortSignal.timeout(limit);
    try {
      const response = await axios.get(url, {
        timeout: limit,
        signal: requestSignal,
        validateStatus: () => true,
        maxRedirects: 0,
        // Do not wait for (or buffer) the body.
        responseType: "stream",
        // Previews are reached directly; an HTTP(S)_PROXY meant for the internet must not intercept.
        proxy: false,
        // Browsers accept bare-LF status lines (busybox CGI sends them); so does the probe.
        insecureHTTPParser: true,
        headers: { "user-agent": "berth-health-check" },
      });
      // The status line is all that counts; the body (maybe endless) is not read.
      (response.data as { destroy?: () => void }).destroy?.();
      if (response.status < 500) return { healthy: true, status: response.status, attempts, elapsedMs: Date.now() - started };
      lastStatus = response.status;
      lastError = undefined;
    } catch (err) {
      if (signal?.aborted) throw cancelled();
      // An attempt cut short by the overall deadline says nothing new: keep what the last full one saw.
      const cutByDeadline = Date.now() >= deadline && (lastError !== undefined || lastStatus !== undefined);
      if (!cutByDeadline) {
        lastError = requestSignal.aborted ? "request timed out" : transportError(err);
        lastStatus = undefined;
      }
    }

    const now = Date.now();
    if (now >= deadline) return unhealthy();
    await sleep(Math.min(intervalMs, deadline - now), signal);
  }
}
