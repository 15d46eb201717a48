/**
 * The reconciler: what webhooks lost while berth was down (or never sent) is put right from the
 * code host and the targets. Previews of PRs that are closed now are queued for removal, expired
 * previews are removed, previews berth has no record of are removed once their PR is known to be
 * closed (never guessed), and old state past the retention is forgotten. With several replicas one
 * reconciles at a time.
 */
import type { Logger } from "pino";
import type { RepoConfig } from "../config/repo-config.js";
import type { PreviewKey, PreviewTarget } from "../domain/ports.js";
import type { Redactor } from "../domain/redact.js";
import type { PullRef } from "../domain/types.js";
import { raceAbort } from "./inbox-abort.js";
import { prKeyOf, type PrKey } from "../domain/records.js";
import { queueDeleteRun } from "./run-state.js";
import type { HostRouter } from "./host-router.js";
import type { Scheduler } from "./scheduler.js";
import type { Store } from "./store.js";
import { EventDeadlineError } from "./transient-error.js";

/** How long one reconcile may hold the `reconcile` lease (a slow host's calls each time out sooner). */
const RECONCILE_LEASE_MS = 10 * 60_000;

export interface ReconcilerOptions {
  store: Store;
  hosts: HostRouter;
  targets: Partial<Record<RepoConfig["preview"]["target"], PreviewTarget>>;
  scheduler: Pick<Scheduler, "stopActive" | "kick">;
  /** Redraw a PR's status comment soon. */
  publish: (prKey: PrKey) => void;
  /** This replica, in the `reconcile` lease. */
  owner: string;
  /** Forget finished runs, reports and deliveries older than this (ms; unset = keep all). */
  retentionMs?: number;
  /** Each code host call is given up after this long (ms). */
  eventTimeoutMs: number;
  /** Aborted at shutdown: host calls in flight are abandoned. */
  shutdown: AbortSignal;
  stopped: () => boolean;
  redact: Redactor;
  log: Logger;
  now: () => number;
  newId: () => string;
}

export class Reconciler {
  constructor(private readonly options: ReconcilerOptions) {}

  /**
   * One reconcile, by one replica at a time (the \`reconcile\` lease): remove previews of closed
   * PRs and expired previews, then forget old state. Never throws.
   */
  async reconcile(): Promise<void> {
    const { store, owner, now, log, redact } = this.options;
    const at = now();
    if (!(await store.acquireLease("reconcile", owner, at + RECONCILE_LEASE_MS, at).catch(() => false))) return;
    try {
      try {
        await this.reconcilePreviews();
      } catch (err) {
        if (!this.options.stopped()) log.warn({ err: redact(String(err)) }, "preview reconciliation failed");
      }
      await this.pruneState();
    } finally {
      await store.releaseLease("reconcile", owner).catch(() => undefined);
    }
  }

  /** Forget finished runs, reports and processed deliveries past the retention. */
  private async pruneState(): Promise<void> {
    const retentionMs = this.options.retentionMs;
    if (retentionMs === undefined || this.options.stopped()) return;
    try {
      const pruned = await this.options.store.prune(this.options.now() - retentionMs);
      if (Object.values(pruned).some((count) => count > 0)) this.options.log.info({ ...pruned, retentionMs }, "old state pruned");
    } catch (err) {
      this.options.log.warn({ err: this.options.redact(String(err)) }, "pruning old state failed");
    }
  }

  /** A code host call of a reconcile: given up after the event deadline, or at shutdown. */
  private hostCall<T>(call: Promise<T>): Promise<T> {
    return raceAbort(AbortSignal.any([this.options.shutdown, AbortSignal.timeout(this.options.eventTimeoutMs)]), call).catch((err: unknown) => {
      throw err instanceof DOMException && err.name === "TimeoutError" ? new EventDeadlineError(this.options.eventTimeoutMs) : err;
    });
  }

  /** Remove previews whose PR is closed (webhooks get lost while berth is down). */
  private async reconcilePreviews(): Promise<void> {
    for (const pull of await this.options.store.pullsWithPreview()) {
      if (this.options.stopped()) return;
      if (pull.state === "open") {
        const host = this.options.hosts.find(pull.repo);
        if (!host) continue;
        let state: PullRef["state"];
        try {
          state = (await this.hostCall(host.getPull(pull.repo, pull.prNumber))).state;
        } catch (err) {
          // One PR the host cannot answer for must not keep the others from being reconciled.
          if (!this.options.stopped()) this.options.log.warn({ prKey: pull.prKey, err: this.options.redact(String(err)) }, "preview left in place: its PR could not be read");
          continue;
        }
        if (this.options.stopped()) return;
        if (state === "open") continue;
        await this.options.store.patchPull(pull.prKey, (p) => ({ ...p, state: "closed" }));
      }
      if ((await this.options.store.activeRunsOf(pull.prKey)).some((r) => r.kind === "delete")) continue;
      await queueDeleteRun(this.options.store, this.options.scheduler, pull, { id: this.options.newId(), trigger: "close", now: this.options.now(), reason: "cancelled: the PR was closed" });
      this.options.log.info({ prKey: pull.prKey }, "preview of a closed PR queued for removal");
    }
    // Expired previews go even when the webhook that should have removed them was lost.
    for (const target of Object.values(this.options.targets)) {
      if (!target?.listExpiring) continue;
      for (const { key, expiresAt } of await target.listExpiring()) {
        if (!expiresAt || expiresAt.getTime() > this.options.now()) continue;
        const prKey = prKeyOf(key, key.pr);
        if ((await this.options.store.activeRunsOf(prKey)).length > 0) continue;
        await target.remove(key);
        await this.options.store.patchPull(prKey, (p) => ({ ...p, preview: undefined, notice: { kind: "deleted", text: "The preview expired and was removed. Comment `/deploy` to start it again, `/keep` to keep it longer." } }));
        this.options.publish(prKey);
        this.options.log.info({ key, target: target.kind, expiresAt }, "expired preview removed");
      }
    }
    // Previews berth has no record of (state lost, or made by another berth): removed when the
    // host says their PR is closed, otherwise left in place.
    for (const target of Object.values(this.options.targets)) {
      if (!target) continue;
      for (const key of await target.list()) {
        if (await this.options.store.getPull(prKeyOf(key, key.pr))) continue;
        await this.reconcileUnknown(target, key);
      }
    }
    this.options.scheduler.kick();
  }

  /** A preview without a record: remove it once its PR is known to be closed; never guess. */
  private async reconcileUnknown(target: PreviewTarget, key: PreviewKey): Promise<void> {
    const log = this.options.log;
    const host = this.options.hosts.find(key);
    if (key.environment !== undefined || key.pr <= 0 || !host) {
      log.warn({ key, target: target.kind }, "preview without a berth record left in place; remove it by hand");
      return;
    }
    let state: string;
    try {
      state = (await this.hostCall(host.getPull({ host: key.host, owner: key.owner, name: key.name, defaultBranch: "", htmlUrl: "" }, key.pr))).state;
    } catch (err) {
      log.warn({ key, target: target.kind, err: this.options.redact(String(err)) }, "preview without a berth record left in place: its PR could not be read");
      return;
    }
    if (this.options.stopped()) return;
    if (state === "open") {
      log.info({ key, target: target.kind }, "preview of an open PR without a berth record left in place; its next push or /deploy takes it over");
      return;
    }
    await target.remove(key);
    log.info({ key, target: target.kind }, "preview of a closed PR without a berth record removed");
  }
}
