/**
 * berth's Prometheus metrics on its own registry (never prom-client's global one): counters moved
 * by the webhook routes, the run events and the code-host clients, and gauges read from the store
 * at scrape time (queue, current runs, previews, status outbox). Label values are bounded: hosts,
 * event names, stages, targets, statuses and route templates come from fixed sets; repositories
 * and PR numbers are never labels.
 */
import { routeTemplate } from "./route-template.js";
import type { Logger } from "pino";
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { RunEvent, RunEvents } from "../pipeline/run-events.js";
import type { Store } from "../pipeline/store.js";
import type { RunStatus } from "../domain/types.js";

/** What a webhook route did with one delivery. */
export type WebhookResult = "accepted" | "ignored" | "refused" | "error";

/** One finished code-host API call, as the clients report it. */
export interface ApiCall {
  host: "github" | "gitee" | "gitea";
  method: string;
  /** Route template (`/repos/{owner}/{repo}/statuses/{sha}`), never the expanded path. */
  route: string;
  /** HTTP status, or a network code (`ETIMEDOUT`) when no answer came. */
  status: number | string;
  /** `x-ratelimit-remaining` of the answer, when the host sent it. */
  rateLimitRemaining?: number;
  /** `x-ratelimit-resource` (GitHub: core, search, graphql, ...). */
  rateLimitResource?: string;
}

/** Reports API calls (implemented by `BerthMetrics`; passed to the code-host clients). */
export type ApiCallObserver = (call: ApiCall) => void;

/** One attempt of the shared HTTP transport, as its `observe` option reports it. */
interface TransportAttempt {
  method: string;
  path: string;
  status: number | string;
  header: (name: string) => string | undefined;
}

/** A transport observer reporting each attempt as an API call of `host` (with `X-RateLimit-Remaining` when the host sends it). */
export function transportObserver(host: ApiCall["host"], observe: ApiCallObserver): (attempt: TransportAttempt) => void {
  return (attempt) => {
    const remaining = Number(attempt.header("x-ratelimit-remaining") ?? Number.NaN);
    observe({ host, method: attempt.method, route: routeTemplate(attempt.path), status: attempt.status, ...(Number.isFinite(remaining) ? { rateLimitRemaining: remaining } : {}) });
  };
}

/** The store reads done at scrape time. */
export type MetricsStore = Pick<Store, "runsWithStatus" | "pullsWithPreview" | "outboxStatuses">;

export interface BerthMetricsOptions {
  store: MetricsStore;
  log?: Pick<Logger, "warn">;
  now?: () => number;
  /** Process metrics (`process_*`, `nodejs_*`); default true. */
  processMetrics?: boolean;
}

/** Seconds; stages take from a second (a reused image) to an hour (a big build or test suite). */
const STAGE_BUCKETS = [1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 1800, 3600];

/** Event names that become label values; any other name (the header is the sender's) is `other`. */
const KNOWN_EVENTS: ReadonlySet<string> = new Set([
  // GitHub
  "pull_request", "push", "issue_comment", "ping", "installation", "installation_repositories", "check_run", "check_suite", "create", "delete", "status",
  // Gitee
  "Merge Request Hook", "Note Hook", "Push Hook", "Tag Push Hook", "Issue Hook",
]);

/** Run triggers are code-made (`push`, `/deploy`, `close`, ...) except `tag <name>`: that becomes `tag`. */
const KNOWN_TRIGGERS: ReadonlySet<string> = new Set([
  "push", "opened", "reopened", "ready_for_review", "edited", "/ok-to-test", "/deploy", "/test", "/delete", "merge", "close", "tag",
]);

const CURRENT_STATUSES: RunStatus[] = ["queued", "running"];

/** An event name fit for a label. */
export function eventLabel(name: string | undefined): string {
  if (!name) return "none";
  return KNOWN_EVENTS.has(name) ? name : "other";
}

/** A run trigger fit for a label. */
export function triggerLabel(trigger: string): string {
  const base = trigger.startsWith("tag ") ? "tag" : trigger;
  return KNOWN_TRIGGERS.has(base) ? base : "other";
}

