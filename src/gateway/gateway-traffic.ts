/**
 * Traffic through the gateway, per preview: the last request time and a count, kept in memory
 * and written to the PR's preview record in batches (every `flushMs`), so a busy preview costs one
 * store write per interval, not one per request. Sleep (idle previews) and the dashboard read it.
 */
import type { Logger } from "pino";
import type { PrKey } from "../domain/records.js";
import type { Store } from "../pipeline/store.js";
import type { GatewayRoute } from "./route-table.js";

interface Pending {
  sha: string;
  lastAt: number;
  count: number;
}

export class GatewayTraffic {
  private pending = new Map<PrKey, Pending>();
  private timer?: NodeJS.Timeout;
  private flushing?: Promise<void>;

  constructor(
    private readonly store: Pick<Store, "patchPull">,
    private readonly log: Logger,
    private readonly flushMs = 5000,
  ) {}

  /** A request reached `route` at `at` (ms). */
  seen(route: GatewayRoute, at: number): void {
    // Environments have no PR record; their traffic is not kept.
    if (route.key.environment) return;
    const entry = this.pending.get(route.prKey);
    if (entry && entry.sha === route.sha) {
      entry.lastAt = Math.max(entry.lastAt, at);
      entry.count++;
    } else {
      this.pending.set(route.prKey, { sha: route.sha, lastAt: at, count: 1 });
    }
  }

  start(): void {
    this.timer ??= setInterval(() => void this.flush(), this.flushMs);
    this.timer.unref();
  }

  /** Write what was seen; what cannot be written now is kept for the next flush. */
  flush(): Promise<void> {
    this.flushing ??= this.write().finally(() => (this.flushing = undefined));
    return this.flushing;
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.flush();
  }

  private async write(): Promise<void> {
    const batch = this.pending;
    this.pending = new Map();
    for (const [prKey, seen] of batch) {
      try {
        await this.store.patchPull(prKey, (pull) => {
          // A preview redeployed meanwhile starts counting afresh.
          if (!pull.preview || pull.preview.sha !== seen.sha) return pull;
          return { ...pull, preview: { ...pull.preview, lastRequestAt: Math.max(pull.preview.lastRequestAt ?? 0, seen.lastAt), requests: (pull.preview.requests ?? 0) + seen.count } };
        });
      } catch (err) {
        const later = this.pending.get(prKey);
        if (!later) this.pending.set(prKey, seen);
        else if (later.sha === seen.sha) later.count += seen.count;
        this.log.warn({ prKey, err: err instanceof Error ? err.message : String(err) }, "gateway traffic not recorded yet");
      }
    }
  }
}
