/**
 * Sign-in with a code host (OAuth 2.0 authorization code flow) and what the signed-in user may
 * read, asked with the user's own token:
 * - GitHub (a GitHub App's user authorization; the App's client id and secret are what Probot's
 *   setup recorded as GITHUB_CLIENT_ID / GITHUB_CLIENT_SECRET): `/login/oauth/authorize` with
 *   `state` and PKCE (S256), `/login/oauth/access_token` (JSON; a refused code answers 200 with an
 *   `error` field), `GET /user`, and `GET /repos/{owner}/{repo}` (404 when the user cannot read it
 *   or the App is not installed there).
 * - Gitee: `/oauth/authorize` with `state` (Gitee has no PKCE), `POST /oauth/token`, `GET
 *   /api/v5/user` and `GET /api/v5/repos/{owner}/{repo}` with `access_token`.
 */
import type { Logger } from "pino";
import { z } from "zod";
import { HttpTransport } from "../../adapters/http-transport.js";
import type { HostKind } from "../../domain/types.js";

export interface OAuthProvider {
  readonly host: HostKind;
  /** `GitHub`, `Gitee`: shown on the sign-in button. */
  readonly label: string;
  /** Whether the authorize URL takes a PKCE challenge. */
  readonly pkce: boolean;
  authorizeUrl(request: { state: string; redirectUri: string; codeChallenge?: string }): string;
  /** The user's access token for an authorization code (and how long it lasts); throws when the host refuses the code. */
  exchangeCode(request: { code: string; redirectUri: string; codeVerifier?: string }): Promise<UserToken>;
  /** The login of the token's user. */
  userLogin(token: string): Promise<string>;
  /** Whether the token's user can read `owner/name` (false when the host says not found or forbidden). */
  canRead(token: string, owner: string, name: string): Promise<boolean>;
}

/** A user's access token; `expiresInMs` when the host says it expires (GitHub App user tokens: 8 h). */
export interface UserToken {
  accessToken: string;
  expiresInMs?: number;
}

function userToken(accessToken: string, expiresIn: number | undefined): UserToken {
  return expiresIn !== undefined && expiresIn > 0 ? { accessToken, expiresInMs: expiresIn * 1000 } : { accessToken };
}

export interface OAuthClientOptions {
  clientId: string;
  clientSecret: string;
  /** Web origin of the host: `https://github.com`, `https://gitee.com`. */
  webUrl?: string;
  /** REST API base: `https://api.github.com`, `https://gitee.com/api/v5`. */
  apiUrl?: string;
  log: Pick<Logger, "debug" | "warn">;
  timeoutMs?: number;
}

const seg = (part: string): string => encodeURIComponent(part);

const githubToken = z.union([
  z.object({ access_token: z.string().min(1), token_type: z.string().optional(), expires_in: z.number().optional() }),
  z.object({ error: z.string(), error_description: z.string().optional() }),
]);
const userSchema = z.object({ login: z.string().min(1) });
const anyJson = z.unknown();

function transport(name: string, label: string, options: OAuthClientOptions, baseUrl: string): HttpTransport {
  return new HttpTransport({
    name,
    label,
    baseUrl,
    headers: { accept: "application/json", "user-agent": "berth-dashboard" },
    log: options.log,
    secrets: [options.clientSecret],
    timeoutMs: options.timeoutMs ?? 15_000,
    retries: 1,
    backoffMs: 500,
    maxResponseBytes: 1024 * 1024,
  });
}

export class GitHubOAuth implements OAuthProvider {
  readonly host = "github" as const;
  readonly label = "GitHub";
  readonly pkce = true;
  private readonly web: string;
  private readonly http: HttpTransport;

  constructor(private readonly options: OAuthClientOptions) {
    this.web = (options.webUrl ?? "https://github.com").replace(/\/+$/, "");
    this.http = transport("github oauth", "GitHub", options, (options.apiUrl ?? "https://api.github.com").replace(/\/+$/, ""));
  }

