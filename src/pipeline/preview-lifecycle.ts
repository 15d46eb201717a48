/**
 * The life of a running preview after its deploy: it goes to sleep after `preview.sleepAfter`
 * without a request through the gateway (Kubernetes previews, whose traffic does not pass berth:
 * after that long since their deploy), wakes on the next request or `/wake`, and is removed
 * `preview.expiresAfter` after the PR's last push unless `/keep` pushed that further.
 *
 * One replica at a time looks (the `lifecycle` lease); waking is done once per PR at a time on a
 * replica, by whoever asks first (the gateway, `/wake`, the dashboard).
 */
import type { Logger } from "pino";
import type { PreviewConfig, RepoConfig } from "../domain/repo-config.js";
import { repoConfigSchema } from "../domain/repo-config.js";
import type { PreviewTarget } from "../domain/ports.js";
import { previewKeyOf } from "../domain/preview-key.js";
import type { Redactor } from "../domain/redact.js";
import type { PrKey, PullRecord } from "../domain/records.js";
import { queueDeleteRun } from "./run-state.js";
import type { Scheduler } from "./scheduler.js";
import type { Store } from "./store.js";

/** Longest one pass holds the `lifecycle` lease. */
const LIFECYCLE_LEASE_MS = 5 * 60_000;

/** The defaults of berth.yml's `preview` (for previews whose run config is gone). */
const DEFAULT_PREVIEW: PreviewConfig = repoConfigSchema.parse({}).preview;

export type WakeResult = { ok: true; woke: boolean } | { ok: false; error: string };

export interface PreviewLifecycleOptions {
  store: Store;
  targets: Partial<Record<RepoConfig["preview"]["target"], PreviewTarget>>;
  scheduler: Pick<Scheduler, "stopActive" | "kick">;
  /** Redraw a PR's status comment soon. */
  publish: (prKey: PrKey) => void;
  /** A preview's address changed (asleep, awake): the gateway's routes are stale. */
  onChange?: (prKey: PrKey) => void;
  /** This replica, in the `lifecycle` lease. */
  owner: string;
  redact: Redactor;
  log: Logger;
  now: () => number;
  newId: () => string;
}

/** When the preview of `pull` expires (ms), or undefined when it never does. */
export function expiresAt(pull: Pick<PullRecord, "headSeenAt" | "keepUntil" | "preview">, preview: Pick<PreviewConfig, "expiresAfter">): number | undefined {
  if (preview.expiresAfter === "never" || !pull.preview) return undefined;
  const lastPush = pull.headSeenAt ?? pull.preview.deployedAt;
  return Math.max(lastPush + preview.expiresAfter, pull.keepUntil ?? 0);
}

/** Since when the preview has had no traffic (its deploy, or its last request through the gateway). */
export function idleSince(preview: NonNullable<PullRecord["preview"]>): number {
  return Math.max(preview.deployedAt, preview.lastRequestAt ?? 0);
}

export class PreviewLifecycle {
  private readonly waking = new Map<PrKey, Promise<WakeResult>>();

  constructor(private readonly options: PreviewLifecycleOptions) {}

  /** The `preview` config a PR's preview was deployed with (defaults when its run is gone). */
  async previewConfigOf(pull: PullRecord): Promise<PreviewConfig> {
    const runId = pull.preview?.runId;
    const run = runId ? await this.options.store.getRun(runId) : undefined;
    return run?.config?.preview ?? DEFAULT_PREVIEW;
  }

  /** One pass over every preview: expired ones are queued for removal, idle ones put to sleep. Never throws. */
  async tick(): Promise<void> {
    const { store, owner, now, log, redact } = this.options;
    const at = now();
    if (!(await store.acquireLease("lifecycle", owner, at + LIFECYCLE_LEASE_MS, at).catch(() => false))) return;
    try {
      for (const pull of await store.pullsWithPreview()) {
        if (pull.state !== "open" || !pull.preview) continue;
        try {
          await this.review(pull);
        } catch (err) {
          log.warn({ prKey: pull.prKey, err: redact(err instanceof Error ? err.message : String(err)) }, "preview lifecycle step failed");
        }
      }
    } catch (err) {
      log.warn({ err: redact(err instanceof Error ? err.message : String(err)) }, "preview lifecycle pass failed");
    } finally {
      await store.releaseLease("lifecycle", owner).catch(() => undefined);
    }
  }

