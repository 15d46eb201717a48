/**
 * A small in-process GitHub REST API (node:http on 127.0.0.1) for integration tests that also talk
 * to a real Docker engine (nock would intercept the engine's socket). It serves the endpoints berth
 * uses, keeps comments and statuses, and records every call so tests can count them.
 *
 * With `writeLimit` it also enforces a write rate on the App's installation (every repository
 * here belongs to it): a write (POST, PATCH, PUT, DELETE under `/repos/`) beyond `perSecond` in
 * any one-second window is refused the way GitHub refuses a secondary rate limit — 403, a
 * "secondary rate limit" message and `retry-after` in seconds — and has no effect. Token requests
 * (`/app/...`, signed by the App, not the installation) are not counted.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { components } from "@octokit/openapi-types";

/** An issue comment as GitHub's REST API description says `issues.listComments` returns it. */
export type IssueComment = components["schemas"]["issue-comment"];

/** GitHub's limit on a comment body (it answers 422 "Body is too long"). */
export const GITHUB_COMMENT_MAX = 65_536;

/** Who wrote a comment: the App (through its installation token) or a person. */
export type CommentAuthor =
  | { kind: "app" }
  /** `appId`: written through an App's user-to-server token (the person is still the author). */
  | { kind: "user"; login: string; appId?: number }
  | { kind: "bot"; login: string; appId?: number };

export interface RecordedCall {
  method: string;
  path: string;
  body: any;
  /** Set on a write the write limit refused. */
  refused?: true;
}

/** One write the installation made, accepted or refused by the write limit. */
export interface RecordedWrite {
  method: string;
  path: string;
  /** `Date.now()` when the fake saw it. */
  at: number;
  accepted: boolean;
}

export interface FakeGitHubOptions {
  /** Refuse writes beyond `perSecond` in any one-second window (GitHub asks integrators for one a second). */
  writeLimit?: { perSecond: number };
}

/** What GitHub answers a secondary rate limit with (403, `retry-after`; the message names the limit). */
export const SECONDARY_RATE_LIMIT_MESSAGE =
  "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID 0000:0000:0000:0000:00000000.";

const WRITE_METHODS: ReadonlySet<string> = new Set(["POST", "PATCH", "PUT", "DELETE"]);

export interface FakeRepo {
  /** Pull requests served by `pulls.get` (state changes without a webhook: lost deliveries). */
  pulls?: Map<number, Record<string, unknown>>;
  /** berth.yml on the default branch (null = none). */
  config: string | null;
  /** gzip'd tarballs by commit sha. */
  tarballs: Map<string, Buffer>;
  permissions: Map<string, string>;
  /** Files of commits served by `repos.getContent` at `ref=<sha>`: sha → path → text. */
  files?: Map<string, Map<string, string>>;
}

export class FakeGitHubApi {
  readonly calls: RecordedCall[] = [];
  readonly repos = new Map<string, FakeRepo>();
  readonly comments = new Map<number, { id: number; issue: string; body: string; author?: CommentAuthor }>();
  /** The App berth runs as (Probot's `appId` in the harness is 1). */
  appId = 1;
  appSlug = "berth";
  readonly deployments: Array<{ id: number; repo: string; environment: string; ref: string; statuses: Array<{ state: string; environment_url?: string }> }> = [];
  readonly statuses: Array<{ repo: string; sha: string; context: string; state: string; description: string; target_url?: string }> = [];
  /** Every installation write seen (accepted or refused), in arrival order. */
  readonly writes: RecordedWrite[] = [];
  /** The write limit, if any (may be changed between tests). */
  writeLimit?: { perSecond: number };
  private server?: Server;
  private nextId = 9000;

  /** Base URL to give Probot (`baseUrl`). */
  url = "";

  constructor(options: FakeGitHubOptions = {}) {
    if (options.writeLimit) this.writeLimit = options.writeLimit;
  }

  /** Writes the write limit let through (answered as GitHub would, 422s included). */
  get acceptedWrites(): number {
    return this.writes.filter((w) => w.accepted).length;
  }

  /** Writes the write limit refused. */
  get refusedWrites(): number {
    return this.writes.filter((w) => !w.accepted).length;
  }

