/**
 * Text for chat messages, pure: repository- and build-derived strings (PR title, branch, test
 * names, failure messages) made one bounded line and escaped for the markup they land in, and the
 * markdown body that DingTalk and WeCom share.
 */
import { clip, safeUrl } from "../render/markdown.js";
import type { ChatMessage } from "./channel.js";

/** Zero-width space: breaks `@name` so no chat turns it into a mention. */
const ZWSP = "\u200b";

/** Longest PR title, branch, test name or failure message a message quotes. */
export const FIELD_MAX = { title: 200, branch: 100, testName: 160, testMessage: 200, reason: 300, url: 500 } as const;

/** One line: control characters dropped, line breaks made spaces, cut at `max` characters. */
export function chatLine(text: string, max: number): string {
  const head = text.length > 4 * max ? text.slice(0, 4 * max) : text;
  return clip(head.replace(/\r\n|\r|\n|\t/g, " ").replace(/[\u0000-\u001f\u007f]/g, ""), max);
}

/**
 * Text inside markdown (DingTalk, WeCom): one bounded line whose markdown specials are
 * backslash-escaped (no emphasis, links, images, code, headings or quotes), whose `<` `>` cannot
 * open a tag (WeCom's `<font>`, `<@userid>` mentions) and whose `@` mentions nobody.
 */
export function markdownText(text: string, max: number): string {
  return chatLine(text, max)
    .replace(/[\\`*_[\]()#~|!<>{}]/g, (c) => `\\${c}`)
    .replace(/@/g, `@${ZWSP}`);
}

/** Text inside Slack markup (`text` fallback, mrkdwn): `&`, `<`, `>` as Slack's entities, so no link, mention or `<!channel>` forms. */
export function slackText(text: string, max: number): string {
  return chatLine(text, max).replace(/[&<>]/g, (c) => (c === "&" ? "&amp;" : c === "<" ? "&lt;" : "&gt;"));
}

/** A URL berth made (preview, report, PR link) as a markdown link target. */
export function linkTarget(url: string): string {
  return safeUrl(clip(url, FIELD_MAX.url));
}

/** `text` cut so its UTF-8 form is at most `maxBytes` (never inside a character), marked with `…`. */
export function clipBytes(text: string, maxBytes: number): string {
  if (Buffer.byteLength(text) <= maxBytes) return text;
  let end = Math.min(text.length, maxBytes);
  while (end > 0 && Buffer.byteLength(text.slice(0, end)) > maxBytes - 3) end--;
  const code = text.charCodeAt(end - 1);
  if (code >= 0xd800 && code <= 0xdbff) end--;
  return `${text.slice(0, end)}…`;
}

/** `PR #12 Title` / `tag v1.2.0`: what the message is about, escaped by `escape`. */
export function subjectOf(message: ChatMessage, escape: (text: string, max: number) => string): string {
  if (message.pr) return `#${message.pr.number}${message.pr.title ? ` ${escape(message.pr.title, FIELD_MAX.title)}` : ""}`;
  if (message.environment) return `${escape(message.environment.name, 40)} ← ${escape(message.environment.tag, FIELD_MAX.branch)}`;
  return escape(message.sha.slice(0, 7), 7);
}

/** The links a message carries, labelled by berth: PR, preview, environment, report, log. */
export function linksOf(message: ChatMessage): Array<{ label: string; url: string }> {
  const links: Array<{ label: string; url: string }> = [];
  if (message.pr) links.push({ label: `PR #${message.pr.number}`, url: message.pr.url });
  if (message.previewUrl) links.push({ label: "Preview", url: message.previewUrl });
  if (message.environment?.url) links.push({ label: `Environment ${message.environment.name}`, url: message.environment.url });
  if (message.reportUrl) links.push({ label: "Test report", url: message.reportUrl });
  if (message.logUrl) links.push({ label: "Log", url: message.logUrl });
  return links;
}

/**
 * The markdown body of DingTalk and WeCom messages with at most `tests` failing tests: a heading
 * line, what it is about, the outcome, links, the failing tests. `heading` marks up the first line
 * (DingTalk `### …`, WeCom coloured text).
 */
export function markdownBody(message: ChatMessage, tests: number, heading: (text: string) => string): string {
  const lines = [heading(`${markdownText(message.headline, 100)} · ${markdownText(message.repo, 200)}`)];
  lines.push("", `**${subjectOf(message, markdownText)}**`);
  const where: string[] = [];
  if (message.pr?.branch) where.push(`branch ${markdownText(message.pr.branch, FIELD_MAX.branch)}`);
  where.push(`commit ${markdownText(message.sha.slice(0, 7), 7)}`);
  lines.push("", where.join(" · "));
  if (message.reason) lines.push("", `> ${markdownText(message.reason, FIELD_MAX.reason)}`);
  if (message.tests) lines.push("", `Tests: ${message.tests.passed} passed, ${message.tests.failed} failed, ${message.tests.skipped} skipped`);
  const links = linksOf(message);
  if (links.length) lines.push("", links.map((l) => `[${l.label}](${linkTarget(l.url)})`).join(" · "));
  const shown = message.failingTests.slice(0, tests);
  if (shown.length) {
    lines.push("", "Failing tests:");
    for (const t of shown) lines.push(`- ${markdownText(t.name, FIELD_MAX.testName)}: ${markdownText(t.message, FIELD_MAX.testMessage)}`);
    const more = message.failingTests.length - shown.length + Math.max(0, (message.tests?.failed ?? 0) - message.failingTests.length);
    if (more > 0) lines.push(`- … ${more} more in the report`);
  }
  return lines.join("\n");
}

/** The largest rendering of `render(tests)` within `maxBytes`, dropping failing tests first, cut as a last resort. */
export function withinBytes(maxBytes: number, count: number, render: (tests: number) => string): string {
  for (let tests = count; tests >= 0; tests--) {
    const text = render(tests);
    if (Buffer.byteLength(text) <= maxBytes) return text;
  }
  return clipBytes(render(0), maxBytes);
}
