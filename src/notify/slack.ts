/**
 * Slack incoming webhook, pure. The URL is the secret (no signing). The message is Block Kit
 * `blocks` with a `text` fallback (notifications and clients without blocks show it). Slack answers
 * `ok` (HTTP 200) or an error word with a 4xx (`invalid_payload`, `no_text`, `channel_is_archived`,
 * `action_prohibited`, ...), 429 with `Retry-After` when throttled.
 *
 * Text from the repository or a build lands in `plain_text` objects (shown as typed) and, escaped
 * (`&`, `<`, `>`), in the fallback; `mrkdwn` holds only berth's own link labels and URLs.
 */
import { oneLine } from "../adapters/http-transport.js";
import { clip } from "../render/markdown.js";
import type { ChatMessage, ChatVendorFormat, DeliveryResult, VendorAnswer, VendorRequest } from "./channel.js";
import { chatLine, FIELD_MAX, linksOf, linkTarget, slackText, subjectOf } from "./chat-text.js";
import { statusResult } from "./vendor-answer.js";

/** Slack's limits: a header's text, a section's text (characters). */
export const SLACK_LIMITS = { header: 150, section: 3000 } as const;

const plain = (text: string) => ({ type: "plain_text", text, emoji: false });

/** A link in mrkdwn: `<url|label>`; the URL is percent-encoded (no `|` or `>`), the label berth's own. */
function slackLink(url: string, label: string): string {
  return `<${linkTarget(url)}|${label}>`;
}

export function slackRequest(message: ChatMessage): VendorRequest {
  const blocks: unknown[] = [
    { type: "header", text: plain(chatLine(`${message.headline} · ${message.repo}`, SLACK_LIMITS.header)) },
    { type: "section", text: plain(chatLine(subjectOf(message, chatLine), SLACK_LIMITS.section)) },
  ];
  const where: string[] = [];
  if (message.pr?.branch) where.push(`branch ${chatLine(message.pr.branch, FIELD_MAX.branch)}`);
  where.push(`commit ${message.sha.slice(0, 7)}`);
  if (message.tests) where.push(`tests: ${message.tests.passed} passed, ${message.tests.failed} failed, ${message.tests.skipped} skipped`);
  blocks.push({ type: "context", elements: [plain(where.join(" · "))] });
  if (message.reason) blocks.push({ type: "section", text: plain(chatLine(message.reason, FIELD_MAX.reason)) });
  const links = linksOf(message);
  if (links.length) blocks.push({ type: "section", text: { type: "mrkdwn", text: links.map((l) => slackLink(l.url, l.label)).join(" · ") } });
  if (message.failingTests.length) {
    const lines = message.failingTests.map((t) => `• ${chatLine(t.name, FIELD_MAX.testName)}: ${chatLine(t.message, FIELD_MAX.testMessage)}`);
    const more = Math.max(0, (message.tests?.failed ?? 0) - message.failingTests.length);
    if (more > 0) lines.push(`… ${more} more in the report`);
    blocks.push({ type: "section", text: plain(clip(`Failing tests:\n${lines.join("\n")}`, SLACK_LIMITS.section)) });
  }
  const subject = message.pr ? `#${message.pr.number}${message.pr.title ? ` ${slackText(message.pr.title, FIELD_MAX.title)}` : ""}` : slackText(subjectOf(message, chatLine), FIELD_MAX.title);
  const text = `${slackText(message.headline, 100)} · ${slackText(message.repo, 200)} ${subject}`;
  return { body: { text, blocks } };
}

export function slackRead(answer: VendorAnswer): DeliveryResult {
  const byStatus = statusResult(answer);
  if (byStatus) return byStatus;
  if (answer.text.trim() === "ok") return { ok: true };
  return { ok: false, transient: false, summary: `HTTP ${answer.status}: ${oneLine(answer.text, 200) || "empty answer"}` };
}

export const slack: ChatVendorFormat = { vendor: "slack", request: slackRequest, read: slackRead };
