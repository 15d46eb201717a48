/**
 * Small markdown helpers for text that comes from users, logs and test reports.
 */

/** Inline code that survives backticks inside the text. */
export function inlineCode(text: string): string {
  const clean = text.replace(/\r?\n/g, " ");
  const longest = Math.max(0, ...(clean.match(/`+/g) ?? []).map((run) => run.length));
  const fence = "`".repeat(longest + 1);
  const pad = clean.startsWith("`") || clean.endsWith("`") ? " " : "";
  return `${fence}${pad}${clean}${pad}${fence}`;
}

/** A fenced block whose fence is longer than any backtick run in the text. */
export function codeBlock(text: string, lang = "text"): string {
  const longest = Math.max(2, ...(text.match(/`+/g) ?? []).map((run) => run.length));
  const fence = "`".repeat(longest + 1);
  return `${fence}${lang}\n${text}\n${fence}`;
}

/** Plain text safe inside a table cell or a sentence: no HTML, no table breaks, no mentions. */
export function plainText(text: string, max = 300): string {
  const clean = text
    .replace(/\r?\n/g, " ")
    .replace(/[<>]/g, (c) => (c === "<" ? "&lt;" : "&gt;"))
    .replace(/\|/g, "\\|")
    .replace(/@/g, "@\u200b");
  return clean.length > max ? `${clean.slice(0, max)}…` : clean;
}
