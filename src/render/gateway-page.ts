/**
 * The small pages berth's gateway answers with itself: no preview at this address, the preview is
 * not answering (502) or too slow (504). They say which preview and what is wrong. Pure.
 */
import { escapeHtml } from "./report-page.js";

export interface GatewayPage {
  status: number;
  title: string;
  /** One or two sentences: what happened, what to do. */
  message: string;
  /** The preview (`owner/name#12`), when the address names one. */
  preview?: string;
  /** Reload the page after this many seconds (a preview waking up). */
  refreshSeconds?: number;
}

export function renderGatewayPage(page: GatewayPage): string {
  const about = page.preview ? `<p class="what">Preview of <b>${escapeHtml(page.preview)}</b></p>` : "";
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
${page.refreshSeconds ? `<meta http-equiv="refresh" content="${Math.max(1, Math.round(page.refreshSeconds))}">` : ""}
<title>${page.status} · ${escapeHtml(page.title)} · berth</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem;color:#1f2328}h1{font-size:1.4rem}.what{color:#59636e}code{background:#f6f8fa;padding:0 .2em}</style>
</head><body><h1>${escapeHtml(page.title)}</h1>${about}<p>${escapeHtml(page.message)}</p><p class="what">berth preview gateway · ${page.status}</p></body></html>
`;
}