/** An HTTP status (or network code) fit for a label. */
function statusLabel(status: number | string): string {
  if (typeof status === "number") return Number.isInteger(status) && status >= 100 && status <= 599 ? String(status) : "invalid";
  return /^[A-Z][A-Z0-9_]{1,30}$/.test(status) ? status : "network";
}

export class BerthMetrics {
  /** The registry `/metrics` renders; only berth's series are on it. */
  readonly registry = new Registry();
  private readonly webhooks: Counter<"host" | "event" | "result">;
  private readonly runsFinished: Counter<"status" | "trigger">;
  private readonly runs: Gauge<"status">;
  private readonly stageSeconds: Histogram<"stage" | "target" | "outcome">;
  private readonly queueDepth: Gauge;
  private readonly queueOldest: Gauge;
  private readonly previews: Gauge<"state" | "target">;
  private readonly apiCalls: Counter<"host" | "method" | "route" | "status">;
  private readonly rateLimit: Gauge<"host" | "resource">;
  private readonly outbox: Gauge;
  private readonly gatewayRequests: Counter<"status" | "kind">;
  private readonly gatewaySeconds: Histogram<"kind">;
  private readonly chatDeliveries: Counter<"channel" | "vendor" | "outcome">;
  private readonly storeRead: Gauge;
  private readonly store: MetricsStore;
  private readonly log: Pick<Logger, "warn"> | undefined;
  private readonly now: () => number;

