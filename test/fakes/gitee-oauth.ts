/**
 * Gitee's OAuth web flow and the user-token endpoints berth calls, as a local HTTP fake:
 * `/oauth/authorize` (redirects back with `code` and `state`), `POST /oauth/token` (parameters in
 * the query, as Gitee's documentation shows), `GET /api/v5/user` and `GET /api/v5/repos/{o}/{r}`
 * with `access_token`. It refuses what Gitee refuses: an unknown client or a wrong secret (401
 * `invalid_client`), an unknown, used or mismatched code (400 `invalid_grant`), a missing or
 * unknown token (401), a repository the user cannot read (404 "Not Found Project").
 */
import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export class FakeGiteeOAuth {
  signedInAs = "gitee-user";
  readonly readers = new Map<string, Set<string>>();
  url = "";
  private server?: Server;
  private readonly codes = new Map<string, { login: string; redirectUri: string; used: boolean }>();
  private readonly tokens = new Map<string, string>();

  constructor(readonly app: { clientId: string; clientSecret: string; callbackUrl: string }) {}

  grant(login: string, fullName: string): void {
    let repos = this.readers.get(login);
    if (!repos) this.readers.set(login, (repos = new Set()));
    repos.add(fullName);
  }

  async start(): Promise<void> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private json(res: ServerResponse, status: number, body: unknown): void {
    res.writeHead(status, { "content-type": "application/json;charset=utf-8" });
    res.end(JSON.stringify(body));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    for await (const _chunk of req) void _chunk;
    const url = new URL(req.url ?? "/", this.url);
    const q = url.searchParams;
    if (req.method === "GET" && url.pathname === "/oauth/authorize") {
      if (q.get("client_id") !== this.app.clientId || q.get("response_type") !== "code") return this.json(res, 400, { error: "invalid_request" });
      if (q.get("redirect_uri") !== this.app.callbackUrl) return this.json(res, 400, { error: "invalid_redirect_uri", error_description: "redirect_uri does not match the application's" });
      const code = randomBytes(8).toString("hex");
      this.codes.set(code, { login: this.signedInAs, redirectUri: this.app.callbackUrl, used: false });
      const back = new URL(this.app.callbackUrl);
      back.searchParams.set("code", code);
      if (q.get("state") !== null) back.searchParams.set("state", q.get("state")!);
      res.writeHead(302, { location: back.toString() });
      res.end();
      return;
    }
    if (req.method === "POST" && url.pathname === "/oauth/token") {
      if (q.get("grant_type") !== "authorization_code") return this.json(res, 400, { error: "unsupported_grant_type" });
      if (q.get("client_id") !== this.app.clientId || q.get("client_secret") !== this.app.clientSecret) return this.json(res, 401, { error: "invalid_client", error_description: "Client authentication failed due to unknown client." });
      const grant = this.codes.get(q.get("code") ?? "");
      if (!grant || grant.used || q.get("redirect_uri") !== grant.redirectUri) return this.json(res, 400, { error: "invalid_grant", error_description: "The provided authorization grant is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client." });
      grant.used = true;
      const token = randomBytes(16).toString("hex");
      this.tokens.set(token, grant.login);
      return this.json(res, 200, { access_token: token, token_type: "bearer", expires_in: 86400, refresh_token: randomBytes(16).toString("hex"), scope: "user_info projects", created_at: 1_700_000_000 });
    }
    const login = this.tokens.get(q.get("access_token") ?? "");
    if (req.method === "GET" && url.pathname.startsWith("/api/v5/")) {
      if (!login) return this.json(res, 401, { message: "401 Unauthorized: Access token does not exist" });
      if (url.pathname === "/api/v5/user") return this.json(res, 200, { id: 1, login, name: login, avatar_url: "https://gitee.com/assets/no_portrait.png", html_url: `https://gitee.com/${login}` });
      const m = /^\/api\/v5\/repos\/([^/]+)\/([^/]+)$/.exec(url.pathname);
      if (m && this.readers.get(login)?.has(`${m[1]}/${m[2]}`)) return this.json(res, 200, { id: 2, full_name: `${m[1]}/${m[2]}`, path: m[2], private: true, public: false });
      return this.json(res, 404, { message: "Not Found Project" });
    }
    this.json(res, 404, { message: "Not Found" });
  }
}