  authorizeUrl(request: { state: string; redirectUri: string; codeChallenge?: string }): string {
    const url = new URL(`${this.web}/login/oauth/authorize`);
    url.searchParams.set("client_id", this.options.clientId);
    url.searchParams.set("redirect_uri", request.redirectUri);
    url.searchParams.set("state", request.state);
    if (request.codeChallenge) {
      url.searchParams.set("code_challenge", request.codeChallenge);
      url.searchParams.set("code_challenge_method", "S256");
    }
    return url.toString();
  }

  async exchangeCode(request: { code: string; redirectUri: string; codeVerifier?: string }): Promise<UserToken> {
    const answer = await this.http.request({
      method: "POST",
      path: `${this.web}/login/oauth/access_token`,
      body: {
        client_id: this.options.clientId,
        client_secret: this.options.clientSecret,
        code: request.code,
        redirect_uri: request.redirectUri,
        ...(request.codeVerifier ? { code_verifier: request.codeVerifier } : {}),
      },
      idempotent: false,
      schema: githubToken,
    });
    if ("error" in answer) throw new Error(`GitHub refused the sign-in: ${answer.error}${answer.error_description ? ` (${answer.error_description})` : ""}`);
    return userToken(answer.access_token, answer.expires_in);
  }

  async userLogin(token: string): Promise<string> {
    return (await this.http.request({ method: "GET", path: "/user", headers: { authorization: `Bearer ${token}` }, schema: userSchema })).login;
  }

  async canRead(token: string, owner: string, name: string): Promise<boolean> {
    const res = await this.http.send({ method: "GET", path: `/repos/${seg(owner)}/${seg(name)}`, headers: { authorization: `Bearer ${token}` }, accept: [401, 403, 404] });
    if (res.status !== 200) return false;
    this.http.parse({ method: "GET", path: `/repos/${seg(owner)}/${seg(name)}` }, res, anyJson);
    return true;
  }
}

const giteeToken = z.object({ access_token: z.string().min(1), expires_in: z.number().optional() });

export class GiteeOAuth implements OAuthProvider {
  readonly host = "gitee" as const;
  readonly label = "Gitee";
  readonly pkce = false;
  private readonly web: string;
  private readonly http: HttpTransport;

  constructor(private readonly options: OAuthClientOptions) {
    this.web = (options.webUrl ?? "https://gitee.com").replace(/\/+$/, "");
    this.http = transport("gitee oauth", "Gitee", options, (options.apiUrl ?? `${this.web}/api/v5`).replace(/\/+$/, ""));
  }

  authorizeUrl(request: { state: string; redirectUri: string }): string {
    const url = new URL(`${this.web}/oauth/authorize`);
    url.searchParams.set("client_id", this.options.clientId);
    url.searchParams.set("redirect_uri", request.redirectUri);
    url.searchParams.set("response_type", "code");
    url.searchParams.set("scope", "user_info projects");
    url.searchParams.set("state", request.state);
    return url.toString();
  }

  async exchangeCode(request: { code: string; redirectUri: string }): Promise<UserToken> {
    const answer = await this.http.request({
      method: "POST",
      path: `${this.web}/oauth/token`,
      query: { grant_type: "authorization_code", code: request.code, client_id: this.options.clientId, redirect_uri: request.redirectUri, client_secret: this.options.clientSecret },
      idempotent: false,
      schema: giteeToken,
    });
    return userToken(answer.access_token, answer.expires_in);
  }

  async userLogin(token: string): Promise<string> {
    return (await this.http.request({ method: "GET", path: "/user", query: { access_token: token }, schema: userSchema })).login;
  }

  async canRead(token: string, owner: string, name: string): Promise<boolean> {
    const res = await this.http.send({ method: "GET", path: `/repos/${seg(owner)}/${seg(name)}`, query: { access_token: token }, accept: [401, 403, 404] });
    return res.status === 200;
  }
}
