/**
 * Paces code host writes per group (`statusGroupKey`: one GitHub App installation, one Gitee
 * account), shared by the comment publisher and the commit status reporter, so a rate limit one of
 * them meets holds the other back too.
 *
 * - Usually nothing is paced: a write starts at once.
 * - The host asked to wait (Retry-After, the rate-limit reset, a pause after a limit without either):
 *   no write of the group starts before then.
 * - After a secondary rate limit (too many writes too fast: GitHub asks integrators for a second
 *   between writes), writes of the group go one at a time, each `paceMs` after the previous one's
 *   answer, in turns that alternate between lanes (statuses, comments) and go in the order asked
 *   within a lane. Pacing lasts `paceWindowMs` after the last limit, and as long as writers keep
 *   queueing for turns: a backlog drains at the allowed rate instead of hammering the host into
 *   more refusals.
 *
 * Writers never wait on the pacer: `take` says whether a write may start now (and `done` says it
 * ended); when it may not, `wait` calls back when the writer's turn has come (the turn is held for
 * it `grantMs`; `pass` gives it up). A paced write therefore waits like a backoff, on a timer, not
 * as work in flight.
 */
import type { ErrorClass } from "./transient-error.js";

/** Which kind of writer asks for a turn. */
export type WriteLane = "status" | "comment";

export interface WritePacerOptions {
  /**
   * Time between one write's answer and the next write's start in a paced group (ms). Counted from
   * the answer, so the next write cannot reach the host within `paceMs` of the previous one however
   * long that one took on the way. Default 1000: GitHub's "at least one second between writes".
   */
  paceMs?: number;
  /** Pacing ends this long after the last rate limit once nobody queues for turns any more (ms). */
  paceWindowMs?: number;
  /** A turn given to a writer is held for it this long (ms); unused by then, it goes to the next one. */
  grantMs?: number;
  /** A write not `done` after this long no longer holds a paced group back (ms; its caller's deadline). */
  writeTimeoutMs?: number;
  now?: () => number;
}

export const DEFAULT_PACE_MS = 1000;
const DEFAULT_PACE_WINDOW_MS = 60_000;
const DEFAULT_GRANT_MS = 5_000;
const DEFAULT_WRITE_TIMEOUT_MS = 60_000;

interface Waiter {
  who: string;
  lane: WriteLane;
  wake: () => void;
}

interface GroupPace {
  /** The host asked for no write before this time. */
  notBefore: number;
  /** Writes are spaced until this time. */
  pacedUntil: number;
  /** When the last write ended (its answer, or its failure). */
  lastEndAt: number;
  /** Writes started and not yet done, by writer, each until it no longer counts. */
  inFlight: Map<string, number>;
  /** Lane of the last turn given. */
  lastLane?: WriteLane;
  waiters: Waiter[];
  /** The turn given to `who`, held for it until `until`. */
  grant?: { who: string; until: number };
  timer?: NodeJS.Timeout;
}

export class WritePacer {
  private readonly groups = new Map<string, GroupPace>();
  private readonly now: () => number;
  private readonly paceMs: number;
  private readonly paceWindowMs: number;
  private readonly grantMs: number;
  private readonly writeTimeoutMs: number;

  constructor(options: WritePacerOptions = {}) {
    this.now = options.now ?? Date.now;
    this.paceMs = options.paceMs ?? DEFAULT_PACE_MS;
    this.paceWindowMs = options.paceWindowMs ?? DEFAULT_PACE_WINDOW_MS;
    this.grantMs = options.grantMs ?? DEFAULT_GRANT_MS;
    this.writeTimeoutMs = options.writeTimeoutMs ?? DEFAULT_WRITE_TIMEOUT_MS;
  }

  /** Whether `who` may start a write of `group` now (nothing is recorded). */
  mayWrite(group: string, who: string): boolean {
    const g = this.groups.get(group);
    if (!g) return true;
    const now = this.now();
    this.expire(g, now);
    if (g.grant) return g.grant.who === who;
    if (now < this.readyAt(g, now)) return false;
    return !this.paced(g, now) || g.waiters.every((w) => w.who === who);
  }

  /** Start a write of `group` for `who` if it may start now (see `mayWrite`); true when it may. Call `done` when it ends. */
  take(group: string, who: string): boolean {
    if (!this.mayWrite(group, who)) return false;
    const g = this.group(group);
    const now = this.now();
    // A writer that had to queue for its turn keeps the group paced: the backlog is not drained yet.
    if (g.grant) g.pacedUntil = Math.max(g.pacedUntil, now + this.paceWindowMs);
    g.grant = undefined;
    g.inFlight.set(who, now + this.writeTimeoutMs);
    g.waiters = g.waiters.filter((w) => w.who !== who);
    this.arm(group, g);
    return true;
  }

  /** The write `who` started with `take` ended (answered or failed): the next one is spaced from now. */
  done(group: string, who: string): void {
    const g = this.groups.get(group);
    if (!g || !g.inFlight.delete(who)) return;
    g.lastEndAt = this.now();
    this.arm(group, g);
  }