  /** When each accepted write arrived (`Date.now()`), in order. */
  get acceptedWriteTimes(): number[] {
    return this.writes.filter((w) => w.accepted).map((w) => w.at);
  }

  /**
   * Whether a write arriving at `at` is over the limit, and if so how many seconds to wait
   * (`retry-after`: until the oldest write in its window is a second old, rounded up).
   */
  private overLimit(at: number): number | undefined {
    const limit = this.writeLimit;
    if (!limit) return undefined;
    const recent = this.writes.filter((w) => w.accepted && w.at > at - 1000);
    if (recent.length < limit.perSecond) return undefined;
    const oldest = recent[recent.length - limit.perSecond]!.at;
    return Math.max(1, Math.ceil((oldest + 1000 - at) / 1000));
  }

  repo(fullName: string): FakeRepo {
    let repo = this.repos.get(fullName);
    if (!repo) {
      repo = { config: null, tarballs: new Map(), permissions: new Map() };
      this.repos.set(fullName, repo);
    }
    return repo;
  }

  /** Status comment bodies of an issue, as they stand now. */
  commentsOf(fullName: string, issue: number): string[] {
    return [...this.comments.values()].filter((c) => c.issue === `${fullName}#${issue}`).map((c) => c.body);
  }

  /** Put a comment on an issue as someone (a person quoting berth's marker, another bot). */
  addComment(fullName: string, issue: number, body: string, author: CommentAuthor): number {
    const id = this.nextId++;
    this.comments.set(id, { id, issue: `${fullName}#${issue}`, body, author });
    return id;
  }

  /** A stored comment as GitHub's API answers it. */
  private commentJson(comment: { id: number; issue: string; body: string; author?: CommentAuthor }): IssueComment {
    const [fullName, number] = comment.issue.split("#");
    return issueCommentJson({ id: comment.id, repo: fullName!, issue: Number(number), body: comment.body, author: comment.author ?? { kind: "app" }, app: { id: this.appId, slug: this.appSlug }, apiUrl: this.url });
  }

