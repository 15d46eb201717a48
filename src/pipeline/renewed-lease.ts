/**
 * A named lease held while some work runs, renewed in the background: short enough that a replica
 * that dies mid-work frees it within `leaseMs`, renewed every `leaseMs / 3` so a live holder never
 * loses it to a slow host call. The work is told (through the signal) when a renewal failed.
 */
import type { Store } from "./store.js";

/** How long a work lease lasts without a renewal (ms). */
export const DEFAULT_WORK_LEASE_MS = 15_000;

export type LeasedResult<T> = { held: false } | { held: true; value: T };

export async function withRenewedLease<T>(
  store: Pick<Store, "acquireLease" | "releaseLease">,
  lease: { name: string; owner: string; ms?: number; now: () => number },
  work: (lost: AbortSignal) => Promise<T>,
): Promise<LeasedResult<T>> {
  const ms = lease.ms ?? DEFAULT_WORK_LEASE_MS;
  const take = (): Promise<boolean> => {
    const at = lease.now();
    return store.acquireLease(lease.name, lease.owner, at + ms, at);
  };
  if (!(await take())) return { held: false };
  const lost = new AbortController();
  const renew = setInterval(() => {
    take()
      .then((held) => {
        if (!held) lost.abort(new Error(`lease ${lease.name} lost`));
      })
      .catch(() => undefined);
  }, Math.max(Math.floor(ms / 3), 10));
  renew.unref();
  try {
    return { held: true, value: await work(lost.signal) };
  } finally {
    clearInterval(renew);
    await store.releaseLease(lease.name, lease.owner).catch(() => undefined);
  }
}
