/**
 * The engine: a durable inbox of events, the dispatcher that turns them into runs, the scheduler
 * that executes runs, and the publisher that keeps status comments current. Webhook handlers only
 * call `accept()`, which records and returns at once.
 */
import { randomBytes } from "node:crypto";
import type { Logger } from "pino";
import type { RepoConfig } from "../config/repo-config.js";
import { checkoutSource } from "../adapters/source-checkout.js";
import type { ArtifactRegistry, CodeHost, PreviewKey, RegistryCleaner, ImageBuilder, PreviewTarget, SourceArchive, SourceCheckout } from "../domain/ports.js";
import type { Redactor } from "../domain/redact.js";
import type { BotEvent, HostKind } from "../domain/types.js";
import { CommentPublisher } from "./comment-publisher.js";
import { createConfigLoader } from "./config-loader.js";
import { dispatchEvent } from "./dispatcher.js";
import { prKeyOf, type RunRecord } from "./records.js";
import { executeRun } from "./run-executor.js";
import { markStopped, Scheduler } from "./scheduler.js";
import type { Store } from "./store.js";

export interface EngineOptions {
  store: Store;
  hosts: Partial<Record<HostKind, CodeHost>>;
  builder: ImageBuilder;
  targets: Partial<Record<RepoConfig["preview"]["target"], PreviewTarget>>;
  registry?: string;
  /** Registry API beyond pushes (Harbor). */
  artifacts?: ArtifactRegistry;
  /** Registry clean-up of closed PRs; default: `artifacts` (Harbor), if any. */
  registryCleaner?: RegistryCleaner;
  /** Unpacks sources on disk when a config points into the repository (default: a temp folder). */
  checkoutSource?: (archive: SourceArchive) => Promise<SourceCheckout>;
  publicUrl: string;
  concurrency: number;
  /** Reconcile previews with open PRs and expiry this often (ms; 0 or unset = only at start). */
  reconcileIntervalMs?: number;
  /** Forget finished runs, reports and deliveries older than this at each reconcile (ms; unset = keep all). */
  retentionMs?: number;
  commentIntervalMs: number;
  redact: Redactor;
  log: Logger;
  now?: () => number;
  newId?: () => string;
}

/** A run interrupted by a crash more often than this is failed instead of re-queued. */
const MAX_ATTEMPTS = 2;

export class Engine {
  readonly store: Store;
  private readonly scheduler: Scheduler;
  private readonly publisher: CommentPublisher;
  private readonly loadConfig: ReturnType<typeof createConfigLoader>;
  private readonly now: () => number;
  private readonly newId: () => string;
  private inboxLoop?: Promise<void>;
  private reconcileTimer?: NodeJS.Timeout;
  private inboxAgain = false;
  private stopped = false;

  constructor(private readonly options: EngineOptions) {
    this.store = options.store;
    this.now = options.now ?? Date.now;
    this.newId = options.newId ?? (() => randomBytes(8).toString("hex"));
    this.publisher = new CommentPublisher({
      store: options.store,
      hosts: options.hosts,
      reportBaseUrl: this.reportBaseUrl,
      intervalMs: options.commentIntervalMs,
      log: options.log,
      now: this.now,
    });
    this.scheduler = new Scheduler({
      store: options.store,
      concurrency: options.concurrency,
      execute: (run, signal) => this.execute(run, signal),
      onChange: (prKey) => this.publisher.request(prKey),
      log: options.log,
      now: this.now,
    });
    this.loadConfig = createConfigLoader({
      enabledTargets: Object.keys(options.targets) as Array<RepoConfig["preview"]["target"]>,
      log: options.log,
    });
  }

  /** Base URL of test report pages. */
  get reportBaseUrl(): string {
    return `${this.options.publicUrl}/reports`;
  }

  /**
   * Record an event and schedule its processing. Returns false for a delivery seen before.
   * Synchronous and fast: safe to call before answering the webhook.
   */
  accept(event: BotEvent): boolean {
    const fresh = this.store.recordDelivery(event, this.now());
    if (!fresh) {
      this.options.log.info({ deliveryId: event.deliveryId }, "duplicate delivery ignored");
      return false;
    }
    this.processInbox();
    return true;
  }

