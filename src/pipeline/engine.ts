/**
 * The engine: a durable inbox of events, the dispatcher that turns them into runs, the scheduler
 * that executes runs, the publisher that keeps status comments current, and the reporter that writes
 * commit statuses from their outbox. Webhook handlers only
 * call `accept()`, which records and returns at once. `start()` returns as soon as work can be
 * accepted; reconciling previews with the code host runs in the background.
 */
import { createHash, randomBytes } from "node:crypto";
import { hostname } from "node:os";
import type { Logger } from "pino";
import type { RepoConfig } from "../config/repo-config.js";
import { checkoutSource } from "../adapters/source-checkout.js";
import { BackgroundTasks } from "./background-tasks.js";
import { DEFAULT_INSTANCE, sha7 } from "../domain/naming.js";
import type { ArtifactRegistry, CodeHost, RegistryCleaner, ImageBuilder, PreviewTarget, SourceArchive, SourceCheckout } from "../domain/ports.js";
import type { Redactor } from "../domain/redact.js";
import type { BotEvent, HostKind, PullRef, RepoRef } from "../domain/types.js";
import { hostDisplayName } from "../domain/host-kind.js";
import { CommentPublisher } from "./comment-publisher.js";
import { createConfigLoader, type ConfigLookup } from "./config-loader.js";
import { dispatchEvent } from "./dispatcher.js";
import { guardMethods } from "./inbox-abort.js";
import { DEFAULT_RETRY_POLICY, type RetryPolicy } from "./inbox-retry.js";
import { InboxWorker, type EventFailure } from "./inbox-worker.js";
import { prKeyOf, repoKeyOf, type PrKey, type PullRecord, type RunRecord } from "../domain/records.js";
import { executeRun, type ExecutorDeps } from "./run-executor.js";
import { RunJournal } from "./run-journal.js";
import { RunEvents } from "./run-events.js";
import { HostRouter } from "./host-router.js";
import { Reconciler } from "./reconciler.js";
import { PreviewLifecycle, type WakeResult } from "./preview-lifecycle.js";
import { DEFAULT_HEARTBEAT_MS, DEFAULT_RUN_LEASE_MS, Scheduler } from "./scheduler.js";
import { StatusReporter, type StatusRetryPolicy } from "./status-outbox.js";
import { NotificationOutbox, type NotificationOutboxOptions } from "./notification-outbox.js";
import type { ChatChannel, ChatSender } from "../notify/channel.js";
import { WritePacer } from "./write-pacer.js";
import type { GatewayAddressing } from "../gateway/preview-host-names.js";
import type { PreviewLinkSigner } from "./status-view.js";
import type { InboxItem, RunFence, Store } from "./store.js";

export interface EngineOptions {
  store: Store;
  hosts: Partial<Record<HostKind, CodeHost>>;
  builder: ImageBuilder;
  targets: Partial<Record<RepoConfig["preview"]["target"], PreviewTarget>>;
  registry?: string;
  /** This berth installation (BERTH_INSTANCE, default `default`): part of image repository names. */
  instance?: string;
  /** berth's preview gateway, when it serves Docker and Swarm previews (their URLs are its host names). */
  gateway?: GatewayAddressing;
  /** Signs the link of a private preview shown in its status comment. */
  previewLink?: PreviewLinkSigner;
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
  /** Put idle previews to sleep and remove expired ones this often (ms; default 60 000; 0 = never). */
  lifecycleIntervalMs?: number;
  /** A preview's address changed (deployed elsewhere, asleep, awake): e.g. the gateway's routes are stale. */
  onPreviewChange?: (prKey: PrKey) => void;
  /** Forget finished runs, reports and deliveries older than this at each reconcile (ms; unset = keep all). */
  retentionMs?: number;
  commentIntervalMs: number;
  /** Inbox events processed at once, each of another PR (default 8); one PR's events go in order. */
  inboxConcurrency?: number;
  /**
   * Transient failures of an event (network, timeouts, 5xx, 429, rate limits) are retried with
   * backoff until this long after receipt (default 2 s doubling to 5 min, for 30 min).
   */
  inboxRetry?: Partial<RetryPolicy>;
  /** One attempt at an event, and each code host call of a reconcile, is given up after this long (ms; default 60 000). */
  eventTimeoutMs?: number;
  redact: Redactor;
  log: Logger;
  now?: () => number;
  newId?: () => string;
  /** Jitter of inbox and commit status retries (tests). */
  random?: () => number;
  /** Backoff and give-up of commit status writes (see `StatusReporter`). */
  statusRetry?: Partial<StatusRetryPolicy>;
  /** This replica's name in leases and claims (default: host name, pid and a random suffix). */
  replicaId?: string;
  /** How long a claimed run stays this replica's without a heartbeat (ms; default 15 000). */
  runLeaseMs?: number;
  /** Lease renewals, stop requests and look-ups of other replicas' work this often (ms; default 1000). */
  heartbeatMs?: number;
  /** A delivery's claim lasts the event deadline plus this (ms; default 30 000). */
  inboxClaimMarginMs?: number;
  /** Chat channels the server defines (BERTH_NOTIFY_<NAME>) and what sends to them; unset = none (a berth.yml `notify` item is a config error). */
  notify?: { channels: readonly ChatChannel[]; sender: ChatSender } & Pick<NotificationOutboxOptions, "retry" | "onDelivery" | "failureLogMs">;
}

