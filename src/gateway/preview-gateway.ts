/**
 * berth's preview gateway: one port where every Docker and Swarm preview is served under its own
 * stable host name (`<repo-slug>-pr-<n>.<domain>`). Requests and WebSocket upgrades are proxied
 * by `http-proxy-3` (streaming both ways, `X-Forwarded-*` added) to the preview's upstream; berth's
 * own cookies never reach the preview. A preview that refuses or does not answer in time gets a
 * page naming it and the problem (502 / 504); an unknown address gets 404.
 */
import { Agent, createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import { createProxyServer, type ProxyServer } from "http-proxy-3";
import type { Logger } from "pino";
import { renderGatewayPage, type GatewayPage } from "../render/gateway-page.js";
import { labelOfHost } from "./preview-host-names.js";
import type { PreviewAccess } from "./preview-access.js";
import type { GatewayRoute, RouteLookup } from "./route-table.js";

/** Cookies whose name starts with this are berth's (sessions of private previews): never forwarded. */
export const BERTH_COOKIE_PREFIX = "berth_";

/** What one proxied request came to (metrics, traffic). */
export interface GatewayRequestOutcome {
  route?: GatewayRoute;
  status: number;
  durationMs: number;
  /** A WebSocket upgrade rather than a plain request. */
  upgrade: boolean;
}

export interface PreviewGatewayOptions {
  routes: RouteLookup;
  /** The preview domain (`BERTH_PREVIEW_DOMAIN`). */
  domain: string;
  log: Logger;
  /** No response from the preview within this long: 504. Default 60 s. */
  responseTimeoutMs?: number;
  /** No connection to the preview within this long: 502. Default 10 s. */
  connectTimeoutMs?: number;
  /** Who may open private previews; without it a private preview is refused to everyone. */
  access?: PreviewAccess;
  /** Wake a sleeping preview (the request that found it asleep gets a "waking up" page meanwhile). */
  wake?: (route: GatewayRoute) => Promise<unknown>;
  /** Told of every request (after its response started or failed). */
  onRequest?: (outcome: GatewayRequestOutcome) => void;
}

/** `Cookie` without berth's own cookies; undefined when nothing is left. */
/** A request's cookies by name (the first of each name). */
export function requestCookies(header: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (header ?? "").split(";")) {
    const eq = part.indexOf("=");
    if (eq <= 0) continue;
    const name = part.slice(0, eq).trim();
    if (!(name in out)) out[name] = part.slice(eq + 1).trim();
  }
  return out;
}

export function withoutBerthCookies(header: string | undefined): string | undefined {
  if (!header) return undefined;
  const kept = header
    .split(";")
    .map((c) => c.trim())
    .filter((c) => c !== "" && !c.toLowerCase().startsWith(BERTH_COOKIE_PREFIX));
  return kept.length ? kept.join("; ") : undefined;
}

function errorCode(err: unknown): string {
  return (err as NodeJS.ErrnoException | undefined)?.code ?? "";
}