  /** Call `wake` once `who` may write `group` (a writer waits once: asking again keeps its place). */
  wait(group: string, who: string, lane: WriteLane, wake: () => void): void {
    const g = this.group(group);
    const waiting = g.waiters.find((w) => w.who === who);
    if (waiting) waiting.wake = wake;
    else g.waiters.push({ who, lane, wake });
    this.arm(group, g);
  }

  /** `who` does not use the turn it was given (nothing to write after all): the next writer may go. */
  pass(group: string, who: string): void {
    const g = this.groups.get(group);
    if (!g || g.grant?.who !== who) return;
    g.grant = undefined;
    this.arm(group, g);
  }

  /**
   * The host refused a write of `group` for a rate limit and asked to wait `waitMs`; `secondary`:
   * it was a limit on writing too fast (pace the group), not a spent quota.
   */
  limited(group: string, waitMs: number, secondary: boolean): void {
    const g = this.group(group);
    const now = this.now();
    g.notBefore = Math.max(g.notBefore, now + waitMs);
    if (secondary) g.pacedUntil = Math.max(g.pacedUntil, now + waitMs + this.paceWindowMs);
    this.arm(group, g);
  }

  /** Writers waiting for a turn (of `group`, or of every group). */
  waiting(group?: string): number {
    if (group !== undefined) return this.groups.get(group)?.waiters.length ?? 0;
    return [...this.groups.values()].reduce((sum, g) => sum + g.waiters.length, 0);
  }

  private group(key: string): GroupPace {
    let g = this.groups.get(key);
    if (!g) {
      g = { notBefore: 0, pacedUntil: 0, lastEndAt: Number.NEGATIVE_INFINITY, inFlight: new Map(), waiters: [] };
      this.groups.set(key, g);
    }
    return g;
  }

  private paced(g: GroupPace, now: number): boolean {
    return now < g.pacedUntil;
  }

  /** Earliest start of the next write, leaving held turns aside: after the host's pause and, when paced, a pace after the last write ended. */
  private readyAt(g: GroupPace, now: number): number {
    if (!this.paced(g, now)) return g.notBefore;
    const inFlightUntil = g.inFlight.size > 0 ? Math.min(...g.inFlight.values()) : undefined;
    return Math.max(g.notBefore, inFlightUntil ?? g.lastEndAt + this.paceMs);
  }

  /** Forget a held turn and writes in flight that lapsed. */
  private expire(g: GroupPace, now: number): void {
    if (g.grant && g.grant.until <= now) g.grant = undefined;
    for (const [who, until] of g.inFlight) if (until <= now) g.inFlight.delete(who);
  }

  /** Set the group's timer for its next turn (or for its held turn to lapse). */
  private arm(key: string, g: GroupPace): void {
    if (g.timer) clearTimeout(g.timer);
    g.timer = undefined;
    if (g.waiters.length === 0) return;
    const now = this.now();
    const at = g.grant ? g.grant.until : this.readyAt(g, now);
    g.timer = setTimeout(() => {
      g.timer = undefined;
      this.pump(key, g);
    }, Math.max(0, at - now));
    g.timer.unref();
  }

  /** Give the next turn: to one writer when paced (alternating lanes), to every waiter when not. */
  private pump(key: string, g: GroupPace): void {
    const now = this.now();
    this.expire(g, now);
    if (g.grant || now < this.readyAt(g, now)) {
      this.arm(key, g);
      return;
    }
    if (!this.paced(g, now)) {
      const woken = g.waiters;
      g.waiters = [];
      for (const w of woken) w.wake();
      return;
    }
    const next = g.waiters.find((w) => w.lane !== g.lastLane) ?? g.waiters[0];
    if (!next) return;
    g.waiters = g.waiters.filter((w) => w !== next);
    g.grant = { who: next.who, until: now + this.grantMs };
    g.lastLane = next.lane;
    this.arm(key, g);
    next.wake();
  }
}

/**
 * A secondary rate limit (writing too fast), as opposed to a spent quota: the host said so
 * ("secondary rate limit", "abuse"), or asked to wait with Retry-After.
 */
export function isSecondaryRateLimit(err: unknown, error: ErrorClass): boolean {
  if (!error.rateLimited) return false;
  if (/secondary rate|abuse/i.test(error.summary)) return true;
  for (let item: unknown = err, depth = 0; typeof item === "object" && item !== null && depth < 5; item = (item as { cause?: unknown }).cause, depth++) {
    const headers = (item as { response?: { headers?: unknown }; headers?: unknown }).response?.headers ?? (item as { headers?: unknown }).headers;
    if (typeof headers !== "object" || headers === null) continue;
    const value = typeof (headers as Headers).get === "function" ? (headers as Headers).get("retry-after") : (headers as Record<string, unknown>)["retry-after"];
    if (value !== undefined && value !== null) return true;
  }
  return false;
}

/** A wait the host asked for, plus up to a tenth more, so writers it stopped together do not all come back at once. */
export function jitteredWait(askedMs: number, random: () => number): number {
  return Math.round(askedMs * (1 + random() * 0.1));
}
