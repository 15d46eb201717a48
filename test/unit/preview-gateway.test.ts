/**
 * The preview gateway over real loopback sockets: routing by host name, streaming both ways,
 * WebSocket upgrades, X-Forwarded headers, berth's cookies kept back, and the pages it answers
 * itself (404 unknown address, 502 refused, 504 too slow).
 */
import { createServer, request, type IncomingHttpHeaders, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { PreviewGateway, withoutBerthCookies, type GatewayRequestOutcome } from "../../src/gateway/preview-gateway.js";
import { gatewayLabelOf, gatewayUrlOf, labelOfHost } from "../../src/gateway/preview-host-names.js";
import type { GatewayRoute, RouteLookup } from "../../src/gateway/route-table.js";
import type { PreviewKey } from "../../src/domain/ports.js";
import { PreviewAccess } from "../../src/gateway/preview-access.js";

const KEY: PreviewKey = { host: "github", owner: "Acme", name: "Shop", pr: 12 };
const LABEL = gatewayLabelOf(KEY, "default");

let upstream: Server;
let upstreamPort: number;
let seenHeaders: IncomingHttpHeaders[];
let gateway: PreviewGateway;
let gatewayPort: number;
let outcomes: GatewayRequestOutcome[];
let routes: Map<string, GatewayRoute>;
let wakes: GatewayRoute[];

function route(upstreamUrl: string): GatewayRoute {
  return { key: KEY, prKey: "github:Acme/Shop#12", title: "Acme/Shop#12", upstream: upstreamUrl, target: "docker", sha: "a".repeat(40) };
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port)));
}