  /** Recover after a restart, remove previews of closed PRs, then start working. */
  async start(): Promise<void> {
    this.recoverRuns();
    this.processInbox();
    this.scheduler.kick();
    await this.reconcile();
    const every = this.options.reconcileIntervalMs ?? 0;
    if (every > 0) {
      this.reconcileTimer = setInterval(() => void this.reconcile(), every);
      this.reconcileTimer.unref();
    }
  }

  /** Remove previews of closed PRs and expired previews, then forget old state; never throws. */
  async reconcile(): Promise<void> {
    try {
      await this.reconcilePreviews();
    } catch (err) {
      this.options.log.warn({ err: this.options.redact(String(err)) }, "preview reconciliation failed");
    }
    this.pruneState();
  }

  /** Forget finished runs, reports and processed deliveries past the retention. */
  private pruneState(): void {
    const retentionMs = this.options.retentionMs;
    if (retentionMs === undefined || this.stopped) return;
    try {
      const pruned = this.store.prune(this.now() - retentionMs);
      if (Object.values(pruned).some((count) => count > 0)) this.options.log.info({ ...pruned, retentionMs }, "old state pruned");
    } catch (err) {
      this.options.log.warn({ err: this.options.redact(String(err)) }, "pruning old state failed");
    }
  }

  /** Stop taking work; running runs are put back in the queue for the next start. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.reconcileTimer) clearInterval(this.reconcileTimer);
    await this.inboxLoop;
    await this.scheduler.stop();
    await this.publisher.settle();
    this.publisher.stop();
  }

  /** Wait until the inbox is empty, no run is executing and every comment is written. */
  async idle(): Promise<void> {
    for (let i = 0; i < 100; i++) {
      await this.inboxLoop;
      await this.scheduler.idle();
      await this.publisher.settle();
      const queued = this.store.runsWithStatus(["queued", "running"]).length;
      if (!this.inboxLoop && queued === 0 && this.store.pendingInbox(1).length === 0) return;
      if (queued > 0) this.scheduler.kick();
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  private processInbox(): void {
    if (this.inboxLoop) {
      this.inboxAgain = true;
      return;
    }
    this.inboxLoop = (async () => {
      do {
        this.inboxAgain = false;
        for (const item of this.store.pendingInbox()) {
          if (this.stopped) return;
          try {
            await dispatchEvent(item.event, {
              store: this.store,
              hosts: this.options.hosts,
              scheduler: this.scheduler,
              publisher: this.publisher,
              loadConfig: this.loadConfig,
              enabledTargets: Object.keys(this.options.targets) as Array<RepoConfig["preview"]["target"]>,
              targets: this.options.targets,
              log: this.options.log,
              now: this.now,
              newId: this.newId,
            });
          } catch (err) {
            this.options.log.error({ deliveryId: item.deliveryId, kind: item.event.kind, err: this.options.redact(String(err)) }, "event processing failed");
          }
          this.store.markProcessed(item.deliveryId, this.now());
        }
      } while (this.inboxAgain || (!this.stopped && this.store.pendingInbox(1).length > 0));
    })().finally(() => {
      this.inboxLoop = undefined;
    });
  }

  private async execute(run: RunRecord, signal: AbortSignal): Promise<void> {
    const host = this.options.hosts[run.repo.host];
    if (!host) throw new Error(`code host ${run.repo.host} is not configured`);
    await executeRun(run, signal, {
      store: this.store,
      host,
      builder: this.options.builder,
      targets: this.options.targets,
      registry: this.options.registry,
      artifacts: this.options.artifacts,
      registryCleaner: this.options.registryCleaner ?? this.options.artifacts,
      checkoutSource: this.options.checkoutSource ?? checkoutSource,
      redact: this.options.redact,
      log: this.options.log.child({ runId: run.id, prKey: run.prKey }),
      now: this.now,
      newId: this.newId,
      publish: (prKey) => this.publisher.request(prKey),
      reportBaseUrl: this.reportBaseUrl,
    });
  }

  /** Runs a crash left "running": re-queue them, or fail them after too many attempts. */
  private recoverRuns(): void {
    for (const run of this.store.runsWithStatus(["running"])) {
      if (run.attempts >= MAX_ATTEMPTS) {
        markStopped(this.store, run, { kind: "cancelled", text: "interrupted by berth restarts too often; comment /deploy to retry" }, this.now(), "failed");
        this.options.log.warn({ runId: run.id }, "interrupted run failed after too many attempts");
      } else {
        for (const stage of this.store.stagesOf(run.id)) {
          this.store.updateStage(run.id, stage.name, { state: "queued", startedAt: null, finishedAt: null, detail: {} });
        }
        this.store.updateRun(run.id, { status: "queued" });
        this.options.log.info({ runId: run.id }, "interrupted run re-queued");
      }
      this.publisher.request(run.prKey);
    }
  }

  /** Remove previews whose PR is closed (webhooks get lost while berth is down). */
  private async reconcilePreviews(): Promise<void> {
    for (const pull of this.store.pullsWithPreview()) {
      if (pull.state === "open") {
        const host = this.options.hosts[pull.repo.host];
        if (!host) continue;
        const fresh = await host.getPull(pull.repo, pull.prNumber);
        if (fresh.state === "open") continue;
        this.store.patchPull(pull.prKey, (p) => ({ ...p, state: "closed" }));
      }
      if (this.store.activeRunsOf(pull.prKey).some((r) => r.kind === "delete")) continue;
      const run: RunRecord = {
        id: this.newId(),
        prKey: pull.prKey,
        repo: pull.repo,
        prNumber: pull.prNumber,
        sha: pull.headSha,
        kind: "delete",
        plan: [],
        trigger: "close",
        status: "queued",
        reuseImage: false,
        attempts: 0,
        createdAt: this.now(),
      };
      this.store.insertRun(run);
      this.scheduler.stopActive(pull.prKey, { kind: "cancelled", text: "cancelled: the PR was closed" }, run.id);
      this.options.log.info({ prKey: pull.prKey }, "preview of a closed PR queued for removal");
    }
    // Expired previews go even when the webhook that should have removed them was lost.
    for (const target of Object.values(this.options.targets)) {
      if (!target?.listExpiring) continue;
      for (const { key, expiresAt } of await target.listExpiring()) {
        if (!expiresAt || expiresAt.getTime() > this.now()) continue;
        const [owner, name] = key.repo.split("/");
        const prKey = owner && name ? prKeyOf({ host: key.host, owner, name }, key.pr) : undefined;
        if (prKey && this.store.activeRunsOf(prKey).length > 0) continue;
        await target.remove(key);
        if (prKey) this.store.patchPull(prKey, (p) => ({ ...p, preview: undefined, notice: { kind: "deleted", text: "The preview expired and was removed. Comment `/deploy` to start it again, `/keep` to keep it longer." } }));
        if (prKey) this.publisher.request(prKey);
        this.options.log.info({ key, target: target.kind, expiresAt }, "expired preview removed");
      }
    }
    // Previews berth has no record of (state lost, or made by another berth): removed when the
    // host says their PR is closed, otherwise left in place.
    for (const target of Object.values(this.options.targets)) {
      if (!target) continue;
      for (const key of await target.list()) {
        const [owner, name] = key.repo.split("/");
        if (!owner || !name) continue;
        if (this.store.getPull(prKeyOf({ host: key.host, owner, name }, key.pr))) continue;
        await this.reconcileUnknown(target, key, owner, name);
      }
    }
    this.scheduler.kick();
  }

  /** A preview without a record: remove it once its PR is known to be closed; never guess. */
  private async reconcileUnknown(target: PreviewTarget, key: PreviewKey, owner: string, name: string): Promise<void> {
    const log = this.options.log;
    const host = this.options.hosts[key.host];
    if (key.environment !== undefined || key.pr <= 0 || !host) {
      log.warn({ key, target: target.kind }, "preview without a berth record left in place; remove it by hand");
      return;
    }
    let state: string;
    try {
      state = (await host.getPull({ host: key.host, owner, name, defaultBranch: "", htmlUrl: "" }, key.pr)).state;
    } catch (err) {
      log.warn({ key, target: target.kind, err: this.options.redact(String(err)) }, "preview without a berth record left in place: its PR could not be read");
      return;
    }
    if (state === "open") {
      log.info({ key, target: target.kind }, "preview of an open PR without a berth record left in place; its next push or /deploy takes it over");
      return;
    }
    await target.remove(key);
    log.info({ key, target: target.kind }, "preview of a closed PR without a berth record removed");
  }
}