/** The id of the `n`th run an event queues: the same when the event is processed again (a replica died before marking it done). */
export function runIdOfDelivery(deliveryId: string, n: number): string {
  return createHash("sha256").update(`${deliveryId}\u0000${n}`).digest("hex").slice(0, 16);
}

/** How long `stop()` waits for background work of finished stages. */
const STOP_BACKGROUND_MS = 10_000;

const DEFAULT_INBOX_CONCURRENCY = 8;
const DEFAULT_EVENT_TIMEOUT_MS = 60_000;

export class Engine {
  readonly store: Store;
  /** This replica's name in leases and claims. */
  readonly replicaId: string;
  /** What happens to this replica's runs, as it is recorded (metrics, dashboard, notifications listen). */
  readonly events: RunEvents;
  private readonly scheduler: Scheduler;
  private readonly publisher: CommentPublisher;
  private readonly reporter: StatusReporter;
  /** Chat notifications of this replica's runs (`stats()` gives delivery counts per channel); undefined without channels. */
  readonly notifications?: NotificationOutbox;
  private readonly background: BackgroundTasks;
  private readonly journal: RunJournal;
  private readonly hostRouter: HostRouter;
  private readonly reconciler: Reconciler;
  /** Sleep, wake and expiry of running previews. */
  readonly lifecycle: PreviewLifecycle;
  private lifecycleTimer?: NodeJS.Timeout;
  private sharedExecutorDeps?: Omit<ExecutorDeps, "host" | "log">;
  private readonly loadConfig: ReturnType<typeof createConfigLoader>;
  private readonly now: () => number;
  private readonly newId: () => string;
  private readonly inbox: InboxWorker;
  private readonly eventTimeoutMs: number;
  /** Aborts what a shutdown must not wait for (a reconcile's host calls). */
  private readonly shutdown = new AbortController();
  private reconcileTimer?: NodeJS.Timeout;
  private reconciling?: Promise<void>;
  private stopped = false;

