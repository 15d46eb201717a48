/**
 * The inbox's rules, pure: which events must keep their order (one order key per PR), and when an
 * event that failed is tried again or given up on.
 */
import type { BotEvent } from "../domain/types.js";
import { prKeyOf, repoKeyOf } from "../domain/records.js";
import type { ErrorClass } from "./transient-error.js";

/** How long and how often an event that meets transient failures is tried again. */
export interface RetryPolicy {
  /** Wait after the first failure (ms); doubles with every further one. */
  firstDelayMs: number;
  /** Longest wait between two attempts (ms). */
  maxDelayMs: number;
  /** Give up this long after the event was received (ms). */
  deadlineMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { firstDelayMs: 2_000, maxDelayMs: 5 * 60_000, deadlineMs: 30 * 60_000 };

/** What to do with an event whose attempt failed. */
export type RetryDecision =
  | { kind: "retry"; at: number }
  | { kind: "give-up"; why: "permanent" | "deadline" };

/**
 * Events with the same key are processed one after the other, in the order received; events with
 * different keys do not wait on each other. PR events and comments: the PR (`github:o/r#12`). Tags:
 * the repository, because two tags may deploy to the same environment and only the config (read
 * while processing) says which: the later tag must be processed last.
 */
export function orderKeyOf(event: BotEvent): string {
  switch (event.kind) {
    case "pr-updated":
    case "pr-closed":
      return prKeyOf(event.pr.repo, event.pr.number);
    case "pr-comment":
      return prKeyOf(event.repo, event.prNumber);
    case "tag-pushed":
      return `${repoKeyOf(event.repo)}@tags`;
  }
}

/**
 * Wait before attempt `failures + 1` after `failures` failed ones: exponential from `firstDelayMs`,
 * capped at `maxDelayMs`, with "equal jitter" (half fixed, half random) so events that failed
 * together during an outage do not all come back in the same instant.
 */
export function backoffMs(failures: number, policy: Pick<RetryPolicy, "firstDelayMs" | "maxDelayMs">, random: () => number = Math.random): number {
  const exponential = Math.min(policy.maxDelayMs, policy.firstDelayMs * 2 ** Math.max(0, failures - 1));
  return Math.round(exponential / 2 + (random() * exponential) / 2);
}

/**
 * After a failed attempt (`failures` counts it): a permanent error gives up; a transient one is
 * tried again after the backoff (or the server's Retry-After, if longer), never later than the
 * deadline, where one last attempt is made; failing at or past the deadline gives up.
 */
export function decideRetry(
  failure: { failures: number; receivedAt: number; now: number; error: ErrorClass },
  policy: RetryPolicy,
  random: () => number = Math.random,
): RetryDecision {
  if (!failure.error.transient) return { kind: "give-up", why: "permanent" };
  const deadline = failure.receivedAt + policy.deadlineMs;
  if (failure.now >= deadline) return { kind: "give-up", why: "deadline" };
  const wait = Math.max(backoffMs(failure.failures, policy, random), failure.error.retryAfterMs ?? 0);
  return { kind: "retry", at: Math.min(failure.now + wait, deadline) };
}