  /** Calls whose path starts with `/repos/<fullName>/` (plus token requests when asked). */
  callsFor(fullName: string): RecordedCall[] {
    return this.calls.filter((c) => c.path.startsWith(`/repos/${fullName}/`));
  }

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      void this.handle(req, res).catch((err) => {
        res.writeHead(500, { "content-type": "application/json" });
        res.end(JSON.stringify({ message: String(err) }));
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks).toString("utf8");
    const body = raw ? JSON.parse(raw) : undefined;
    const url = new URL(req.url ?? "/", this.url);
    const path = decodeURIComponent(url.pathname);
    const method = req.method ?? "GET";
    const call: RecordedCall = { method, path, body };
    this.calls.push(call);
    const json = (status: number, data: unknown) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(data));
    };

    if (WRITE_METHODS.has(method) && path.startsWith("/repos/")) {
      const at = Date.now();
      const retryAfter = this.overLimit(at);
      this.writes.push({ method, path, at, accepted: retryAfter === undefined });
      if (retryAfter !== undefined) {
        call.refused = true;
        // A secondary limit leaves the primary quota alone: x-ratelimit-remaining is not 0.
        res.writeHead(403, {
          "content-type": "application/json",
          "retry-after": String(retryAfter),
          "x-ratelimit-limit": "5000",
          "x-ratelimit-remaining": "4999",
          "x-ratelimit-reset": String(Math.ceil(at / 1000) + 3600),
          "x-ratelimit-resource": "core",
        });
        res.end(JSON.stringify({ message: SECONDARY_RATE_LIMIT_MESSAGE, documentation_url: "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits" }));
        return;
      }
    }

    if (method === "GET" && path === "/app") return json(200, appJson({ id: this.appId, slug: this.appSlug }));
    if (method === "POST" && /^\/app\/installations\/\d+\/access_tokens$/.test(path)) {
      return json(201, { token: "ghs_integration", expires_at: new Date(Date.now() + 3_600_000).toISOString(), permissions: {} });
    }
    const m = /^\/repos\/([^/]+\/[^/]+)\/(.*)$/.exec(path);
    const repo = m ? this.repos.get(m[1]!) : undefined;
    if (!m || !repo) return json(404, { message: "Not Found" });
    const fullName = m[1]!;
    const rest = m[2]!;
    let match: RegExpExecArray | null;

    if (method === "GET" && rest === "contents/.github/berth.yml") {
      if (repo.config === null) return json(404, { message: "Not Found" });
      return json(200, { type: "file", encoding: "base64", path: ".github/berth.yml", content: Buffer.from(repo.config).toString("base64") });
    }
    if (method === "GET" && (match = /^contents\/(.+)$/.exec(rest))) {
      const path = decodeURIComponent(match[1]!);
      const text = repo.files?.get(url.searchParams.get("ref") ?? "")?.get(path);
      if (text === undefined) return json(404, { message: "Not Found" });
      return json(200, { type: "file", encoding: "base64", path, content: Buffer.from(text).toString("base64") });
    }
    if (method === "GET" && (match = /^tarball\/([0-9a-f]{40})$/.exec(rest))) {
      const tarball = repo.tarballs.get(match[1]!);
      if (!tarball) return json(404, { message: "Not Found" });
      res.writeHead(200, { "content-type": "application/x-gzip", "content-length": tarball.length });
      res.end(tarball);
      return;
    }
    if (method === "GET" && (match = /^issues\/(\d+)\/comments$/.exec(rest))) {
      const issue = `${fullName}#${match[1]}`;
      return json(200, [...this.comments.values()].filter((c) => c.issue === issue).map((c) => this.commentJson(c)));
    }
    if ((method === "POST" && /^issues\/\d+\/comments$/.test(rest)) || (method === "PATCH" && /^issues\/comments\/\d+$/.test(rest))) {
      // The request body GitHub's description allows: `{ body: string }`, and GitHub's length limit.
      const refusal = commentBodyRefusal(body);
      if (refusal) return json(422, { message: "Validation Failed", errors: [refusal], documentation_url: "https://docs.github.com/rest/issues/comments" });
    }
    if (method === "POST" && (match = /^issues\/(\d+)\/comments$/.exec(rest))) {
      const comment = { id: this.nextId++, issue: `${fullName}#${match[1]}`, body: String(body.body) };
      this.comments.set(comment.id, comment);
      return json(201, this.commentJson(comment));
    }
    if (method === "PATCH" && (match = /^issues\/comments\/(\d+)$/.exec(rest))) {
      const comment = this.comments.get(Number(match[1]));
      if (!comment || !comment.issue.startsWith(`${fullName}#`)) return json(404, { message: "Not Found" });
      // An installation token may edit only the App's own comments.
      if (comment.author && comment.author.kind !== "app") return json(403, { message: "Resource not accessible by integration" });
      comment.body = String(body.body);
      return json(200, this.commentJson(comment));
    }
    if (method === "POST" && (match = /^statuses\/([0-9a-f]{40})$/.exec(rest))) {
      this.statuses.push({ repo: fullName, sha: match[1]!, ...body });
      return json(201, { id: this.nextId++, ...body });
    }
    if (method === "GET" && (match = /^pulls\/(\d+)$/.exec(rest))) {
      const pull = repo.pulls?.get(Number(match[1]));
      return pull ? json(200, pull) : json(404, { message: "Not Found" });
    }
    if (method === "POST" && rest === "deployments") {
      const deployment = { id: this.nextId++, repo: fullName, environment: String(body.environment), ref: String(body.ref), statuses: [] };
      this.deployments.push(deployment);
      return json(201, { id: deployment.id, environment: deployment.environment, ref: deployment.ref });
    }
    if (method === "POST" && (match = /^deployments\/(\d+)\/statuses$/.exec(rest))) {
      const deployment = this.deployments.find((d) => d.id === Number(match![1]));
      if (!deployment) return json(404, { message: "Not Found" });
      (deployment.statuses as Array<{ state: string; environment_url?: string }>).push({ state: String(body.state), environment_url: body.environment_url });
      return json(201, { id: this.nextId++, state: body.state });
    }
    if (method === "POST" && /^issues\/comments\/\d+\/reactions$/.test(rest)) {
      return json(201, { id: this.nextId++, content: body.content });
    }
    if (method === "GET" && (match = /^collaborators\/([^/]+)\/permission$/.exec(rest))) {
      const permission = repo.permissions.get(match[1]!);
      if (!permission) return json(404, { message: "Not Found" });
      return json(200, { permission, role_name: permission });
    }
    return json(404, { message: `fake GitHub does not serve ${method} ${path}` });
  }
}