  constructor(private readonly options: EngineOptions) {
    this.store = options.store;
    this.hostRouter = new HostRouter(options.hosts);
    this.replicaId = options.replicaId ?? `${hostname()}-${process.pid}-${randomBytes(3).toString("hex")}`;
    this.now = options.now ?? Date.now;
    this.newId = options.newId ?? (() => randomBytes(8).toString("hex"));
    // One pacer for the comment publisher and the status reporter: after a rate limit they take turns.
    const pacer = new WritePacer({ now: this.now });
    this.publisher = new CommentPublisher({
      pacer,
      store: options.store,
      hosts: options.hosts,
      reportBaseUrl: this.reportBaseUrl,
      ...(options.previewLink ? { previewLink: options.previewLink } : {}),
      intervalMs: options.commentIntervalMs,
      log: options.log,
      now: this.now,
      owner: this.replicaId,
      leaseMs: options.runLeaseMs ?? DEFAULT_RUN_LEASE_MS,
    });
    this.background = new BackgroundTasks(options.log);
    this.events = new RunEvents(options.log);
    this.journal = new RunJournal(options.store, (prKey) => this.publisher.request(prKey), this.now, this.events);
    this.reporter = new StatusReporter({
      pacer,
      store: options.store,
      hosts: options.hosts,
      log: options.log,
      redact: options.redact,
      now: this.now,
      ...(options.random ? { random: options.random } : {}),
      ...(options.statusRetry ? { retry: options.statusRetry } : {}),
      callTimeoutMs: options.eventTimeoutMs ?? DEFAULT_EVENT_TIMEOUT_MS,
      owner: this.replicaId,
      leaseMs: options.runLeaseMs ?? DEFAULT_RUN_LEASE_MS,
    });
    if (options.notify) {
      this.notifications = new NotificationOutbox({
        store: options.store,
        channels: options.notify.channels,
        sender: options.notify.sender,
        reportBaseUrl: this.reportBaseUrl,
        log: options.log,
        redact: options.redact,
        now: this.now,
        ...(options.random ? { random: options.random } : {}),
        ...(options.notify.retry ? { retry: options.notify.retry } : {}),
        ...(options.notify.onDelivery ? { onDelivery: options.notify.onDelivery } : {}),
        ...(options.notify.failureLogMs !== undefined ? { failureLogMs: options.notify.failureLogMs } : {}),
        owner: this.replicaId,
        leaseMs: options.runLeaseMs ?? DEFAULT_RUN_LEASE_MS,
        ...(options.store.kind === "postgres" ? { pollMs: options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS } : {}),
      });
      this.events.on(this.notifications.listener);
    }
    this.scheduler = new Scheduler({
      store: options.store,
      owner: this.replicaId,
      concurrency: options.concurrency,
      execute: (run, signal, fence) => this.execute(run, signal, fence),
      onChange: (prKey) => this.publisher.request(prKey),
      log: options.log,
      now: this.now,
      leaseMs: options.runLeaseMs ?? DEFAULT_RUN_LEASE_MS,
      heartbeatMs: options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS,
    });
    this.reconciler = new Reconciler({
      store: options.store,
      hosts: this.hostRouter,
      targets: options.targets,
      scheduler: this.scheduler,
      publish: (prKey) => this.publisher.request(prKey),
      owner: this.replicaId,
      ...(options.retentionMs !== undefined ? { retentionMs: options.retentionMs } : {}),
      eventTimeoutMs: options.eventTimeoutMs ?? DEFAULT_EVENT_TIMEOUT_MS,
      shutdown: this.shutdown.signal,
      stopped: () => this.stopped,
      redact: options.redact,
      log: options.log,
      now: this.now,
      newId: this.newId,
    });
    this.lifecycle = new PreviewLifecycle({
      store: options.store,
      targets: options.targets,
      scheduler: this.scheduler,
      publish: (prKey) => this.publisher.request(prKey),
      ...(options.onPreviewChange ? { onChange: options.onPreviewChange } : {}),
      owner: this.replicaId,
      redact: options.redact,
      log: options.log,
      now: this.now,
      newId: this.newId,
    });
    if (options.onPreviewChange) {
      const changed = options.onPreviewChange;
      this.events.on((event) => {
        if (event.type === "stage-finished" && (event.stage === "deploy" || event.stage === "delete")) changed(event.run.prKey);
      });
    }
    this.loadConfig = createConfigLoader({
      enabledTargets: Object.keys(options.targets) as Array<RepoConfig["preview"]["target"]>,
      notifyChannels: (options.notify?.channels ?? []).map((c) => c.name),
      log: options.log,
    });
    this.eventTimeoutMs = options.eventTimeoutMs ?? DEFAULT_EVENT_TIMEOUT_MS;
    this.inbox = new InboxWorker({
      store: options.store,
      concurrency: options.inboxConcurrency ?? DEFAULT_INBOX_CONCURRENCY,
      process: (event, signal) => this.dispatch(event, signal),
      onGiveUp: (item, failure) => this.showEventFailure(item, failure),
      policy: { ...DEFAULT_RETRY_POLICY, ...options.inboxRetry },
      attemptTimeoutMs: this.eventTimeoutMs,
      owner: this.replicaId,
      claimMs: this.eventTimeoutMs + (options.inboxClaimMarginMs ?? 30_000),
      // Several replicas: deliveries another one received, or left behind when it died, are found by looking.
      ...(options.store.kind === "postgres" ? { pollMs: options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS } : {}),
      redact: options.redact,
      log: options.log,
      now: this.now,
      ...(options.random ? { random: options.random } : {}),
    });
  }

