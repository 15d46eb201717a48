/**
 * `GET /auth/preview?host=<preview host>&return=<path>`: where berth's gateway sends a visitor of a
 * private preview who has no session for it. The visitor signs in with the dashboard's sign-in
 * (GitHub or Gitee OAuth, or the admin token); berth checks they can read the preview's repository
 * (through the host's API with their own token, cached briefly) and sends them back to the preview
 * with a one-minute grant, which the gateway trades for the preview's own session cookie.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "pino";
import { GRANT_PATH, type PreviewAccess } from "../gateway/preview-access.js";
import { labelOfHost } from "../gateway/preview-host-names.js";
import type { RouteLookup } from "../gateway/route-table.js";
import { renderGatewayPage } from "../render/gateway-page.js";
import type { Auth } from "./auth/auth.js";

export interface PreviewSignInOptions {
  auth: Auth;
  access: PreviewAccess;
  routes: RouteLookup;
  /** The preview domain and how previews are reached (their URLs). */
  domain: string;
  scheme: "http" | "https";
  log: Pick<Logger, "info" | "warn">;
}

function page(res: ServerResponse, status: number, title: string, message: string, preview?: string): true {
  const body = renderGatewayPage({ status, title, message, ...(preview ? { preview } : {}) });
  res.writeHead(status, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" });
  res.end(body);
  return true;
}

export function createPreviewSignIn(options: PreviewSignInOptions): (req: IncomingMessage, res: ServerResponse) => Promise<boolean> {
  return async (req, res) => {
    const url = new URL(req.url ?? "/", "http://berth.invalid");
    if (url.pathname !== "/auth/preview" || req.method !== "GET") return false;
    const host = url.searchParams.get("host") ?? "";
    const back = url.searchParams.get("return") ?? "/";
    const label = labelOfHost(host, options.domain);
    const route = label ? await options.routes.resolve(label).catch(() => undefined) : undefined;
    if (!label || !route) return page(res, 404, "No preview at this address", "No preview runs there (the PR may be closed or its preview removed).");
    if (!route.private) {
      res.writeHead(302, { location: `${options.scheme}://${host}${back.startsWith("/") ? back : "/"}`, "cache-control": "no-store" });
      res.end();
      return true;
    }
    const session = options.auth.session(req);
    if (!session) {
      if (!options.auth.enabled) return page(res, 401, "This preview is private", "This berth server has no sign-in configured: open the preview with the signed link in the PR's status comment.", route.title);
      res.writeHead(302, { location: options.auth.signInUrl(`${url.pathname}${url.search}`), "cache-control": "no-store" });
      res.end();
      return true;
    }
    const repo = { host: route.key.host, owner: route.key.owner, name: route.key.name };
    const allowed = session.user.kind === "admin" || (await options.auth.canRead(session, repo).catch(() => false));
    const who = session.user.kind === "admin" ? "admin" : `${session.user.host}:${session.user.login}`;
    if (!allowed) {
      options.log.info({ preview: route.title, user: who }, "private preview refused: the user cannot read the repository");
      return page(res, 403, "You cannot open this preview", `It belongs to a repository your account (${who}) cannot read.`, route.title);
    }
    const grant = options.access.grant(label, who);
    const location = `${options.scheme}://${host}${GRANT_PATH}?grant=${encodeURIComponent(grant)}&return=${encodeURIComponent(back)}`;
    options.log.info({ preview: route.title, user: who }, "private preview opened after sign-in");
    res.writeHead(302, { location, "cache-control": "no-store" });
    res.end();
    return true;
  };
}