/**
 * An issue comment as GitHub's REST API returns it (typed by GitHub's OpenAPI description): written
 * by the App `app` through its installation token (`user` is `<slug>[bot]`, a Bot, and
 * `performed_via_github_app` names the App), by a person, or by another bot.
 */
export function issueCommentJson(options: { id: number; repo: string; issue: number; body: string; author: CommentAuthor; app: { id: number; slug: string }; apiUrl?: string }): IssueComment {
  const { id, repo, issue, body, author, app } = options;
  const apiUrl = options.apiUrl ?? "https://api.github.com";
  const login = author.kind === "app" ? `${app.slug}[bot]` : author.login;
  const appId = author.kind === "app" ? app.id : author.appId;
  const slug = author.kind === "bot" ? login.replace(/\[bot\]$/, "") : app.slug;
  const performedVia = appId === undefined ? null : appJson({ id: appId, slug });
  return {
    id,
    node_id: `IC_${id}`,
    url: `${apiUrl}/repos/${repo}/issues/comments/${id}`,
    html_url: `https://github.com/${repo}/pull/${issue}#issuecomment-${id}`,
    issue_url: `${apiUrl}/repos/${repo}/issues/${issue}`,
    body,
    user: simpleUser(login, author.kind === "user" ? "User" : "Bot"),
    created_at: "2024-01-01T00:00:00Z",
    updated_at: "2024-01-01T00:00:00Z",
    author_association: author.kind === "user" ? "CONTRIBUTOR" : "NONE",
    performed_via_github_app: performedVia,
  };
}

/** The App as `GET /app` answers it (typed by GitHub's OpenAPI description). */
export function appJson(app: { id: number; slug: string }): components["schemas"]["integration"] {
  return {
    id: app.id,
    slug: app.slug,
    node_id: `A_${app.id}`,
    owner: simpleUser(`${app.slug}-owner`, "Organization"),
    name: app.slug,
    description: null,
    external_url: "https://example.com",
    html_url: `https://github.com/apps/${app.slug}`,
    created_at: "2024-01-01T00:00:00Z",
    updated_at: "2024-01-01T00:00:00Z",
    permissions: { issues: "write", pull_requests: "write" },
    events: [],
  };
}

/** Why GitHub would refuse a create/edit comment request body, or undefined when it accepts it. */
function commentBodyRefusal(body: unknown): { resource: string; field: string; code: string; message?: string } | undefined {
  if (typeof body !== "object" || body === null || typeof (body as { body?: unknown }).body !== "string") return { resource: "IssueComment", field: "body", code: "missing_field" };
  const extra = Object.keys(body).filter((key) => key !== "body");
  if (extra.length) return { resource: "IssueComment", field: extra[0]!, code: "invalid" };
  const text = (body as { body: string }).body;
  if (text.length > GITHUB_COMMENT_MAX) return { resource: "IssueComment", field: "body", code: "custom", message: `Body is too long (maximum is ${GITHUB_COMMENT_MAX} characters)` };
  return undefined;
}

/** A `simple-user` as GitHub's description has it. */
function simpleUser(login: string, type: string): NonNullable<IssueComment["user"]> {
  return {
    login,
    id: 1000 + login.length,
    node_id: `U_${login}`,
    avatar_url: `https://avatars.githubusercontent.com/u/${login}`,
    gravatar_id: "",
    url: `https://api.github.com/users/${login}`,
    html_url: `https://github.com/${login}`,
    followers_url: "",
    following_url: "",
    gists_url: "",
    starred_url: "",
    subscriptions_url: "",
    organizations_url: "",
    repos_url: "",
    events_url: "",
    received_events_url: "",
    type,
    site_admin: false,
  };
}