  /** The code host serving a repository, or undefined when berth is not configured for it (the dashboard asks permissions). */
  codeHost(repo: Pick<RepoRef, "host">): CodeHost | undefined {
    return this.hostRouter.find(repo);
  }

  /** The repository's berth config from its default branch, as the dispatcher reads it (the dashboard shows it). */
  async repoConfig(repo: RepoRef): Promise<ConfigLookup> {
    return this.loadConfig(this.hostRouter.hostOf(repo), { repo });
  }

  /** Base URL of test report pages. */
  get reportBaseUrl(): string {
    return `${this.options.publicUrl}/reports`;
  }

  /**
   * Record an event and schedule its processing. Returns false for a delivery seen before (by any
   * replica). One insert: safe to await before answering the webhook.
   */
  async accept(event: BotEvent): Promise<boolean> {
    const fresh = await this.store.recordDelivery(event, this.now());
    if (!fresh) {
      const redelivery = await this.store.getDelivery(event.deliveryId) !== undefined;
      this.options.log.info({ deliveryId: event.deliveryId, kind: event.kind }, redelivery ? "duplicate delivery ignored" : "replayed payload under a new delivery id ignored");
      return false;
    }
    this.inbox.kick();
    return true;
  }

  /**
   * Recover runs a crash left behind and start working; returns at once. Reconciling previews with
   * the code host (which may be slow or down) runs in the background, its errors logged.
   */
  async start(): Promise<void> {
    await this.recoverRuns();
    // A comment edit lost to a crash (the state was recorded, the edit not yet made) is made now:
    // each open PR's comment is rendered again and written only where its text changed.
    for (const pull of await this.store.openPulls()) this.publisher.request(pull.prKey);
    await this.reporter.start();
    await this.notifications?.start();
    this.inbox.kick();
    this.scheduler.kick();
    this.scheduler.startHeartbeat();
    void this.reconcileInBackground();
    const every = this.options.reconcileIntervalMs ?? 0;
    if (every > 0) {
      this.reconcileTimer = setInterval(() => void this.reconcileInBackground(), every);
      this.reconcileTimer.unref();
    }
    const lifecycleEvery = this.options.lifecycleIntervalMs ?? 60_000;
    if (lifecycleEvery > 0) {
      let reviewing: Promise<void> | undefined;
      this.lifecycleTimer = setInterval(() => {
        if (!this.stopped) reviewing ??= this.lifecycle.tick().finally(() => (reviewing = undefined));
      }, lifecycleEvery);
      this.lifecycleTimer.unref();
    }
  }

  /** Wake a PR's sleeping preview (a request through the gateway, `/wake`, the dashboard); resolves once it answers. */
  wakePreview(prKey: PrKey, why: string): Promise<WakeResult> {
    return this.lifecycle.wake(prKey, why);
  }

  /** Start a reconcile unless one is still running (a slow host must not pile them up). */
  private reconcileInBackground(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    this.reconciling ??= this.reconcile().finally(() => {
      this.reconciling = undefined;
    });
    return this.reconciling;
  }

  /** Remove previews of closed PRs and expired previews, then forget old state; never throws. */
  async reconcile(): Promise<void> {
    await this.reconciler.reconcile();
  }

