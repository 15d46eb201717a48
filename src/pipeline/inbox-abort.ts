/**
 * Giving up on work that does not answer: a promise raced against an abort signal, and a port
 * (code host, preview target) whose every call is raced against it. Work abandoned this way cannot
 * reach the next step: its pending call rejects at the abort, and later calls reject at once.
 */

/** `work`, or a rejection with the signal's reason as soon as it aborts (the work is left to finish unobserved). */
export function raceAbort<T>(signal: AbortSignal, work: Promise<T>): Promise<T> {
  if (signal.aborted) {
    work.catch(() => undefined);
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(err);
      },
    );
  });
}

/**
 * A view of `port` whose methods reject once `signal` has aborted (a call in flight rejects at the
 * abort). Other properties (`kind`, ...) are passed through. For ports whose methods return promises.
 */
export function guardMethods<T extends object>(port: T, signal: AbortSignal): T {
  return new Proxy(port, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        if (signal.aborted) return Promise.reject(signal.reason);
        return raceAbort(signal, new Promise((resolve) => resolve((value as (...a: unknown[]) => unknown).apply(target, args))));
      };
    },
  });
}
