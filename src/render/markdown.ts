/**
 * Escaping for text that comes from repositories, builds, logs and test reports (step text, test
 * names, failure messages, branch and tag names, error reasons) before it goes into a comment.
 *
 * One function per place the text lands:
 * - {@link inlineCode}: a code span in a sentence, list item or table cell;
 * - {@link codeBlock}: a fenced block (log tails);
 * - {@link plainText}: a sentence or table cell, rendered as text;
 * - {@link htmlText}: inside raw HTML (`<summary>`), where markdown is not parsed;
 * - {@link quotedMarkdown}: berth's own markdown that quotes repository text (config errors).
 *
 * Mentions and references are neutralised by a zero-width space (U+200B) after `@` and after the
 * `#` of `#123` (and the `-` of `GH-123`): the text reads the same, but GitHub notifies nobody and
 * links no issue. Inside code (spans and fences) GitHub links neither, so code is left alone.
 */

/** Zero-width space: breaks `@user` and `#123` for GitHub's mention and reference filters. */
export const ZWSP = "\u200b";

/** Longest line of a log tail kept in a comment (the stored log keeps everything). */
export const MAX_LOG_LINE = 500;

/** Cut to `max` UTF-16 code units (never inside a surrogate pair), marking the cut with `…`. */
export function clip(text: string, max: number): string {
  if (text.length <= max) return text;
  let end = Math.max(0, max - 1);
  const code = text.charCodeAt(end - 1);
  if (code >= 0xd800 && code <= 0xdbff) end--;
  return `${text.slice(0, end)}…`;
}

/** `@user`, `#123`, `GH-123` made inert. */
function neutralise(text: string): string {
  return text
    .replace(/@/g, `@${ZWSP}`)
    .replace(/#(?=\d)/g, `#${ZWSP}`)
    .replace(/\b(gh)-(?=\d)/gi, `$1${ZWSP}-`);
}

/** Control characters other than tab would garble the comment (and NUL is refused by some APIs). */
function stripControl(text: string): string {
  return text.replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/g, "");
}

/** Cheap first cut so the escaping below never walks a huge text (control characters may shorten it a little). */
function head(text: string, max: number): string {
  return text.length > 2 * max + 16 ? text.slice(0, 2 * max + 16) : text;
}

function oneLine(text: string): string {
  return stripControl(text).replace(/\r\n|\r|\n/g, " ");
}

/**
 * Inline code that survives backticks inside the text: the fence is longer than any backtick run.
 * `table` escapes `|`, which GitHub splits table cells on even inside code spans.
 */
export function inlineCode(text: string, options: { max?: number; table?: boolean } = {}): string {
  let clean = clip(oneLine(head(text, options.max ?? 300)), options.max ?? 300);
  if (options.table) clean = clean.replace(/\|/g, "\\|");
  const longest = Math.max(0, ...(clean.match(/`+/g) ?? []).map((run) => run.length));
  const fence = "`".repeat(longest + 1);
  const pad = clean.startsWith("`") || clean.endsWith("`") || clean === "" ? " " : "";
  return `${fence}${pad}${clean}${pad}${fence}`;
}

/** A fenced block whose fence is longer than any backtick run in the text, so nothing inside can close it. */
export function codeBlock(text: string, lang = "text"): string {
  const clean = stripControl(text).replace(/\r\n?/g, "\n");
  const longest = Math.max(2, ...(clean.match(/`+/g) ?? []).map((run) => run.length));
  const fence = "`".repeat(longest + 1);
  return `${fence}${lang}\n${clean}\n${fence}`;
}

/**
 * Plain text safe inside a table cell or a sentence: no HTML (`<`, `>`, `&` become entities), no
 * markdown (emphasis, links, images, code are backslash-escaped), no table breaks, no mentions.
 */
export function plainText(text: string, max = 300): string {
  const clean = clip(oneLine(head(text, max)), max)
    .replace(/[\\`*_[\]~!|]/g, (c) => `\\${c}`)
    .replace(/[<>&]/g, (c) => HTML_ENTITY[c]!);
  return neutralise(clean);
}

const HTML_ENTITY: Record<string, string> = { "<": "&lt;", ">": "&gt;", "&": "&amp;" };

/** Text inside raw HTML such as `<summary>`: it can neither close the element nor open a tag. */
export function htmlText(text: string, max = 300): string {
  // Element content, never an attribute: `"` may stay.
  return neutralise(clip(oneLine(head(text, max)), max).replace(/[<>&]/g, (c) => HTML_ENTITY[c]!));
}

/**
 * berth's own markdown that quotes repository text (a config error quoting berth.yml, a failure
 * reason quoting a tool): code spans are kept as they are; outside them HTML, links, images,
 * mentions and references are neutralised. `table` makes it one line and escapes `|` (a table cell).
 */
export function quotedMarkdown(text: string, options: { max?: number; table?: boolean } = {}): string {
  const max = options.max ?? 2000;
  let clean = clip(options.table ? oneLine(head(text, max)) : stripControl(head(text, max)), max);
  if (options.table) clean = clean.replace(/\|/g, "\\|");
  let out = "";
  let i = 0;
  while (i < clean.length) {
    const open = /`+/g;
    open.lastIndex = i;
    const start = open.exec(clean);
    if (!start) break;
    const after = start.index + start[0].length;
    // A code span closes at the next backtick run of the same length; without one the backticks are literal.
    const close = new RegExp(`(?<!\`)${start[0]}(?!\`)`, "g");
    close.lastIndex = after;
    const end = close.exec(clean);
    if (!end) {
      out += outsideCode(clean.slice(i, after));
      i = after;
      continue;
    }
    out += outsideCode(clean.slice(i, start.index)) + clean.slice(start.index, end.index + end[0].length);
    i = end.index + end[0].length;
  }
  return out + outsideCode(clean.slice(i));
}

function outsideCode(text: string): string {
  return neutralise(text.replace(/[<>&]/g, (c) => HTML_ENTITY[c]!).replace(/[[\]!]/g, (c) => `\\${c}`));
}

/** A URL made by berth or its settings, safe as a bare autolink or a link target. */
export function safeUrl(url: string): string {
  return oneLine(head(url, 1000)).replace(/[\s<>()`|"[\]]/g, (c) => (c.charCodeAt(0) < 128 ? `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, "0")}` : encodeURIComponent(c)));
}