  /**
   * Stop taking work; running runs are put back in the queue for the next start, events in flight
   * stay in the inbox, commit statuses not written (or in flight) stay in the outbox. A reconcile
   * waiting on the code host is abandoned, not awaited.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    this.shutdown.abort(new Error("berth is shutting down"));
    if (this.reconcileTimer) clearInterval(this.reconcileTimer);
    if (this.lifecycleTimer) clearInterval(this.lifecycleTimer);
    await this.inbox.stop();
    await this.scheduler.stop();
    // Background work of finished stages (deployment records, late scans) ends within its own deadlines.
    await Promise.race([this.background.idle(), new Promise((resolve) => setTimeout(resolve, STOP_BACKGROUND_MS).unref())]);
    await this.reporter.stop();
    await this.notifications?.stop();
    await this.publisher.settle();
    this.publisher.stop();
  }

  /**
   * Wait until no event is due or in flight (one waiting for its retry does not count), the
   * reconcile is done, no run is executing and every comment and commit status is written (one
   * waiting for its backoff does not count).
   */
  async idle(): Promise<void> {
    for (let i = 0; i < 100; i++) {
      await this.inbox.idle();
      await this.reconciling;
      await this.scheduler.idle();
      // Background work (a scan finishing late) may ask for a comment redraw: it goes before the publisher settles.
      await this.background.idle();
      await this.publisher.settle();
      await this.reporter.idle();
      await this.notifications?.idle();
      const queued = (await this.store.runsWithStatus(["queued", "running"])).length;
      if (!(await this.inbox.busy()) && !this.reconciling && queued === 0 && !(await this.reporter.busy()) && !(await this.notifications?.busy()) && !this.background.busy()) return;
      if (queued > 0) this.scheduler.kick();
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /**
   * Wait until `idle()` and no comment edit or commit status is left to write at all, including
   * ones waiting for a backoff, a rate-limit pause or their paced turn. Rejects after `timeoutMs`
   * (default 10 min) saying what is left.
   */
  async drained(timeoutMs = 10 * 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      await this.idle();
      const comments = this.publisher.pending();
      const statuses = await this.reporter.pending();
      if (!comments && !statuses) return;
      if (Date.now() >= deadline) throw new Error(`not drained after ${timeoutMs} ms: ${comments ? "comment edits" : ""}${comments && statuses ? " and " : ""}${statuses ? "commit statuses" : ""} left to write`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /**
   * One attempt at an event. The dispatcher sees the code hosts and targets through `signal`: when
   * the attempt's deadline passes, its call in flight and every later one reject, so an abandoned
   * attempt cannot go on queueing work next to its retry.
   */
  private dispatch(event: BotEvent, signal: AbortSignal): Promise<void> {
    let queued = 0;
    const targets: EngineOptions["targets"] = {};
    for (const [kind, target] of Object.entries(this.options.targets) as Array<[RepoConfig["preview"]["target"], PreviewTarget | undefined]>) {
      if (target) targets[kind] = guardMethods(target, signal);
    }
    return dispatchEvent(event, {
      store: this.store,
      hosts: this.hostRouter.guarded(signal),
      scheduler: this.scheduler,
      publisher: this.publisher,
      loadConfig: this.loadConfig,
      enabledTargets: Object.keys(this.options.targets) as Array<RepoConfig["preview"]["target"]>,
      targets,
      reportStatus: (repo, sha, prNumber, status) => this.reporter.enqueue(repo, sha, prNumber, status),
      wake: (prKey, why) => this.background.run(`wake ${prKey}`, async () => {
        const woken = await this.lifecycle.wake(prKey, why);
        if (!woken.ok) {
          await this.store.patchPull(prKey, (p) => ({ ...p, notice: { kind: "wake-failed", text: `The preview could not be woken: ${woken.error}. Comment \`/deploy\` to start it again.` } }));
          this.publisher.request(prKey);
        }
      }),
      log: this.options.log,
      now: this.now,
      newId: () => runIdOfDelivery(event.deliveryId, queued++),
    });
  }

  /**
   * An event given up on: say so on its PR's status comment. A PR berth has no record of gets one
   * only when berth works on other PRs of the repository (it has a config); otherwise the log says it.
   */
  private async showEventFailure(item: InboxItem, failure: EventFailure): Promise<void> {
    const event = item.event;
    const log = this.options.log;
    if (event.kind === "tag-pushed") {
      log.error({ deliveryId: item.deliveryId, repo: repoKeyOf(event.repo), tag: event.tag, err: failure.error.summary }, "tag event given up on; push the tag again to retry");
      return;
    }
    const repo = event.kind === "pr-comment" ? event.repo : event.pr.repo;
    const prKey: PrKey = event.kind === "pr-comment" ? prKeyOf(event.repo, event.prNumber) : prKeyOf(event.pr.repo, event.pr.number);
    const pr: PullRef | undefined = event.pr;
    if (!await this.store.getPull(prKey) && pr && await this.store.knowsRepo(repoKeyOf(repo))) {
      const pull: PullRecord = { prKey, repo: pr.repo, prNumber: pr.number, headSha: pr.headSha, state: pr.state, fromFork: pr.fromFork, url: pr.url };
      await this.store.savePull(pull);
    }
    const notice = { kind: "event-failed" as const, text: eventFailureText(item, failure, this.options.inboxRetry?.deadlineMs ?? DEFAULT_RETRY_POLICY.deadlineMs) };
    if (!await this.store.patchPull(prKey, (p) => ({ ...p, notice }))) {
      log.warn({ deliveryId: item.deliveryId, prKey }, "failed event of a PR berth has no record of: nothing to show it on");
      return;
    }
    this.publisher.request(prKey);
  }

  /** What every run's executor gets except its host and log, built once. */
  private get executorDeps(): Omit<ExecutorDeps, "host" | "log"> {
    this.sharedExecutorDeps ??= {
      journal: this.journal,
      builder: this.options.builder,
      targets: this.options.targets,
      registry: this.options.registry,
      gateway: this.options.gateway,
      instance: this.options.instance ?? DEFAULT_INSTANCE,
      artifacts: this.options.artifacts,
      registryCleaner: this.options.registryCleaner ?? this.options.artifacts,
      checkoutSource: this.options.checkoutSource ?? checkoutSource,
      redact: this.options.redact,
      now: this.now,
      newId: this.newId,
      reportBaseUrl: this.reportBaseUrl,
      enqueueStatus: (r, status) => this.reporter.enqueue(r.repo, r.sha, r.prNumber, status),
      background: (what, task) => this.background.run(what, task),
    };
    return this.sharedExecutorDeps;
  }

  private async execute(run: RunRecord, signal: AbortSignal, fence: RunFence): Promise<void> {
    const host = this.hostRouter.hostOf(run.repo);
    await executeRun(run, signal, { ...this.executorDeps, host, log: this.options.log.child({ runId: run.id, prKey: run.prKey }) }, fence);
  }

  /**
   * Runs a crash left "running": on SQLite every one (the data directory's lock says their process
   * is gone), on Postgres those whose lease ended (the heartbeat takes later ones over). Re-queued,
   * or failed after too many attempts, or superseded when newer work of their PR is queued.
   */
  private async recoverRuns(): Promise<void> {
    const horizon = this.store.kind === "sqlite" ? Number.MAX_SAFE_INTEGER : this.now();
    if (this.store.kind === "postgres" && !(await this.store.acquireLease("recover-runs", this.replicaId, this.now() + (this.options.runLeaseMs ?? DEFAULT_RUN_LEASE_MS), this.now()))) return;
    for (const prKey of await this.scheduler.recoverExpired(horizon)) this.publisher.request(prKey);
  }

}


/** Inline code that cannot be closed from inside (error texts may quote anything). */
function codeSpan(text: string): string {
  return `\`${text.replace(/[`\r\n]+/g, " ").slice(0, 200)}\``;
}

/** The notice of an event given up on: what was lost, why, and how to get it done. */
export function eventFailureText(item: InboxItem, failure: EventFailure, deadlineMs: number): string {
  const event = item.event;
  const host = hostDisplayName((event.kind === "pr-comment" || event.kind === "tag-pushed" ? event.repo : event.pr.repo).host);
  const what =
    event.kind === "pr-updated"
      ? `the ${event.action === "synchronize" ? "push" : event.action} event of commit ${codeSpan(sha7(event.pr.headSha))}`
      : event.kind === "pr-closed"
        ? "the event that closed this PR"
        : event.kind === "pr-comment"
          ? `a comment by @${event.author.replace(/[^A-Za-z0-9_.-]/g, "")}`
          : `tag ${codeSpan(event.tag)}`;
  const why =
    failure.why === "deadline"
      ? `${host} kept failing for ${deadlineMs >= 60_000 ? `${Math.round(deadlineMs / 60_000)} min` : `${Math.round(deadlineMs / 1000)} s`} (${failure.attempts} attempts, last: ${codeSpan(failure.error.summary)})`
      : `it failed with ${codeSpan(failure.error.summary)}`;
  const retry =
    event.kind === "pr-updated"
      ? "Push again or comment `/deploy` to run it."
      : event.kind === "pr-closed"
        ? "Comment `/delete` to remove the preview."
        : "Comment again to retry.";
  return `berth gave up on ${what}: ${why}. ${retry}`;
}
