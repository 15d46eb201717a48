/**
 * Feishu / Lark custom bot (自定义机器人), pure. With 签名校验 (signature check) on, the JSON body
 * carries `timestamp` (seconds) and `sign` = base64(HMAC-SHA256 keyed with `timestamp\nsecret` over
 * an empty message); Feishu refuses a timestamp more than an hour off. The message is an
 * `interactive` card; the answer is `{code, msg}` (older deployments: `{StatusCode, StatusMessage}`),
 * 0 meaning sent.
 *
 * Text from the repository or a build lands only in `plain_text` elements, which Feishu shows as
 * typed (no markdown, no `<at>` mentions); the one `lark_md` element holds berth's own link labels
 * and URLs made safe as link targets.
 */
import { createHmac } from "node:crypto";
import { oneLine } from "../adapters/http-transport.js";
import type { ChatMessage, ChatVendorFormat, DeliveryResult, VendorAnswer, VendorRequest } from "./channel.js";
import { chatLine, FIELD_MAX, linksOf, linkTarget, subjectOf } from "./chat-text.js";
import { jsonObject, statusResult } from "./vendor-answer.js";

/** Bytes of a card berth sends at most (Feishu refuses request bodies over 20 KB). */
export const FEISHU_MAX_BYTES = 18_000;

/** Codes of a throttled bot: 11232 (frequency limited), 9499 when its message says "too many request". */
const RATE_LIMITED: ReadonlySet<number> = new Set([11232]);

/** The `sign` of a request at `timestamp` (seconds). */
export function feishuSign(secret: string, timestamp: number): string {
  return createHmac("sha256", `${timestamp}\n${secret}`).update("").digest("base64");
}

const TEMPLATE: Record<ChatMessage["event"], "red" | "green" | "blue" | "grey"> = {
  failed: "red",
  "preview-ready": "green",
  "environment-deployed": "blue",
  "preview-removed": "grey",
};

const plain = (content: string) => ({ tag: "div", text: { tag: "plain_text", content } });

/** Link labels are berth's own; `[`/`]` never occur in them, and targets are percent-encoded (`safeUrl`). */
function larkLinks(message: ChatMessage): string {
  return linksOf(message)
    .map((l) => `[${l.label}](${linkTarget(l.url)})`)
    .join(" · ");
}

function card(message: ChatMessage, tests: number): unknown {
  const elements: unknown[] = [plain(`${message.repo} ${subjectOf(message, chatLine)}`)];
  const where: string[] = [];
  if (message.pr?.branch) where.push(`branch ${chatLine(message.pr.branch, FIELD_MAX.branch)}`);
  where.push(`commit ${message.sha.slice(0, 7)}`);
  if (message.tests) where.push(`tests: ${message.tests.passed} passed, ${message.tests.failed} failed, ${message.tests.skipped} skipped`);
  elements.push(plain(where.join(" · ")));
  if (message.reason) elements.push(plain(chatLine(message.reason, FIELD_MAX.reason)));
  const links = larkLinks(message);
  if (links) elements.push({ tag: "div", text: { tag: "lark_md", content: links } });
  const shown = message.failingTests.slice(0, tests);
  if (shown.length) {
    const lines = shown.map((t) => `• ${chatLine(t.name, FIELD_MAX.testName)}: ${chatLine(t.message, FIELD_MAX.testMessage)}`);
    const more = message.failingTests.length - shown.length + Math.max(0, (message.tests?.failed ?? 0) - message.failingTests.length);
    if (more > 0) lines.push(`… ${more} more in the report`);
    elements.push({ tag: "hr" }, plain(`Failing tests:\n${lines.join("\n")}`));
  }
  return {
    config: { wide_screen_mode: true },
    header: { template: TEMPLATE[message.event], title: { tag: "plain_text", content: chatLine(message.headline, 100) } },
    elements,
  };
}

export function feishuRequest(message: ChatMessage, options: { secret?: string; now: number }): VendorRequest {
  const timestamp = Math.floor(options.now / 1000);
  const signed = options.secret ? { timestamp: String(timestamp), sign: feishuSign(options.secret, timestamp) } : {};
  for (let tests = message.failingTests.length; ; tests--) {
    const body = { ...signed, msg_type: "interactive", card: card(message, Math.max(tests, 0)) };
    if (tests <= 0 || Buffer.byteLength(JSON.stringify(body)) <= FEISHU_MAX_BYTES) return { body };
  }
}

export function feishuRead(answer: VendorAnswer): DeliveryResult {
  const byStatus = statusResult(answer);
  if (byStatus) return byStatus;
  const body = jsonObject(answer.text);
  const code = typeof body?.code === "number" ? body.code : typeof body?.StatusCode === "number" ? body.StatusCode : undefined;
  if (code === undefined) return { ok: false, transient: false, summary: `HTTP ${answer.status} without a code: ${oneLine(answer.text, 200)}` };
  if (code === 0) return { ok: true };
  const text = typeof body?.msg === "string" ? body.msg : typeof body?.StatusMessage === "string" ? body.StatusMessage : "";
  const summary = `code ${code}: ${oneLine(text, 200)}`;
  if (RATE_LIMITED.has(code) || /too many request|frequency|rate limit/i.test(text)) return { ok: false, transient: true, rateLimited: true, summary };
  return { ok: false, transient: false, summary };
}

export const feishu: ChatVendorFormat = { vendor: "feishu", request: feishuRequest, read: feishuRead };
