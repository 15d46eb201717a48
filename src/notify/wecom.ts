/**
 * WeCom group robot (企业微信群机器人), pure. The robot's `key` is in the URL (no signing); the
 * message is `markdown` whose content may be at most 4096 bytes (UTF-8); the answer is
 * `{errcode, errmsg}`, errcode 0 meaning sent.
 */
import type { ChatMessage, ChatVendorFormat, VendorRequest } from "./channel.js";
import { markdownBody, withinBytes } from "./chat-text.js";
import { errcodeResult } from "./vendor-answer.js";

/** WeCom's limit on `markdown.content`, in UTF-8 bytes. */
export const WECOM_MAX_BYTES = 4096;

/** 45009: API frequency over the limit (20 messages a minute per robot). */
const RATE_LIMITED: ReadonlySet<number> = new Set([45009]);
/** -1: system busy. */
const BUSY: ReadonlySet<number> = new Set([-1]);

const COLOUR: Record<ChatMessage["event"], "warning" | "info" | "comment"> = {
  failed: "warning",
  "preview-ready": "info",
  "environment-deployed": "info",
  "preview-removed": "comment",
};

export function wecomRequest(message: ChatMessage): VendorRequest {
  // The heading text is escaped (every `<` and `>` backslashed), so it cannot close the font tag or open another.
  const content = withinBytes(WECOM_MAX_BYTES, message.failingTests.length, (tests) =>
    markdownBody(message, tests, (line) => `<font color="${COLOUR[message.event]}">${line}</font>`),
  );
  return { body: { msgtype: "markdown", markdown: { content } } };
}

export const wecom: ChatVendorFormat = {
  vendor: "wecom",
  request: wecomRequest,
  read: (answer) => errcodeResult(answer, { rateLimited: RATE_LIMITED, busy: BUSY }),
};
