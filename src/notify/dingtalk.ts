/**
 * DingTalk custom robot (自定义机器人), pure. With 加签 (signing) on, the request carries
 * `timestamp` (ms) and `sign` = base64(HMAC-SHA256(key = secret, message = `timestamp\nsecret`)) as
 * query parameters (URL-encoded on the wire; DingTalk refuses a timestamp more than an hour off).
 * The message is `markdown`; the answer is `{errcode, errmsg}`, errcode 0 meaning sent.
 */
import { createHmac } from "node:crypto";
import type { ChatMessage, ChatVendorFormat, VendorRequest } from "./channel.js";
import { chatLine, markdownBody, withinBytes } from "./chat-text.js";
import { errcodeResult } from "./vendor-answer.js";

/** Bytes of markdown text berth sends at most (DingTalk refuses very long messages; a chat message should be short anyway). */
export const DINGTALK_MAX_BYTES = 16_000;

/** Error codes of a throttled robot: 130101 "send too fast" (20 a minute), 90030 "webhook over limit". */
const RATE_LIMITED: ReadonlySet<number> = new Set([130101, 90030]);
/** -1: system busy. */
const BUSY: ReadonlySet<number> = new Set([-1]);

/** The `sign` of a request at `timestamp` (ms), before URL encoding. */
export function dingtalkSign(secret: string, timestamp: number): string {
  return createHmac("sha256", secret).update(`${timestamp}\n${secret}`, "utf8").digest("base64");
}

export function dingtalkRequest(message: ChatMessage, options: { secret?: string; now: number }): VendorRequest {
  const text = withinBytes(DINGTALK_MAX_BYTES, message.failingTests.length, (tests) => markdownBody(message, tests, (line) => `### ${line}`));
  const body = { msgtype: "markdown", markdown: { title: chatLine(`${message.headline} · ${message.repo}`, 100), text } };
  if (!options.secret) return { body };
  return { body, query: { timestamp: String(options.now), sign: dingtalkSign(options.secret, options.now) } };
}

export const dingtalk: ChatVendorFormat = {
  vendor: "dingtalk",
  request: dingtalkRequest,
  read: (answer) => errcodeResult(answer, { rateLimited: RATE_LIMITED, busy: BUSY }),
};
