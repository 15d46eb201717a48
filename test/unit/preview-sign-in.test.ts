/**
 * berth's `/auth/preview`: a visitor of a private preview signs in, is let in only if they can read
 * its repository, and is sent back to the preview with a grant the gateway accepts.
 */
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { GRANT_PATH, PreviewAccess } from "../../src/gateway/preview-access.js";
import { gatewayLabelOf } from "../../src/gateway/preview-host-names.js";
import type { GatewayRoute } from "../../src/gateway/route-table.js";
import type { Auth } from "../../src/web/auth/auth.js";
import type { Session } from "../../src/web/auth/session.js";
import { createPreviewSignIn } from "../../src/web/preview-sign-in.js";

const KEY = { host: "github" as const, owner: "acme", name: "secret-app", pr: 4 };
const LABEL = gatewayLabelOf(KEY, "default");
const HOST = `${LABEL}.preview.example.com`;
const access = new PreviewAccess({ secret: "x".repeat(32), scheme: "https", signInBaseUrl: "https://berth.example.com" });
let server: Server | undefined;

afterEach(async () => {
  await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
  server = undefined;
});

async function serve(session: Session | undefined, readable: boolean, privateRoute = true): Promise<(path: string) => Promise<{ status: number; location?: string; text: string }>> {
  const route: GatewayRoute = { key: KEY, prKey: "github:acme/secret-app#4", title: "acme/secret-app#4", upstream: "http://127.0.0.1:1", target: "docker", sha: "a".repeat(40), ...(privateRoute ? { private: true as const } : {}) };
  const auth = {
    enabled: true,
    session: () => session,
    canRead: async () => readable,
    signInUrl: (back: string) => `/auth/sign-in?return=${encodeURIComponent(back)}`,
  } as unknown as Auth;
  const handler = createPreviewSignIn({ auth, access, routes: { resolve: async (l) => (l === LABEL ? route : undefined) }, domain: "preview.example.com", scheme: "https", log: pino({ level: "silent" }) });
  server = createServer((req, res) => void handler(req, res).then((handled) => handled || (res.writeHead(418), res.end())));
  await new Promise<void>((resolve) => server!.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return (path) =>
    new Promise((resolve, reject) => {
      const req = request({ host: "127.0.0.1", port, path }, (res) => {
        let text = "";
        res.on("data", (c: Buffer) => (text += c.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, ...(res.headers.location ? { location: res.headers.location } : {}), text }));
      });
      req.on("error", reject);
      req.end();
    });
}

const ask = `/auth/preview?host=${encodeURIComponent(HOST)}&return=${encodeURIComponent("/orders?x=1")}`;
const reader: Session = { user: { kind: "oauth", host: "github", login: "tess", token: "gho_x" }, csrf: "c".repeat(24) };

describe("/auth/preview", () => {
  it("sends a visitor without a session to sign in, and back here afterwards", async () => {
    const get = await serve(undefined, true);
    const res = await get(ask);
    expect(res.status).toBe(302);
    expect(res.location).toBe(`/auth/sign-in?return=${encodeURIComponent(ask)}`);
  });

  it("lets a reader of the repository in with a grant the gateway accepts for this preview only", async () => {
    const get = await serve(reader, true);
    const res = await get(ask);
    expect(res.status).toBe(302);
    const back = new URL(res.location!);
    expect(back.host).toBe(HOST);
    expect(back.pathname).toBe(GRANT_PATH);
    const decision = access.decide({ host: HOST, pathAndQuery: `${back.pathname}${back.search}`, cookies: {} }, LABEL);
    expect(decision).toMatchObject({ kind: "redirect", location: "/orders?x=1" });
    expect(access.decide({ host: HOST, pathAndQuery: `${back.pathname}${back.search}`, cookies: {} }, "other-pr-1").kind).toBe("deny");
  });

  it("refuses a signed-in user who cannot read the repository, and unknown previews", async () => {
    const get = await serve(reader, false);
    const refused = await get(ask);
    expect(refused.status).toBe(403);
    expect(refused.text).toContain("github:tess");
    expect((await get(`/auth/preview?host=nothing-pr-1.preview.example.com`)).status).toBe(404);
  });
});