  private async review(pull: PullRecord): Promise<void> {
    const preview = pull.preview!;
    const config = await this.previewConfigOf(pull);
    const now = this.options.now();
    // Work in progress decides the preview's future (a deploy replaces it, a delete removes it).
    if ((await this.options.store.activeRunsOf(pull.prKey)).length > 0) return;
    const expiry = expiresAt(pull, config);
    if (expiry !== undefined && expiry <= now) {
      await this.queueExpiry(pull, config);
      return;
    }
    if (preview.sleeping || config.sleepAfter === "never" || now - idleSince(preview) < config.sleepAfter) return;
    const target = this.options.targets[preview.target];
    if (!target) return;
    const { stopped } = await target.sleep(previewKeyOf(pull.repo, pull.prNumber));
    const updated = await this.options.store.patchPull(pull.prKey, (p) =>
      p.preview?.runId === preview.runId ? { ...p, preview: { ...p.preview, sleeping: { since: now } } } : p,
    );
    if (updated?.preview?.sleeping) {
      this.options.log.info({ prKey: pull.prKey, target: preview.target, stopped, idleMs: now - idleSince(preview) }, "idle preview put to sleep");
      this.options.onChange?.(pull.prKey);
      this.options.publish(pull.prKey);
    }
  }

  /** Queue the removal of an expired preview (a delete run, so images and comment follow as for `/delete`). */
  private async queueExpiry(pull: PullRecord, config: PreviewConfig): Promise<void> {
    await queueDeleteRun(this.options.store, this.options.scheduler, pull, { id: this.options.newId(), trigger: "expired", now: this.options.now(), reason: "cancelled: the preview expired" });
    this.options.scheduler.kick();
    this.options.log.info({ prKey: pull.prKey, expiresAfterMs: config.expiresAfter }, "expired preview queued for removal");
  }

  /**
   * Wake the PR's sleeping preview and wait until it answers; one wake per PR at a time (callers
   * during a wake share it). A preview that is not asleep is left alone.
   */
  wake(prKey: PrKey, why: string): Promise<WakeResult> {
    let pending = this.waking.get(prKey);
    if (!pending) {
      pending = this.doWake(prKey, why).finally(() => this.waking.delete(prKey));
      this.waking.set(prKey, pending);
    }
    return pending;
  }

  private async doWake(prKey: PrKey, why: string): Promise<WakeResult> {
    const { store, log, redact } = this.options;
    const pull = await store.getPull(prKey);
    const preview = pull?.preview;
    if (!pull || !preview) return { ok: false, error: "this PR has no preview" };
    if (!preview.sleeping) return { ok: true, woke: false };
    const target = this.options.targets[preview.target];
    if (!target) return { ok: false, error: `the ${preview.target} target is not enabled on this berth server` };
    const config = await this.previewConfigOf(pull);
    const started = this.options.now();
    try {
      const woken = await target.wake(previewKeyOf(pull.repo, pull.prNumber), config, AbortSignal.timeout(config.timeout + 30_000));
      const at = this.options.now();
      await store.patchPull(prKey, (p) => {
        if (p.preview?.runId !== preview.runId) return p;
        const { sleeping: _asleep, ...awake } = p.preview;
        // Behind the gateway the URL stays; the upstream follows the port the engine published now.
        const moved = awake.upstream ? { upstream: woken.upstream ?? awake.upstream } : woken.url ? { url: woken.url } : {};
        return { ...p, preview: { ...awake, ...moved, lastRequestAt: at } };
      });
      log.info({ prKey, why, target: preview.target, ms: at - started }, "preview woken");
      this.options.onChange?.(prKey);
      this.options.publish(prKey);
      return { ok: true, woke: true };
    } catch (err) {
      const error = redact(err instanceof Error ? err.message : String(err)).split("\n")[0] ?? "failed";
      log.warn({ prKey, why, err: error }, "preview could not be woken");
      return { ok: false, error };
    }
  }
}
