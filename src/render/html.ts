/**
 * Server-rendered HTML with escaping by default: `html` is a tagged template whose interpolations
 * are escaped unless they are `Html` made by `html` itself (or `raw` on berth's own constants).
 * Text from pull requests, branches, logs and config errors can only ever land as text.
 */
import { escapeHtml } from "./report-page.js";

/** A piece of HTML that is safe to put into a page as it is. */
export class Html {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

/** What an interpolation may be: text (escaped), a number, HTML, a list of them, or nothing. */
export type HtmlValue = string | number | Html | null | undefined | false | readonly HtmlValue[];

function render(value: HtmlValue): string {
  if (value === null || value === undefined || value === false) return "";
  if (value instanceof Html) return value.value;
  if (Array.isArray(value)) return value.map(render).join("");
  return escapeHtml(String(value));
}

/** Tagged template: `html\`<td>${userText}</td>\`` escapes `userText`. */
export function html(strings: TemplateStringsArray, ...values: HtmlValue[]): Html {
  let out = strings[0] ?? "";
  for (let i = 0; i < values.length; i++) out += render(values[i]!) + (strings[i + 1] ?? "");
  return new Html(out);
}

/** berth's own markup (constants, never outside text). */
export function raw(trusted: string): Html {
  return new Html(trusted);
}

/**
 * A URL fit for `href`: http(s) absolute URLs and site-relative paths pass, anything else
 * (`javascript:`, `data:`, protocol-relative `//host`) becomes undefined, so no link is made.
 */
export function safeHref(url: string | undefined): string | undefined {
  if (!url) return undefined;
  if (url.startsWith("/") && !url.startsWith("//") && !url.startsWith("/\\")) return url;
  try {
    const parsed = new URL(url);
    return parsed.protocol === "https:" || parsed.protocol === "http:" ? parsed.toString() : undefined;
  } catch {
    return undefined;
  }
}

/** `<a href>` when the URL is safe, else the text alone. */
export function link(url: string | undefined, text: HtmlValue, attributes: Html = raw("")): Html {
  const href = safeHref(url);
  return href ? html`<a href="${href}"${attributes}>${text}</a>` : html`${text}`;
}
