/**
 * Readiness: whether this berth can do its work now. Each check (the store, the Docker engine, the
 * Kubernetes API) runs at once with its own deadline; the answer names every check and why one failed.
 */
import type { Redactor } from "../domain/redact.js";

/** One dependency berth needs to work. */
export interface ReadinessCheck {
  /** Short name in the answer: `store`, `docker`, `kubernetes`. */
  name: string;
  /** Resolves when the dependency answers; rejects (or outlasts the deadline) when it does not. */
  check: (signal: AbortSignal) => Promise<unknown>;
}

/** The outcome of one check. */
export interface CheckResult {
  ok: boolean;
  /** Why not (redacted, one line). */
  error?: string;
}

export interface Readiness {
  ready: boolean;
  checks: Record<string, CheckResult>;
}

/** Deadline of each check unless told otherwise. */
export const READINESS_TIMEOUT_MS = 2000;

/** Run every check at once, each bounded by `timeoutMs`. */
export async function checkReadiness(checks: readonly ReadinessCheck[], options: { timeoutMs?: number; redact?: Redactor } = {}): Promise<Readiness> {
  const timeoutMs = options.timeoutMs ?? READINESS_TIMEOUT_MS;
  const redact = options.redact ?? ((text: string) => text);
  const results = await Promise.all(
    checks.map(async ({ name, check }): Promise<[string, CheckResult]> => {
      const deadline = new AbortController();
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          const error = new Error(`no answer within ${timeoutMs} ms`);
          deadline.abort(error);
          reject(error);
        }, timeoutMs);
        timer.unref();
      });
      try {
        await Promise.race([check(deadline.signal), timedOut]);
        return [name, { ok: true }];
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        return [name, { ok: false, error: redact(message).replace(/\s+/g, " ").trim().slice(0, 300) || "failed" }];
      } finally {
        clearTimeout(timer);
      }
    }),
  );
  const byName = Object.fromEntries(results);
  return { ready: results.every(([, result]) => result.ok), checks: byName };
}
