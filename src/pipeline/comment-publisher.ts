/**
 * Keeps one status comment per PR up to date: renders from the store, edits in place, never edits
 * when the text is unchanged, and spaces edits at least `intervalMs` apart (the last state always
 * lands).
 *
 * A failed write is tried again with exponential backoff and jitter (up to a quarter more, so PRs
 * that failed together do not come back together), at least as long as the host asked
 * (`Retry-After`, the rate-limit reset; see `classifyError`). A rate limit holds back every write of
 * the PR's group (installation) through the `WritePacer` shared with the commit status reporter, and
 * after a secondary rate limit the group's writes take turns at the pace the host allows: a PR
 * waiting for its turn renders its comment when the turn comes, so it writes its latest state once.
 * An answer that will not change by asking again (a 4xx other than 408, 429 and a 403 for a rate
 * limit) is tried at most `retry.maxRefusals` times for one state of the PR, then given up and
 * logged; the next change of the PR tries again. A 404 when editing means somebody deleted the
 * comment: berth posts a new one.
 */
import { createHash } from "node:crypto";
import type { Logger } from "pino";
import type { CodeHost } from "../domain/ports.js";
import type { HostKind } from "../domain/types.js";
import { renderStatusComment, STATUS_MARKER } from "../render/status-comment.js";
import type { PrKey } from "../domain/records.js";
import { statusGroupKey } from "./status-outbox.js";
import { withRenewedLease } from "./renewed-lease.js";
import { buildStatusView, type PreviewLinkSigner } from "./status-view.js";
import type { Store } from "./store.js";
import { classifyError } from "./transient-error.js";
import { isSecondaryRateLimit, jitteredWait, WritePacer } from "./write-pacer.js";

export interface CommentPublisherOptions {
  store: Store;
  hosts: Partial<Record<HostKind, CodeHost>>;
  reportBaseUrl: string;
  /** The signed link of a private preview shown in its comment (see `gateway/preview-access.ts`). */
  previewLink?: PreviewLinkSigner;
  intervalMs: number;
  log: Logger;
  now?: () => number;
  /** Backoff of failed writes. */
  retry?: Partial<RetryPolicy>;
  /** This replica, in the `comment:<pr>` lease that lets one replica at a time write a PR's comment. */
  owner?: string;
  /** How long that lease holds without a renewal (ms; renewed while a write runs; default 15 000). */
  leaseMs?: number;
  /** Jitter source (tests). */
  random?: () => number;
  /** Paces writes per group after rate limits; share one between the publisher and the reporter (the engine does); default: a pacer of its own. */
  pacer?: WritePacer;
}

/** Another replica is writing this PR's comment: try again shortly (it is not a failure). */
class CommentLeaseBusy extends Error {}

/** The PR's group is paused or paced: write when the pacer gives the PR its turn (not a failure). */
class CommentPaced extends Error {
  constructor(readonly group: string) {
    super(`writes of ${group} are paced`);
  }
}

/** Wait before looking again when another replica holds a PR's comment lease. */
const LEASE_BUSY_RETRY_MS = 250;

export interface RetryPolicy {
  /** Wait before the first retry; doubled for each further failure (plus up to a quarter, jitter). */
  baseMs: number;
  /** Longest wait berth picks itself (before jitter); a longer Retry-After or reset is honoured. */
  maxMs: number;
  /** Tries of one state the host refused (4xx) before berth gives up on it. */
  maxRefusals: number;
  /** A rate limit that names no wait (no Retry-After, no reset) pauses the group this long, at most `maxMs`. */
  rateLimitPauseMs: number;
}

const DEFAULT_RETRY: RetryPolicy = { baseMs: 2000, maxMs: 5 * 60_000, maxRefusals: 3, rateLimitPauseMs: 60_000 };

interface PrState {
  dirty: boolean;
  force: boolean;
  lastEditAt?: number;
  timer?: NodeJS.Timeout;
  flushing?: Promise<void>;
  /** Failed tries in a row, and how many of them the host refused (4xx). */
  failures: number;
  refusals: number;
  /** No try before this time (backoff after a failure). */
  retryAt?: number;
  /** Waiting for its turn at the pacer (which flushes it then). */
  pacing?: boolean;
  /** The PR's write group (`statusGroupKey`), once known. */
  group?: string;
}

function statusOf(err: unknown): number | undefined {
  if (typeof err !== "object" || err === null || !("status" in err)) return undefined;
  const status = Number((err as { status: unknown }).status);
  return Number.isInteger(status) ? status : undefined;
}

/** A 4xx that asking again will not change: not 408 (timeout), 429 or a 403 for a rate limit. */
export function isRefusal(err: unknown): boolean {
  const status = statusOf(err);
  if (status === undefined || status < 400 || status >= 500 || status === 408 || status === 429) return false;
  if (status === 403) {
    const response = (err as { response?: { headers?: Record<string, unknown> } }).response;
    const headers = response?.headers ?? {};
    if (headers["retry-after"] !== undefined || String(headers["x-ratelimit-remaining"]) === "0") return false;
    if (/rate limit/i.test(err instanceof Error ? err.message : String(err))) return false;
  }
  return true;
}