beforeEach(async () => {
  seenHeaders = [];
  upstream = createServer((req, res) => {
    seenHeaders.push(req.headers);
    if (req.url === "/slow") return void setTimeout(() => res.end("late"), 2_000);
    if (req.url === "/echo") {
      res.writeHead(200, { "content-type": "application/octet-stream" });
      req.pipe(res);
      return;
    }
    if (req.url === "/stream") {
      res.writeHead(200, { "content-type": "text/plain" });
      res.write("first\n");
      setTimeout(() => res.end("second\n"), 300);
      return;
    }
    res.end(`hello from ${req.headers.host}`);
  });
  // A minimal WebSocket-style upgrade: answers 101 and echoes bytes back.
  upstream.on("upgrade", (req: IncomingMessage, socket: Socket) => {
    seenHeaders.push(req.headers);
    socket.write("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
    socket.pipe(socket);
  });
  upstreamPort = await listen(upstream);
  routes = new Map([[LABEL, route(`http://127.0.0.1:${upstreamPort}`)]]);
  const lookup: RouteLookup = { resolve: async (label) => routes.get(label) };
  outcomes = [];
  wakes = [];
  gateway = new PreviewGateway({
    routes: lookup,
    domain: "localhost",
    log: pino({ level: "silent" }),
    responseTimeoutMs: 500,
    connectTimeoutMs: 500,
    onRequest: (o) => outcomes.push(o),
    wake: async (r) => void wakes.push(r),
    access: new PreviewAccess({ secret: "s".repeat(32), scheme: "http", signInBaseUrl: "http://berth.localhost:3000" }),
  });
  gatewayPort = await gateway.listen(0, "127.0.0.1");
});

afterEach(async () => {
  await gateway.close();
  await new Promise((resolve) => upstream.close(resolve));
});

function get(host: string, path = "/", headers: Record<string, string> = {}, body?: string): Promise<{ status: number; text: string; headers: IncomingHttpHeaders; chunksAt: number[] }> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const req = request({ host: "127.0.0.1", port: gatewayPort, path, method: body === undefined ? "GET" : "POST", headers: { host, ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      const chunksAt: number[] = [];
      res.on("data", (c: Buffer) => {
        chunks.push(c);
        chunksAt.push(Date.now() - started);
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString(), headers: res.headers, chunksAt }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

describe("preview host names", () => {
  it("are one DNS label under the domain, the same for every push", () => {
    expect(LABEL).toMatch(/^acme-shop-[0-9a-f]{8}-pr-12$/);
    expect(gatewayUrlOf(KEY, { domain: "localhost", scheme: "http", port: 3001, instance: "default" })).toBe(`http://${LABEL}.localhost:3001/`);
    expect(gatewayUrlOf(KEY, { domain: "preview.example.com", scheme: "https", port: 443, instance: "default" })).toBe(`https://${LABEL}.preview.example.com/`);
    expect(gatewayLabelOf({ ...KEY, pr: 0, environment: "staging" }, "default")).toMatch(/^acme-shop-[0-9a-f]{8}-env-staging$/);
  });

  it("reads the label from a Host header, refusing anything that is not exactly one label under the domain", () => {
    expect(labelOfHost(`${LABEL}.localhost:3001`, "localhost")).toBe(LABEL);
    expect(labelOfHost(`${LABEL.toUpperCase()}.Preview.Example.com.`, "preview.example.com")).toBe(LABEL);
    expect(labelOfHost("localhost:3001", "localhost")).toBeUndefined();
    expect(labelOfHost(`a.${LABEL}.localhost`, "localhost")).toBeUndefined();
    expect(labelOfHost(`${LABEL}.localhost.evil.com`, "localhost")).toBeUndefined();
    expect(labelOfHost(`${LABEL}.notlocalhost`, "localhost")).toBeUndefined();
    expect(labelOfHost(undefined, "localhost")).toBeUndefined();
  });

  it("keeps berth's cookies back and everything else", () => {
    expect(withoutBerthCookies("berth_session=abc; theme=dark; BERTH_link=x")).toBe("theme=dark");
    expect(withoutBerthCookies("berth_session=abc")).toBeUndefined();
    expect(withoutBerthCookies(undefined)).toBeUndefined();
  });
});

describe("preview gateway", () => {
  it("routes by host name and adds X-Forwarded headers, keeping the Host and dropping berth's cookies", async () => {
    const res = await get(`${LABEL}.localhost:${gatewayPort}`, "/page?q=1", { cookie: "berth_preview=secret; app=1" });
    expect(res.status).toBe(200);
    expect(res.text).toBe(`hello from ${LABEL}.localhost:${gatewayPort}`);
    const headers = seenHeaders[0]!;
    expect(headers["x-forwarded-for"]).toBe("127.0.0.1");
    expect(headers["x-forwarded-host"]).toBe(`${LABEL}.localhost:${gatewayPort}`);
    expect(headers["x-forwarded-proto"]).toBe("http");
    expect(headers.cookie).toBe("app=1");
    expect(outcomes).toMatchObject([{ status: 200, upgrade: false, route: { prKey: "github:Acme/Shop#12" } }]);
  });

  it("streams bodies both ways: request bodies reach the preview, response chunks arrive as they are sent", async () => {
    const big = "x".repeat(2 * 1024 * 1024);
    const echoed = await get(`${LABEL}.localhost`, "/echo", {}, big);
    expect(echoed.text.length).toBe(big.length);
    const streamed = await get(`${LABEL}.localhost`, "/stream");
    expect(streamed.text).toBe("first\nsecond\n");
    // The first chunk came before the upstream finished (300 ms later).
    expect(streamed.chunksAt.length).toBeGreaterThanOrEqual(2);
    expect(streamed.chunksAt[streamed.chunksAt.length - 1]! - streamed.chunksAt[0]!).toBeGreaterThan(150);
  });

  it("proxies WebSocket upgrades without berth's cookies", async () => {
    const echoed = await new Promise<string>((resolve, reject) => {
      const req = request({ host: "127.0.0.1", port: gatewayPort, path: "/ws", headers: { host: `${LABEL}.localhost`, connection: "Upgrade", upgrade: "websocket", cookie: "berth_preview=secret" } });
      req.on("upgrade", (_res, socket) => {
        socket.once("data", (data: Buffer) => {
          resolve(data.toString());
          socket.destroy();
        });
        socket.write("ping over the socket");
      });
      req.on("error", reject);
      req.end();
    });
    expect(echoed).toBe("ping over the socket");
    expect(seenHeaders[0]?.upgrade).toBe("websocket");
    expect(seenHeaders[0]?.cookie).toBeUndefined();
  });

  it("answers an unknown address with 404 naming no preview, without calling any upstream", async () => {
    const res = await get(`nothing-pr-1.localhost`);
    expect(res.status).toBe(404);
    expect(res.text).toContain("No preview at this address");
    const bare = await get("localhost");
    expect(bare.status).toBe(404);
    expect(bare.text).toContain("&lt;repo&gt;-pr-&lt;number&gt;.localhost");
    expect(seenHeaders).toEqual([]);
  });

  it("keeps a private preview from anonymous visitors and lets in the holder of its signed link", async () => {
    routes.set(LABEL, { ...route(`http://127.0.0.1:${upstreamPort}`), private: true });
    const anonymous = await get(`${LABEL}.localhost`, "/secret");
    expect(anonymous.status).toBe(302);
    expect(anonymous.headers.location).toMatch(/^http:\/\/berth\.localhost:3000\/auth\/preview\?host=/);
    expect(seenHeaders).toEqual([]);
    const access = new PreviewAccess({ secret: "s".repeat(32), scheme: "http" });
    const link = new URL(access.signedLink(`http://${LABEL}.localhost/secret`, LABEL, Date.now() + 60_000));
    const traded = await get(`${LABEL}.localhost`, `${link.pathname}${link.search}`);
    expect(traded.status).toBe(302);
    expect(traded.headers.location).toBe("/secret");
    const cookie = String(traded.headers["set-cookie"]).split(";")[0]!;
    const inside = await get(`${LABEL}.localhost`, "/secret", { cookie: `${cookie}; app=1` });
    expect(inside.status).toBe(200);
    // The session cookie is berth's: the preview never sees it.
    expect(seenHeaders[0]?.cookie).toBe("app=1");
    const forged = await get(`${LABEL}.localhost`, "/secret?berth_link=x.y");
    expect(forged.status).toBe(401);
    expect(forged.text).toContain("This preview is private");
  });

  it("wakes a sleeping preview and answers with a page that reloads until it is awake", async () => {
    routes.set(LABEL, { ...route(`http://127.0.0.1:${upstreamPort}`), sleeping: true });
    const res = await get(`${LABEL}.localhost`, "/deep/link");
    expect(res.status).toBe(503);
    expect(res.headers["retry-after"]).toBe("2");
    expect(res.text).toContain('<meta http-equiv="refresh" content="2">');
    expect(res.text).toContain("Waking the preview up");
    expect(wakes.map((w) => w.prKey)).toEqual(["github:Acme/Shop#12"]);
    expect(seenHeaders).toEqual([]);
    // Awake: the same address reaches it.
    routes.set(LABEL, route(`http://127.0.0.1:${upstreamPort}`));
    expect((await get(`${LABEL}.localhost`, "/deep/link")).status).toBe(200);
  });

  it("says which preview cannot be reached (502) and which is too slow (504)", async () => {
    const closed = createServer();
    const closedPort = await listen(closed);
    await new Promise((resolve) => closed.close(resolve));
    routes.set(LABEL, route(`http://127.0.0.1:${closedPort}`));
    const refused = await get(`${LABEL}.localhost`);
    expect(refused.status).toBe(502);
    expect(refused.text).toContain("The preview cannot be reached");
    expect(refused.text).toContain("Acme/Shop#12");
    expect(refused.text).toContain("ECONNREFUSED");

    routes.set(LABEL, route(`http://127.0.0.1:${upstreamPort}`));
    const slow = await get(`${LABEL}.localhost`, "/slow");
    expect(slow.status).toBe(504);
    expect(slow.text).toContain("It did not answer within 1 s");
  });
});
