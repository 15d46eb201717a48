/**
 * Timeouts, cancellation and error reading shared by the Docker adapters.
 */
import { formatDuration } from "../../domain/duration.js";
import { CancelledError } from "../../domain/ports.js";

/** An engine call that ran past its time limit. */
export class EngineTimeoutError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "EngineTimeoutError";
  }
}

/**
 * Run `fn` with a signal that aborts on `timeoutMs` or when `signal` aborts, whichever comes
 * first. The call also settles then even if `fn` ignores its signal (a few dockerode methods
 * do): caller aborts become {@link CancelledError}, the time limit an {@link EngineTimeoutError}.
 */
export async function engineCall<T>(
  what: string,
  options: { timeoutMs: number; signal?: AbortSignal | undefined },
  fn: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const { timeoutMs, signal } = options;
  if (signal?.aborted) throw new CancelledError(`${what}: cancelled`);
  const timeout = AbortSignal.timeout(timeoutMs);
  const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
  const classify = (): Error =>
    signal?.aborted ? new CancelledError(`${what}: cancelled`) : new EngineTimeoutError(`Docker ${what} timed out after ${formatDuration(timeoutMs)}`);

  let onAbort = (): void => undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(classify());
    combined.addEventListener("abort", onAbort, { once: true });
  });
  const work = fn(combined);
  // Whichever side loses the race must not surface later as an unhandled rejection.
  work.catch(() => undefined);
  aborted.catch(() => undefined);
  try {
    return await Promise.race([work, aborted]);
  } catch (err) {
    // dockerode rejects with its own AbortError when the signal fires; say why it fired.
    if (combined.aborted) throw classify();
    throw err;
  } finally {
    combined.removeEventListener("abort", onAbort);
  }
}

/** HTTP status of a dockerode error, if it carries one. */
export function statusCodeOf(err: unknown): number | undefined {
  if (typeof err === "object" && err !== null && "statusCode" in err) {
    const code = (err as { statusCode?: unknown }).statusCode;
    return typeof code === "number" ? code : undefined;
  }
  return undefined;
}

/** True for the engine's 404 (no such container, image, network). */
export function isNotFound(err: unknown): boolean {
  return statusCodeOf(err) === 404;
}

/**
 * The engine's own words for an error: dockerode wraps them as
 * `(HTTP code 404) no such container - No such container: x `; the JSON body has the plain text.
 */
export function engineMessage(err: unknown): string {
  if (typeof err === "object" && err !== null && "json" in err) {
    const json = (err as { json?: unknown }).json;
    if (typeof json === "object" && json !== null && "message" in json && typeof (json as { message: unknown }).message === "string") {
      return (json as { message: string }).message.trim();
    }
  }
  if (err instanceof Error) return err.message.trim();
  return String(err);
}