export class CommentPublisher {
  private readonly states = new Map<PrKey, PrState>();
  private readonly now: () => number;
  private readonly retry: RetryPolicy;
  private readonly random: () => number;
  private readonly pacer: WritePacer;
  private stopped = false;

  constructor(private readonly options: CommentPublisherOptions) {
    this.now = options.now ?? Date.now;
    this.retry = { ...DEFAULT_RETRY, ...options.retry };
    this.random = options.random ?? Math.random;
    this.pacer = options.pacer ?? new WritePacer({ now: this.now });
  }

  /** Ask for the PR's comment to reflect the store; `force` edits even when the text is unchanged. */
  request(prKey: PrKey, force = false): void {
    const state = this.states.get(prKey) ?? { dirty: false, force: false, failures: 0, refusals: 0 };
    // A new state of the PR gets its own tries, even after the host refused the last one.
    state.refusals = 0;
    this.states.set(prKey, state);
    state.dirty = true;
    state.force ||= force;
    this.schedule(prKey, state);
  }

  /**
   * Wait until every requested update has been written (or failed: a write waiting for its backoff,
   * or for its turn after a rate limit, is left to its timer).
   */
  async settle(): Promise<void> {
    for (let round = 0; round < 50; round++) {
      const busy = [...this.states.entries()].filter(([, s]) => s.flushing || (s.dirty && s.retryAt === undefined && !s.pacing));
      if (!busy.length) return;
      for (const [key, state] of busy) {
        if (state.timer) {
          clearTimeout(state.timer);
          state.timer = undefined;
        }
        if (!state.flushing) state.flushing = this.flush(key, state);
        await state.flushing;
      }
    }
  }

  /** Whether any comment edit is still to be made: requested, in flight, or waiting for its spacing, backoff or turn. */
  pending(): boolean {
    return [...this.states.values()].some((s) => s.dirty || s.flushing !== undefined || s.timer !== undefined || s.pacing === true);
  }

  /** Stop timers (pending edits are lost only from memory; the store still has the state). */
  stop(): void {
    this.stopped = true;
    for (const state of this.states.values()) if (state.timer) clearTimeout(state.timer);
  }

  private schedule(prKey: PrKey, state: PrState): void {
    if (this.stopped || state.timer || state.flushing || state.pacing) return;
    const spacing = state.lastEditAt === undefined ? 0 : state.lastEditAt + this.options.intervalMs - this.now();
    const backoff = state.retryAt === undefined ? 0 : state.retryAt - this.now();
    const wait = Math.max(0, spacing, backoff);
    state.timer = setTimeout(() => {
      state.timer = undefined;
      state.flushing = this.flush(prKey, state);
    }, wait);
    state.timer.unref?.();
  }

  private async flush(prKey: PrKey, state: PrState): Promise<void> {
    state.dirty = false;
    const force = state.force;
    state.force = false;
    state.retryAt = undefined;
    try {
      const edited = await this.write(prKey, state, force);
      if (edited) state.lastEditAt = this.now();
      state.failures = 0;
      state.refusals = 0;
    } catch (err) {
      if (err instanceof CommentLeaseBusy) {
        state.dirty = true;
        state.force ||= force;
        state.retryAt = this.now() + LEASE_BUSY_RETRY_MS;
      } else if (err instanceof CommentPaced) {
        state.dirty = true;
        state.force ||= force;
        this.awaitTurn(prKey, state, err.group);
      } else {
        this.failed(prKey, state, err, force);
      }
    } finally {
      state.flushing = undefined;
      if (state.group) {
        // A write left open by a failure before its call (the look-up for the comment) ends here.
        this.pacer.done(state.group, prKey);
        // A turn the PR was given and did not use (nothing changed, lease busy, a failure before writing).
        if (!state.pacing) this.pacer.pass(state.group, prKey);
      }
    }
    if (state.dirty) this.schedule(prKey, state);
  }

  /** Flush the PR when the pacer gives it its turn; it renders then, so it writes its latest state. */
  private awaitTurn(prKey: PrKey, state: PrState, group: string): void {
    state.pacing = true;
    this.pacer.wait(group, prKey, "comment", () => {
      state.pacing = false;
      if (this.stopped) {
        this.pacer.pass(group, prKey);
        return;
      }
      // A flush already running (settle) takes the turn, or passes it if it has nothing to write.
      if (state.flushing) return;
      if (state.timer) {
        clearTimeout(state.timer);
        state.timer = undefined;
      }
      state.flushing = this.flush(prKey, state);
    });
  }

