/**
 * Chat notifications behind one port: a server-defined channel (`BERTH_NOTIFY_<NAME>`), the
 * vendor-neutral message berth wants said, and what a vendor's answer meant. Vendor modules
 * (`dingtalk.ts`, `feishu.ts`, `wecom.ts`, `slack.ts`) are pure: they build the request (signed
 * where the vendor signs) and read the answer; `webhook-sender.ts` sends it.
 */
import type { NotifyEvent } from "../domain/repo-config.js";

export type { NotifyEvent } from "../domain/repo-config.js";

/** The chat vendors berth can post to. */
export const CHAT_VENDORS = ["dingtalk", "feishu", "wecom", "slack"] as const;
export type ChatVendor = (typeof CHAT_VENDORS)[number];

/** One chat channel as the operator defined it; the URL (and the key or token in it) and the secret are secrets. */
export interface ChatChannel {
  /** `team` for `BERTH_NOTIFY_TEAM`: what berth.yml names. */
  name: string;
  vendor: ChatVendor;
  url: string;
  /** The robot's signing secret (DingTalk 加签 `SEC…`, Feishu 签名校验). */
  secret?: string;
}

/**
 * What a notification says, before any vendor's markup. Every text field is raw (it may come from
 * the repository or a build: PR title, branch, test names): each vendor escapes and bounds it.
 */
export interface ChatMessage {
  event: NotifyEvent;
  /** `owner/name`. */
  repo: string;
  repoUrl: string;
  /** Absent for releases (tag flow). */
  pr?: { number: number; url: string; title?: string; branch?: string };
  sha: string;
  /** What happened, one line: `Preview ready`, `Pipeline failed at test`. */
  headline: string;
  /** Why, when berth knows (a stage's reason or failing step). */
  reason?: string;
  previewUrl?: string;
  environment?: { name: string; tag: string; url: string };
  reportUrl?: string;
  logUrl?: string;
  tests?: { passed: number; failed: number; skipped: number };
  /** The first failing tests (at most {@link MAX_FAILING_TESTS}). */
  failingTests: Array<{ name: string; message: string }>;
}

/** Failing tests a message lists at most (the report has them all). */
export const MAX_FAILING_TESTS = 5;

/** What a vendor's answer (or the lack of one) meant. */
export type DeliveryResult =
  | { ok: true }
  | {
      ok: false;
      /** Worth another try later: network, 5xx, 429, the vendor's rate-limit and busy codes. */
      transient: boolean;
      /** The vendor throttled this robot: wait at least `retryAfterMs` or a pause. */
      rateLimited?: boolean;
      retryAfterMs?: number;
      /** One short line for logs: `errcode 310000: sign not match`. */
      summary: string;
    };

/** One HTTP exchange a vendor wants: a JSON body POSTed to the channel URL, with extra query parameters. */
export interface VendorRequest {
  query?: Record<string, string>;
  body: unknown;
}

/** A vendor's answer as the sender read it off the wire. */
export interface VendorAnswer {
  status: number;
  text: string;
  header(name: string): string | undefined;
}

/** A vendor module: pure. */
export interface ChatVendorFormat {
  vendor: ChatVendor;
  /** The request saying `message`; `now` (ms) is the signing time. */
  request(message: ChatMessage, options: { secret?: string; now: number }): VendorRequest;
  /** What the vendor's answer means (an HTTP 200 may carry an error code). */
  read(answer: VendorAnswer): DeliveryResult;
}

/** The port: say one message on one channel. Never throws for the vendor: failures are results. */
export interface ChatSender {
  send(channel: ChatChannel, message: ChatMessage, signal?: AbortSignal): Promise<DeliveryResult>;
}