export class PreviewGateway {
  private readonly proxy: ProxyServer;
  /** Connections to previews are kept open and reused (a new TCP connection per request doubles the latency). */
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 256, maxFreeSockets: 16, timeout: 60_000 });
  private server?: Server;
  private readonly sockets = new Set<Socket | Duplex>();
  /** Requests whose preview did not answer within the response timeout (the proxy then hangs up). */
  private readonly timedOut = new WeakSet<IncomingMessage>();

  constructor(private readonly options: PreviewGatewayOptions) {
    this.proxy = createProxyServer({
      agent: this.agent,
      xfwd: true,
      ws: true,
      proxyTimeout: options.responseTimeoutMs ?? 60_000,
      connectTimeout: options.connectTimeoutMs ?? 10_000,
    });
    this.proxy.on("proxyReq", (proxyReq, req) => {
      proxyReq.once("timeout", () => this.timedOut.add(req));
      const cookie = withoutBerthCookies(proxyReq.getHeader("cookie") as string | undefined);
      if (cookie === undefined) proxyReq.removeHeader("cookie");
      else proxyReq.setHeader("cookie", cookie);
    });
    this.proxy.on("proxyReqWs", (proxyReq) => {
      const cookie = withoutBerthCookies(proxyReq.getHeader("cookie") as string | undefined);
      if (cookie === undefined) proxyReq.removeHeader("cookie");
      else proxyReq.setHeader("cookie", cookie);
    });
    // Errors are answered per request (the callbacks below); this only keeps stray ones from crashing.
    this.proxy.on("error", (err) => this.options.log.debug({ err: err.message }, "gateway proxy error"));
  }

  /** Serve on `port` (0 = any) and `host`; resolves with the port bound. */
  async listen(port: number, host = "0.0.0.0"): Promise<number> {
    const server = createServer((req, res) => void this.handle(req, res));
    server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => void this.upgrade(req, socket, head));
    server.on("connection", (socket) => {
      this.sockets.add(socket);
      socket.once("close", () => this.sockets.delete(socket));
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, host, () => resolve());
    });
    const address = server.address();
    return typeof address === "object" && address ? address.port : port;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    this.agent.destroy();
    await closed;
  }

  /** One HTTP request (exported for mounting elsewhere and for tests). */
  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = Date.now();
    const route = await this.route(req);
    if (!route.ok) {
      this.page(res, route.page);
      this.told({ status: route.page.status, durationMs: Date.now() - started, upgrade: false });
      return;
    }
    const target = route.route;
    if (target.private && !this.admitted(req, res, target)) {
      this.told({ route: target, status: res.statusCode, durationMs: Date.now() - started, upgrade: false });
      return;
    }
    if (target.sleeping) {
      this.wakeUp(target);
      res.setHeader("retry-after", "2");
      this.page(res, { status: 503, title: "Waking the preview up", message: "It went to sleep after a while without visits and is starting again. This page reloads by itself until it answers (usually a few seconds).", preview: target.title, refreshSeconds: 2 });
      this.told({ route: target, status: 503, durationMs: Date.now() - started, upgrade: false });
      return;
    }
    res.once("finish", () => this.told({ route: target, status: res.statusCode, durationMs: Date.now() - started, upgrade: false }));
    this.proxy.web(req, res, { target: target.upstream }, (err) => {
      const code = errorCode(err);
      const timedOut = this.timedOut.has(req);
      this.options.log.info({ preview: target.title, upstream: target.upstream, code, err: err.message }, "gateway: preview did not answer");
      if (res.headersSent) {
        res.destroy();
        return;
      }
      this.page(res, timedOut
        ? { status: 504, title: "The preview is not answering", message: `It did not answer within ${Math.round((this.options.responseTimeoutMs ?? 60_000) / 1000)} s. It may be busy or stuck; look at the PR's status comment and the deploy log.`, preview: target.title }
        : { status: 502, title: "The preview cannot be reached", message: `berth could not get an answer from it (${code || err.message}). It may be starting, stopped or crashed; look at the PR's status comment and the deploy log.`, preview: target.title });
    });
  }

  /** A WebSocket upgrade: proxied like a request; failures close the socket with an HTTP answer. */
  async upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const started = Date.now();
    socket.on("error", () => socket.destroy());
    const route = await this.route(req);
    if (!route.ok) {
      socket.end(`HTTP/1.1 ${route.page.status} ${route.page.title}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
      this.told({ status: route.page.status, durationMs: Date.now() - started, upgrade: true });
      return;
    }
    const target = route.route;
    if (target.private && this.options.access?.decide(this.accessRequest(req), labelOfHost(req.headers.host, this.options.domain)!).kind !== "allow") {
      socket.end("HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
      this.told({ route: target, status: 401, durationMs: Date.now() - started, upgrade: true });
      return;
    }
    if (target.sleeping) {
      this.wakeUp(target);
      socket.end("HTTP/1.1 503 Service Unavailable\r\nRetry-After: 2\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
      this.told({ route: target, status: 503, durationMs: Date.now() - started, upgrade: true });
      return;
    }
    this.proxy.ws(req, socket as Socket, head, { target: target.upstream }, (err) => {
      this.options.log.info({ preview: target.title, code: errorCode(err), err: err.message }, "gateway: websocket to the preview failed");
      if (socket.writable) socket.end("HTTP/1.1 502 Bad Gateway\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
      this.told({ route: target, status: 502, durationMs: Date.now() - started, upgrade: true });
    });
    this.told({ route: target, status: 101, durationMs: Date.now() - started, upgrade: true });
  }

  private async route(req: IncomingMessage): Promise<{ ok: true; route: GatewayRoute } | { ok: false; page: GatewayPage }> {
    const host = req.headers.host;
    const label = labelOfHost(host, this.options.domain);
    if (!label) {
      return { ok: false, page: { status: 404, title: "No preview at this address", message: `Preview addresses look like <repo>-pr-<number>.${this.options.domain}; this one does not.` } };
    }
    let route: GatewayRoute | undefined;
    try {
      route = await this.options.routes.resolve(label);
    } catch (err) {
      this.options.log.warn({ label, err: err instanceof Error ? err.message : String(err) }, "gateway: routes unreadable");
      return { ok: false, page: { status: 503, title: "berth cannot look up previews right now", message: "Its database did not answer. Try again in a moment." } };
    }
    if (!route) {
      return { ok: false, page: { status: 404, title: "No preview at this address", message: "No preview runs here: the PR may be closed, its preview deleted, or not deployed yet. Its status comment says which." } };
    }
    return { ok: true, route };
  }

  private accessRequest(req: IncomingMessage): { host: string; pathAndQuery: string; cookies: Record<string, string> } {
    return { host: req.headers.host ?? "", pathAndQuery: req.url ?? "/", cookies: requestCookies(req.headers.cookie) };
  }

  /** A private preview: let the request through, or answer it (a redirect to sign in, a cookie set, a refusal). */
  private admitted(req: IncomingMessage, res: ServerResponse, route: GatewayRoute): boolean {
    const access = this.options.access;
    if (!access) {
      this.page(res, { status: 403, title: "This preview is private", message: "This berth server has no way to let visitors in (no key for signed links is configured).", preview: route.title });
      return false;
    }
    const decision = access.decide(this.accessRequest(req), labelOfHost(req.headers.host, this.options.domain)!);
    if (decision.kind === "allow") return true;
    if (decision.kind === "redirect") {
      res.writeHead(302, { location: decision.location, "cache-control": "no-store", ...(decision.setCookie ? { "set-cookie": decision.setCookie } : {}) });
      res.end();
      return false;
    }
    this.page(res, { status: 401, title: "This preview is private", message: decision.reason, preview: route.title });
    return false;
  }

  /** Start waking the preview (the lifecycle shares one wake per PR among callers). */
  private wakeUp(route: GatewayRoute): void {
    if (!this.options.wake) return;
    this.options.wake(route).catch((err: unknown) => this.options.log.warn({ preview: route.title, err: err instanceof Error ? err.message : String(err) }, "gateway: waking the preview failed"));
  }

  private page(res: ServerResponse, page: GatewayPage): void {
    const body = renderGatewayPage(page);
    res.writeHead(page.status, { "content-type": "text/html; charset=utf-8", "content-length": Buffer.byteLength(body), "cache-control": "no-store" });
    res.end(body);
  }

  private told(outcome: GatewayRequestOutcome): void {
    try {
      this.options.onRequest?.(outcome);
    } catch (err) {
      this.options.log.warn({ err: err instanceof Error ? err.message : String(err) }, "gateway request listener failed");
    }
  }
}
