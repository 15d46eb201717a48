/**
 * GitHub's user sign-in for a GitHub App, as a local HTTP fake (node:http on 127.0.0.1): the web
 * flow (`/login/oauth/authorize`, `/login/oauth/access_token`) and the two REST endpoints berth
 * asks with a user's token (`GET /user`, `GET /repos/{owner}/{repo}`).
 *
 * It refuses what GitHub refuses: an unknown client id, a redirect_uri that is not the App's
 * callback URL, a code challenge method other than S256; at the token endpoint a wrong client
 * secret, a code that is unknown, used or for another redirect_uri, and a code_verifier that does
 * not hash to the challenge (GitHub answers these 200 with an `error` field); at the API a missing
 * or unknown token (401 "Bad credentials") and a repository the user cannot read (404, as GitHub
 * hides private repositories). Answers are typed by GitHub's OpenAPI description.
 */
import { createHash, randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { components } from "@octokit/openapi-types";

type PublicUser = Pick<components["schemas"]["public-user"], "login" | "id" | "node_id" | "avatar_url" | "html_url" | "type" | "site_admin" | "name">;
type Repository = Pick<components["schemas"]["full-repository"], "id" | "node_id" | "name" | "full_name" | "private" | "html_url" | "default_branch" | "visibility" | "permissions">;

export interface FakeOAuthApp {
  clientId: string;
  clientSecret: string;
  /** The App's registered callback URL (redirect_uri must be it). */
  callbackUrl: string;
}

export class FakeGitHubOAuth {
  /** Who is signed in at "github.com" in the browser: authorize approves as them. */
  signedInAs = "octocat";
  /** Repositories (`owner/name`) each user can read. */
  readonly readers = new Map<string, Set<string>>();
  /** Every token request body seen (tests check PKCE and secrets were sent). */
  readonly tokenRequests: Array<Record<string, string>> = [];
  url = "";
  private server?: Server;
  private readonly codes = new Map<string, { login: string; redirectUri: string; challenge?: string; used: boolean }>();
  private readonly tokens = new Map<string, string>();
  private nextId = 5000;

  constructor(readonly app: FakeOAuthApp) {}

  /** Let `login` read `fullName`. */
  grant(login: string, fullName: string): void {
    let repos = this.readers.get(login);
    if (!repos) this.readers.set(login, (repos = new Set()));
    repos.add(fullName);
  }

  async start(): Promise<void> {
    this.server = createServer((req, res) => void this.handle(req, res).catch((err) => this.json(res, 500, { message: String(err) })));
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private json(res: ServerResponse, status: number, body: unknown): void {
    res.writeHead(status, { "content-type": "application/json; charset=utf-8" });
    res.end(JSON.stringify(body));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", this.url);
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks).toString("utf8");

    if (req.method === "GET" && url.pathname === "/login/oauth/authorize") {
      const q = url.searchParams;
      if (q.get("client_id") !== this.app.clientId) return this.json(res, 404, { message: "Not Found" });
      const redirectUri = q.get("redirect_uri") ?? this.app.callbackUrl;
      if (redirectUri !== this.app.callbackUrl) {
        res.writeHead(200, { "content-type": "text/html" });
        res.end("<h1>The redirect_uri MUST match the registered callback URL for this application.</h1>");
        return;
      }
      const method = q.get("code_challenge_method");
      const challenge = q.get("code_challenge") ?? undefined;
      if (challenge !== undefined && method !== "S256") return this.json(res, 400, { message: "code_challenge_method must be S256" });
      const code = randomBytes(10).toString("hex");
      this.codes.set(code, { login: this.signedInAs, redirectUri, ...(challenge ? { challenge } : {}), used: false });
      const back = new URL(redirectUri);
      back.searchParams.set("code", code);
      const state = q.get("state");
      if (state !== null) back.searchParams.set("state", state);
      res.writeHead(302, { location: back.toString() });
      res.end();
      return;
    }

    if (req.method === "POST" && url.pathname === "/login/oauth/access_token") {
      const type = String(req.headers["content-type"] ?? "");
      const body: Record<string, string> = type.includes("json") ? (JSON.parse(raw || "{}") as Record<string, string>) : Object.fromEntries(new URLSearchParams(raw));
      for (const [k, v] of url.searchParams) body[k] ??= v;
      this.tokenRequests.push(body);
      const error = (code: string, description: string) => this.json(res, 200, { error: code, error_description: description, error_uri: "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors" });
      if (body.client_id !== this.app.clientId || body.client_secret !== this.app.clientSecret) return error("incorrect_client_credentials", "The client_id and/or client_secret passed are incorrect.");
      const grant = body.code ? this.codes.get(body.code) : undefined;
      if (!grant || grant.used) return error("bad_verification_code", "The code passed is incorrect or expired.");
      if (body.redirect_uri !== undefined && body.redirect_uri !== grant.redirectUri) return error("redirect_uri_mismatch", "The redirect_uri MUST match the registered callback URL for this application.");
      if (grant.challenge !== undefined) {
        const verifier = body.code_verifier;
        if (!verifier || createHash("sha256").update(verifier).digest("base64url") !== grant.challenge) return error("bad_verification_code", "The code_verifier does not match the code_challenge.");
      }
      grant.used = true;
      const token = `ghu_${randomBytes(18).toString("hex")}`;
      this.tokens.set(token, grant.login);
      return this.json(res, 200, { access_token: token, expires_in: 28800, refresh_token: `ghr_${randomBytes(18).toString("hex")}`, refresh_token_expires_in: 15897600, scope: "", token_type: "bearer" });
    }

    const auth = /^(?:Bearer|token) (\S+)$/i.exec(String(req.headers.authorization ?? ""));
    const login = auth ? this.tokens.get(auth[1]!) : undefined;
    if (req.method === "GET" && (url.pathname === "/user" || url.pathname.startsWith("/repos/"))) {
      if (!login) return this.json(res, 401, { message: "Bad credentials", documentation_url: "https://docs.github.com/rest", status: "401" });
      if (url.pathname === "/user") {
        const user: PublicUser = { login, id: this.nextId++, node_id: `U_${login}`, avatar_url: `https://avatars.githubusercontent.com/u/1`, html_url: `https://github.com/${login}`, type: "User", site_admin: false, name: login };
        return this.json(res, 200, user);
      }
      const m = /^\/repos\/([^/]+)\/([^/]+)$/.exec(url.pathname);
      const fullName = m ? `${decodeURIComponent(m[1]!)}/${decodeURIComponent(m[2]!)}` : undefined;
      if (!fullName || !this.readers.get(login)?.has(fullName)) return this.json(res, 404, { message: "Not Found", documentation_url: "https://docs.github.com/rest/repos/repos#get-a-repository", status: "404" });
      const repo: Repository = {
        id: this.nextId++,
        node_id: `R_${fullName}`,
        name: fullName.split("/")[1]!,
        full_name: fullName,
        private: true,
        html_url: `https://github.com/${fullName}`,
        default_branch: "main",
        visibility: "private",
        permissions: { admin: false, maintain: false, push: true, triage: true, pull: true },
      };
      return this.json(res, 200, repo);
    }
    return this.json(res, 404, { message: `fake GitHub OAuth does not serve ${req.method} ${url.pathname}` });
  }
}