  private failed(prKey: PrKey, state: PrState, err: unknown, force: boolean): void {
    state.failures++;
    const refused = isRefusal(err);
    if (refused) state.refusals++;
    const status = statusOf(err);
    if (refused && state.refusals >= this.retry.maxRefusals) {
      this.options.log.error({ prKey, status, attempts: state.refusals, err: String(err) }, "status comment not written: the code host refused it; giving up until the PR changes");
      state.failures = 0;
      state.refusals = 0;
      return;
    }
    const now = this.now();
    const error = classifyError(err, now);
    const rateLimited = !refused && (error.rateLimited === true || error.retryAfterMs !== undefined);
    const backoff = Math.min(this.retry.maxMs, this.retry.baseMs * 2 ** (state.failures - 1));
    const jittered = Math.round(backoff * (1 + this.random() * 0.25));
    const asked = rateLimited ? jitteredWait(error.retryAfterMs ?? Math.min(this.retry.rateLimitPauseMs, this.retry.maxMs), this.random) : 0;
    const delay = Math.max(jittered, asked);
    const secondary = rateLimited && isSecondaryRateLimit(err, error);
    // The whole group waits what the host asked: this PR's comment, the others', the commit statuses.
    if (rateLimited && state.group) this.pacer.limited(state.group, asked, secondary);
    this.options.log.warn({ prKey, status, attempt: state.failures, retryInMs: delay, rateLimited, secondary, err: String(err) }, "status comment update failed; will retry");
    state.dirty = true;
    state.force ||= force;
    state.retryAt = now + delay;
  }

  /**
   * Render and write under the PR's comment lease (two replicas writing at once would both create
   * a comment); true when an API write happened.
   */
  private async write(prKey: PrKey, state: PrState, force: boolean): Promise<boolean> {
    const lease = { name: `comment:${prKey}`, owner: this.options.owner ?? "local", now: this.now, ...(this.options.leaseMs !== undefined ? { ms: this.options.leaseMs } : {}) };
    // Renewed while the write runs: a replica that dies mid-write frees the PR's comment within one lease.
    const result = await withRenewedLease(this.options.store, lease, () => this.writeHeld(prKey, state, force));
    if (!result.held) throw new CommentLeaseBusy();
    return result.value;
  }

  private async writeHeld(prKey: PrKey, state: PrState, force: boolean): Promise<boolean> {
    const { store } = this.options;
    const view = await buildStatusView(store, prKey, this.options.reportBaseUrl, this.options.previewLink);
    const pull = await store.getPull(prKey);
    if (!view || !pull) return false;
    const host = this.options.hosts[pull.repo.host];
    if (!host) return false;
    const group = statusGroupKey(pull.repo);
    state.group = group;
    const body = renderStatusComment(view);
    const hash = createHash("sha256").update(body).digest("hex");
    if (!force && pull.commentHash === hash) return false;
    // One turn covers this write; the rare second one (the comment was deleted) waits for its own.
    if (!this.pacer.take(group, prKey)) throw new CommentPaced(group);
    const nextTurn = () => this.turn(group, prKey);
    // The pacer spaces the next write of the group from this one's answer.
    const paced = async <T>(call: Promise<T>): Promise<T> => {
      try {
        return await call;
      } finally {
        this.pacer.done(group, prKey);
      }
    };

    let commentId = pull.commentId;
    if (!commentId) {
      // The store may have been lost: find our comment by its marker before creating one.
      const existing = await host.findComment(pull.repo, pull.prNumber, STATUS_MARKER);
      commentId = existing?.id;
    }
    if (commentId) {
      try {
        await paced(host.updateComment(pull.repo, pull.prNumber, commentId, body));
      } catch (err) {
        if (statusOf(err) !== 404) throw err;
        // Somebody deleted the comment (or berth's record is stale): edit another of ours if there
        // is one, else post a new one, once.
        const existing = await host.findComment(pull.repo, pull.prNumber, STATUS_MARKER);
        if (existing && existing.id !== commentId) {
          commentId = existing.id;
          await nextTurn();
          await paced(host.updateComment(pull.repo, pull.prNumber, commentId, body));
        } else {
          if (existing) throw err;
          this.options.log.info({ prKey, commentId }, "status comment is gone; posting a new one");
          await nextTurn();
          commentId = (await paced(host.createComment(pull.repo, pull.prNumber, body))).id;
        }
      }
    } else {
      commentId = (await paced(host.createComment(pull.repo, pull.prNumber, body))).id;
    }
    await store.patchPull(prKey, (p) => ({ ...p, commentId, commentHash: hash }));
    this.options.log.debug({ prKey, commentId }, "status comment written");
    return true;
  }

  /** Wait for a further turn of `group` within one flush (holding the PR's lease, briefly). */
  private async turn(group: string, prKey: PrKey): Promise<void> {
    while (!this.pacer.take(group, prKey)) await new Promise<void>((resolve) => this.pacer.wait(group, prKey, "comment", resolve));
  }
}