  constructor(options: BerthMetricsOptions) {
    this.store = options.store;
    this.log = options.log;
    this.now = options.now ?? Date.now;
    const registers = [this.registry];
    this.webhooks = new Counter({ name: "berth_webhook_deliveries_total", help: "Webhook deliveries by code host, event and what berth did with them", labelNames: ["host", "event", "result"], registers });
    this.runsFinished = new Counter({ name: "berth_runs_finished_total", help: "Runs finished on this replica, by how they ended and what started them", labelNames: ["status", "trigger"], registers });
    this.runs = new Gauge({ name: "berth_runs", help: "Runs queued or running now (all replicas), read from the store at scrape", labelNames: ["status"], registers });
    this.stageSeconds = new Histogram({ name: "berth_stage_duration_seconds", help: "Duration of finished stages on this replica, by stage, preview target and outcome", labelNames: ["stage", "target", "outcome"], buckets: STAGE_BUCKETS, registers });
    this.queueDepth = new Gauge({ name: "berth_queue_depth", help: "Runs waiting in the queue", registers });
    this.queueOldest = new Gauge({ name: "berth_queue_oldest_age_seconds", help: "Age of the oldest queued run (0 when none waits)", registers });
    this.previews = new Gauge({ name: "berth_previews", help: "Previews by state (awake, sleeping) and target", labelNames: ["state", "target"], registers });
    this.apiCalls = new Counter({ name: "berth_code_host_api_calls_total", help: "Code-host API calls by host, method, route template and status (or network error code)", labelNames: ["host", "method", "route", "status"], registers });
    this.rateLimit = new Gauge({ name: "berth_code_host_rate_limit_remaining", help: "Requests left in the code host's rate-limit window, as its last answer said", labelNames: ["host", "resource"], registers });
    this.outbox = new Gauge({ name: "berth_status_outbox_backlog", help: "Commit statuses waiting to be written to the code hosts", registers });
    this.gatewayRequests = new Counter({ name: "berth_gateway_requests_total", help: "Requests through the preview gateway by status class (2xx, 3xx, 4xx, 5xx) and kind (http, websocket)", labelNames: ["status", "kind"], registers });
    this.gatewaySeconds = new Histogram({ name: "berth_gateway_request_duration_seconds", help: "Time until the gateway's answer started (proxied or its own page)", labelNames: ["kind"], buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60], registers });
    this.chatDeliveries = new Counter({ name: "berth_chat_notifications_total", help: "Chat notifications by channel, vendor and outcome (sent, failed: will retry, given-up)", labelNames: ["channel", "vendor", "outcome"], registers });
    this.storeRead = new Gauge({ name: "berth_metrics_store_read_ok", help: "1 when the store answered this scrape's reads; 0 when it did not (queue and outbox gauges are NaN, runs and previews absent)", registers });
    if (options.processMetrics !== false) collectDefaultMetrics({ register: this.registry });
  }

  /** The `Content-Type` of `render()`'s text. */
  get contentType(): string {
    return this.registry.contentType;
  }

  /** A webhook route decided about a delivery. */
  webhookDelivery(host: "github" | "gitee" | "gitea", event: string | undefined, result: WebhookResult): void {
    this.webhooks.inc({ host, event: eventLabel(event), result });
  }

  /** A code-host API call finished. */
  readonly apiCall: ApiCallObserver = (call) => {
    this.apiCalls.inc({ host: call.host, method: call.method.toUpperCase().slice(0, 7), route: call.route, status: statusLabel(call.status) });
    if (call.rateLimitRemaining !== undefined && Number.isFinite(call.rateLimitRemaining)) {
      const resource = call.rateLimitResource && /^[a-z_]{1,32}$/.test(call.rateLimitResource) ? call.rateLimitResource : "core";
      this.rateLimit.set({ host: call.host, resource }, call.rateLimitRemaining);
    }
  };

  /** A request through the preview gateway was answered (or its upgrade settled). */
  gatewayRequest(outcome: { status: number; durationMs: number; upgrade: boolean }): void {
    const kind = outcome.upgrade ? "websocket" : "http";
    this.gatewayRequests.inc({ status: `${Math.floor(outcome.status / 100)}xx`, kind });
    this.gatewaySeconds.observe({ kind }, Math.max(0, outcome.durationMs) / 1000);
  }

  /** A chat channel's delivery attempt ended (channel names are the server's own, a bounded set). */
  chatDelivery(channel: string, vendor: string, outcome: string): void {
    this.chatDeliveries.inc({ channel: channel.slice(0, 32), vendor: vendor.slice(0, 16), outcome: outcome.slice(0, 16) });
  }

  /** Count runs and time stages from the run events; returns the function that stops listening. */
  listen(events: Pick<RunEvents, "on">): () => void {
    return events.on((event) => this.onRunEvent(event));
  }

  private onRunEvent(event: RunEvent): void {
    if (event.type === "run-finished") {
      this.runsFinished.inc({ status: event.status, trigger: triggerLabel(event.run.trigger) });
    } else if (event.type === "stage-finished" && event.startedAt !== undefined) {
      const target = event.run.config?.preview.target ?? "none";
      this.stageSeconds.observe({ stage: event.stage, target, outcome: event.ok ? "passed" : "failed" }, Math.max(0, event.at - event.startedAt) / 1000);
    }
  }

  /** Read the store-derived gauges, then render every series in the Prometheus text format. */
  async render(): Promise<string> {
    await this.refresh();
    return this.registry.metrics();
  }

  private async refresh(): Promise<void> {
    this.runs.reset();
    this.previews.reset();
    this.queueDepth.reset();
    this.queueOldest.reset();
    this.outbox.reset();
    try {
      const [current, previews, outbox] = await Promise.all([this.store.runsWithStatus(CURRENT_STATUSES), this.store.pullsWithPreview(), this.store.outboxStatuses()]);
      for (const status of CURRENT_STATUSES) this.runs.set({ status }, 0);
      for (const run of current) this.runs.inc({ status: run.status });
      const queued = current.filter((run) => run.status === "queued");
      this.queueDepth.set(queued.length);
      const oldest = queued.reduce((min, run) => Math.min(min, run.createdAt), Number.POSITIVE_INFINITY);
      this.queueOldest.set(queued.length ? Math.max(0, this.now() - oldest) / 1000 : 0);
      for (const target of ["docker", "swarm", "kubernetes"] as const) for (const state of ["awake", "sleeping"]) this.previews.set({ state, target }, 0);
      for (const pull of previews) if (pull.preview) this.previews.inc({ state: pull.preview.sleeping ? "sleeping" : "awake", target: pull.preview.target });
      this.outbox.set(outbox.length);
      this.storeRead.set(1);
    } catch (error) {
      // Unlabelled gauges always render: NaN says "unknown" (comparisons with it are false), not 0.
      for (const gauge of [this.queueDepth, this.queueOldest, this.outbox]) gauge.set(Number.NaN);
      this.storeRead.set(0);
      this.log?.warn({ err: error instanceof Error ? error.message : String(error) }, "metrics: the store did not answer; queue, run, preview and outbox gauges left out of this scrape");
    }
  }
}
