/**
 * In-process fake of the Gitea API v1 endpoints berth's `GiteaHost` uses, on 127.0.0.1 with a random
 * port, for one of three flavors:
 * - `gitea` and `forgejo`: every request and every answer is checked against that server's Swagger
 *   description (`test/contracts/gitea-1.27-swagger.v1.json`, `forgejo-11-swagger.v1.json`);
 * - `gogs`: Gogs 0.13 publishes no description; the endpoints it shares with Gitea are checked
 *   against Gitea's, and those Gogs lacks (pull requests, commit statuses, reactions, collaborator
 *   permission) answer 404 as Gogs' catch-all route does.
 * Like the real servers it refuses a request without `Authorization: token <t>` (401), a known path
 * with an undeclared method (405), a path it does not know (404), a body that misses a required
 * field (422) — and, stricter than Gitea, a body field the description does not declare (422), so a
 * misspelt field cannot pass. Every departure from the description is collected in `violations`
 * (`assertNoViolations()`), including a spec'd operation the fake does not implement.
 */
import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { gzipSync } from "node:zlib";
import { fileURLToPath } from "node:url";
import { pack as createPack } from "tar-stream";
import { readRequestBody, writeAnswer, type RecordedApiCall } from "./fake-http.js";
import { assertNoContractViolations, SwaggerContract } from "./swagger-contract.js";

export type FakeGiteaFlavor = "gitea" | "forgejo" | "gogs";

export const GITEA_SWAGGER_FILE = fileURLToPath(new URL("../contracts/gitea-1.27-swagger.v1.json", import.meta.url));
export const FORGEJO_SWAGGER_FILE = fileURLToPath(new URL("../contracts/forgejo-11-swagger.v1.json", import.meta.url));

const contracts = new Map<string, SwaggerContract>();
/** The contract of a flavor, loaded once per test file (Gogs is checked against Gitea's). */
export function giteaContract(flavor: FakeGiteaFlavor): SwaggerContract {
  const file = flavor === "forgejo" ? FORGEJO_SWAGGER_FILE : GITEA_SWAGGER_FILE;
  let contract = contracts.get(file);
  if (!contract) {
    contract = SwaggerContract.fromFile(file, { multiSegmentParams: ["filepath"] });
    contracts.set(file, contract);
  }
  return contract;
}

/** Operations Gogs 0.13 does not have (its API answers them 404). */
const GOGS_MISSING = [
  "GET /repos/{owner}/{repo}/pulls/{index}",
  "POST /repos/{owner}/{repo}/statuses/{sha}",
  "POST /repos/{owner}/{repo}/issues/comments/{id}/reactions",
  "GET /repos/{owner}/{repo}/collaborators/{collaborator}/permission",
];

interface FakePull {
  number: number;
  state: "open" | "closed";
  merged: boolean;
  headSha: string;
  headRef: string;
  baseRef: string;
  author: string;
  forkOwner?: string;
  labels: number[];
}

interface FakeComment {
  id: number;
  issue: number;
  body: string;
  user: string;
  createdAt: string;
}

interface FakeRepo {
  id: number;
  owner: string;
  name: string;
  defaultBranch: string;
  branches: Map<string, string>;
  commits: Map<string, Map<string, { content: Buffer; mode: "100644" | "100755" }>>;
  pulls: Map<number, FakePull>;
  comments: FakeComment[];
  statuses: Array<{ sha: string; state: string; context: string; description: string; targetUrl?: string }>;
  reactions: Array<{ commentId: number; content: string; user: string }>;
  labels: Map<number, { name: string; color: string }>;
  collaborators: Map<string, "read" | "write" | "admin">;
}

export type RecordedGiteaCall = RecordedApiCall;

const NOW = "2026-11-30T09:15:42Z";


/** A tar.gz of `files` under `top/`, as `git archive --prefix=<repo>/` makes it. */
async function tarGz(top: string, files: Map<string, { content: Buffer; mode: string }>): Promise<Buffer> {
  const pack = createPack();
  const chunks: Buffer[] = [];
  pack.on("data", (chunk: unknown) => chunks.push(Buffer.from(chunk as Uint8Array)));
  const ended = new Promise<void>((resolve) => pack.on("end", () => resolve()));
  pack.entry({ name: `${top}/`, type: "directory", mode: 0o755 });
  for (const [path, file] of [...files].sort(([a], [b]) => (a < b ? -1 : 1))) {
    pack.entry({ name: `${top}/${path}`, mode: file.mode === "100755" ? 0o755 : 0o644 }, file.content);
  }
  pack.finalize();
  await ended;
  return gzipSync(Buffer.concat(chunks));
}

export class FakeGiteaApi {
  /** Web base URL (`http://127.0.0.1:<port>`); the API is under `/api/v1`. */
  url = "";
  apiUrl = "";
  readonly calls: RecordedGiteaCall[] = [];
  readonly violations: string[] = [];
  private readonly server: Server;
  private readonly repos = new Map<string, FakeRepo>();
  private readonly userIds = new Map<string, number>();
  private nextId = 100;
  /** Whether berth's account is an admin of every repository (Gitea then answers permission queries). */
  botIsAdmin = true;
  /** Archive bytes padded to this size (size-limit tests). */
  archivePadding = 0;

  private constructor(
    readonly flavor: FakeGiteaFlavor,
    private readonly token: string,
    readonly botLogin: string,
    private readonly contract: SwaggerContract,
  ) {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((error: unknown) => {
        this.violations.push(`fake crashed: ${error instanceof Error ? error.message : String(error)}`);
        if (!res.headersSent) res.writeHead(500).end();
      });
    });
  }

  static async start(options: { flavor: FakeGiteaFlavor; token: string; botLogin?: string }): Promise<FakeGiteaApi> {
    const fake = new FakeGiteaApi(options.flavor, options.token, options.botLogin ?? "berth-bot", giteaContract(options.flavor));
    await new Promise<void>((resolve) => fake.server.listen(0, "127.0.0.1", resolve));
    const { port } = fake.server.address() as AddressInfo;
    fake.url = `http://127.0.0.1:${port}`;
    fake.apiUrl = `${fake.url}/api/v1`;
    return fake;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  assertNoViolations(): void {
    assertNoContractViolations(this.violations, `${this.flavor} fake`);
  }

  // ---- state -------------------------------------------------------------------------------

  private userId(login: string): number {
    let id = this.userIds.get(login.toLowerCase());
    if (id === undefined) {
      id = this.nextId++;
      this.userIds.set(login.toLowerCase(), id);
    }
    return id;
  }

  addRepo(init: { owner: string; name: string; defaultBranch?: string }): void {
    this.userId(init.owner);
    this.repos.set(`${init.owner}/${init.name}`.toLowerCase(), {
      id: this.nextId++,
      owner: init.owner,
      name: init.name,
      defaultBranch: init.defaultBranch ?? "main",
      branches: new Map(),
      commits: new Map(),
      pulls: new Map(),
      comments: [],
      statuses: [],
      reactions: [],
      labels: new Map(),
      collaborators: new Map(),
    });
  }

  private repo(owner: string, name: string): FakeRepo {
    const repo = this.repos.get(`${owner}/${name}`.toLowerCase());
    if (!repo) throw new Error(`fake has no repo ${owner}/${name}`);
    return repo;
  }

  /** Store a commit; returns its SHA. `branch` is moved to it. */
  addCommit(owner: string, name: string, files: Record<string, string | Buffer | { content: Buffer; mode: "100644" | "100755" }>, branch?: string): string {
    const repo = this.repo(owner, name);
    const tree = new Map<string, { content: Buffer; mode: "100644" | "100755" }>();
    const hash = createHash("sha1").update(`${owner}/${name}#${this.nextId++}`);
    for (const [path, file] of Object.entries(files)) {
      const entry = typeof file === "string" || Buffer.isBuffer(file) ? { content: Buffer.from(file), mode: "100644" as const } : file;
      tree.set(path, entry);
      hash.update(`${entry.mode} ${path} `).update(entry.content);
    }
    const sha = hash.digest("hex");
    repo.commits.set(sha, tree);
    if (branch) repo.branches.set(branch, sha);
    return sha;
  }

  addPull(owner: string, name: string, pull: { number: number; headSha: string; headRef: string; baseRef?: string; author?: string; forkOwner?: string }): void {
    const repo = this.repo(owner, name);
    this.userId(pull.author ?? "alice");
    repo.pulls.set(pull.number, { state: "open", merged: false, baseRef: repo.defaultBranch, author: "alice", labels: [], ...pull });
  }

  updatePull(owner: string, name: string, number: number, change: Partial<Pick<FakePull, "headSha" | "state" | "merged">>): void {
    const pull = this.repo(owner, name).pulls.get(number);
    if (!pull) throw new Error(`fake has no PR ${number}`);
    Object.assign(pull, change);
  }

  setCollaborator(owner: string, name: string, login: string, permission: "read" | "write" | "admin" | null): void {
    const repo = this.repo(owner, name);
    this.userId(login);
    if (permission === null) repo.collaborators.delete(login.toLowerCase());
    else repo.collaborators.set(login.toLowerCase(), permission);
  }

  /** A comment written by someone (not through the API); returns its id. */
  addComment(owner: string, name: string, issue: number, body: string, user: string): number {
    const id = this.nextId++;
    this.userId(user);
    this.repo(owner, name).comments.push({ id, issue, body, user, createdAt: NOW });
    return id;
  }

  comments(owner: string, name: string, issue: number): ReadonlyArray<Readonly<FakeComment>> {
    return this.repo(owner, name).comments.filter((c) => c.issue === issue);
  }

  statuses(owner: string, name: string, sha: string): ReadonlyArray<{ state: string; context: string; description: string; targetUrl?: string }> {
    return this.repo(owner, name)
      .statuses.filter((s) => s.sha === sha)
      .map(({ sha: _sha, ...status }) => status);
  }

  /** The latest state per context of a commit, as Gitea's combined status shows it. */
  latestStatuses(owner: string, name: string, sha: string): Record<string, string> {
    const latest: Record<string, string> = {};
    for (const status of this.statuses(owner, name, sha)) latest[status.context] = status.state;
    return latest;
  }

  reactions(owner: string, name: string): ReadonlyArray<{ commentId: number; content: string; user: string }> {
    return this.repo(owner, name).reactions;
  }

  prLabels(owner: string, name: string, pr: number): string[] {
    const repo = this.repo(owner, name);
    return (repo.pulls.get(pr)?.labels ?? []).map((id) => repo.labels.get(id)?.name ?? `#${id}`);
  }

  // ---- HTTP -----------------------------------------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = (req.method ?? "GET").toUpperCase();
    const url = new URL(req.url ?? "/", "http://fake");
    const raw = await readRequestBody(req);
    let body: unknown;
    if (raw.length > 0) {
      try {
        body = JSON.parse(raw.toString("utf8"));
      } catch {
        this.violations.push(`${method} ${url.pathname}: request body is not JSON`);
      }
    }
    const query = Object.fromEntries(url.searchParams);
    const call: RecordedGiteaCall = { method, path: url.pathname, template: undefined, query, body, status: 0 };
    this.calls.push(call);
    const answer = (status: number, payload?: unknown, check = true): void => {
      call.status = status;
      if (check && payload !== undefined && !Buffer.isBuffer(payload)) {
        for (const v of this.contract.checkResponse({ method, path: url.pathname }, status, payload)) this.violations.push(`response: ${v}`);
      }
      writeAnswer(res, status, payload, { contentType: "application/json;charset=utf-8" });
    };
    const error = (status: number, message: string): void => answer(status, { message, url: `${this.url}/api/swagger` }, false);

    if (req.headers.authorization !== `token ${this.token}`) {
      error(401, "token is required");
      return;
    }
    const found = this.contract.match(method, url.pathname);
    if ("violation" in found) {
      const otherMethod = ["GET", "POST", "PATCH", "PUT", "DELETE"].some((m) => m !== method && "match" in this.contract.match(m, url.pathname));
      this.violations.push(`request: ${found.violation}`);
      if (otherMethod) error(405, "Method Not Allowed");
      else error(404, "not found");
      return;
    }
    call.template = found.match.template.replace(/^\/api\/v1/, "");
    const op = `${method} ${call.template}`;
    if (this.flavor === "gogs" && GOGS_MISSING.includes(op)) {
      // Gogs' catch-all `m.Any("/*", NotFound)`: a client must not ask.
      this.violations.push(`request: ${op} does not exist on Gogs 0.13`);
      error(404, "Not Found");
      return;
    }
    const violations = this.contract.checkRequest({ method, path: url.pathname + url.search, body, contentType: req.headers["content-type"] });
    const unknown = this.unknownBodyFields(method, call.template, body);
    if (violations.length > 0 || unknown.length > 0) {
      this.violations.push(...violations.map((v) => `request: ${v}`), ...unknown.map((f) => `request: ${op}: unknown body field ${f}`));
      error(422, violations[0] ?? `unknown field ${unknown[0]}`);
      return;
    }
    if (op === "GET /user") {
      answer(200, this.userJson(this.botLogin));
      return;
    }
    const repo = this.repos.get(`${found.match.pathParams.owner ?? ""}/${found.match.pathParams.repo ?? ""}`.toLowerCase());
    if (!repo) {
      error(404, "GetRepositoryByName");
      return;
    }
    const result = await this.route(op, found.match.pathParams, query, body, repo);
    if (!result) {
      this.violations.push(`fake does not implement ${op}`);
      error(501, "not implemented by the fake");
      return;
    }
    if (result.error) error(result.status, result.error);
    else answer(result.status, result.body);
  }

  /** Top-level body fields the operation's body schema does not declare. */
  private unknownBodyFields(method: string, template: string, body: unknown): string[] {
    if (typeof body !== "object" || body === null || Array.isArray(body)) return [];
    const known: Record<string, string[]> = {
      "POST /repos/{owner}/{repo}/issues/{index}/comments": ["body", "created_at", "updated_at"],
      "PATCH /repos/{owner}/{repo}/issues/comments/{id}": ["body", "created_at", "updated_at"],
      "POST /repos/{owner}/{repo}/statuses/{sha}": ["context", "description", "state", "target_url"],
      "POST /repos/{owner}/{repo}/issues/comments/{id}/reactions": ["content"],
      "POST /repos/{owner}/{repo}/issues/{index}/labels": ["labels", "updated_at"],
      "POST /repos/{owner}/{repo}/labels": ["name", "color", "description", "exclusive", "is_archived"],
    };
    const fields = known[`${method} ${template}`];
    return fields ? Object.keys(body).filter((key) => !fields.includes(key)) : [];
  }

  private async route(
    op: string,
    params: Record<string, string>,
    query: Record<string, string>,
    body: unknown,
    repo: FakeRepo,
  ): Promise<{ status: number; body?: unknown; error?: string } | undefined> {
    const notFound = { status: 404, error: "not found" };
    const fields = (body ?? {}) as Record<string, unknown>;
    switch (op) {
      case "GET /repos/{owner}/{repo}/contents/{filepath}": {
        const sha = query.ref === undefined ? repo.branches.get(repo.defaultBranch) : (repo.branches.get(query.ref) ?? query.ref);
        const file = sha ? repo.commits.get(sha)?.get(params.filepath ?? "") : undefined;
        if (!file) return { status: 404, error: "GetContentsOrList" };
        const path = params.filepath ?? "";
        return {
          status: 200,
          body: {
            name: path.split("/").pop(),
            path,
            sha: createHash("sha1").update(`blob ${file.content.length}\0`).update(file.content).digest("hex"),
            last_commit_sha: sha,
            type: "file",
            size: file.content.length,
            encoding: "base64",
            content: file.content.toString("base64"),
            url: `${this.apiUrl}/repos/${repo.owner}/${repo.name}/contents/${path}?ref=${query.ref ?? repo.defaultBranch}`,
            html_url: `${this.url}/${repo.owner}/${repo.name}/src/branch/${query.ref ?? repo.defaultBranch}/${path}`,
            download_url: `${this.url}/${repo.owner}/${repo.name}/raw/branch/${query.ref ?? repo.defaultBranch}/${path}`,
            _links: { self: `${this.apiUrl}/repos/${repo.owner}/${repo.name}/contents/${path}` },
          },
        };
      }
      case "GET /repos/{owner}/{repo}/archive/{archive}": {
        const match = /^([0-9a-f]{40}|[^/]+?)\.tar\.gz$/.exec(params.archive ?? "");
        const ref = match?.[1];
        const sha = ref ? (repo.branches.get(ref) ?? ref) : undefined;
        const files = sha ? repo.commits.get(sha) : undefined;
        if (!files) return { status: 404, error: "GetArchive" };
        const archive = await tarGz(repo.name, files);
        return { status: 200, body: this.archivePadding > archive.length ? Buffer.concat([archive, Buffer.alloc(this.archivePadding - archive.length)]) : archive };
      }
      case "GET /repos/{owner}/{repo}/pulls/{index}": {
        const pull = repo.pulls.get(Number(params.index));
        return pull ? { status: 200, body: this.pullJson(repo, pull) } : notFound;
      }
      case "GET /repos/{owner}/{repo}/issues/{index}": {
        const pull = repo.pulls.get(Number(params.index));
        if (!pull) return notFound;
        return {
          status: 200,
          body: {
            id: repo.id * 1000 + pull.number,
            number: pull.number,
            title: `PR ${pull.number}`,
            state: pull.state,
            user: this.userJson(pull.author),
            html_url: `${this.url}/${repo.owner}/${repo.name}/pulls/${pull.number}`,
            pull_request: { merged: pull.merged, html_url: `${this.url}/${repo.owner}/${repo.name}/pulls/${pull.number}` },
            created_at: NOW,
            updated_at: NOW,
          },
        };
      }
      case "GET /repos/{owner}/{repo}/branches/{branch}": {
        const sha = repo.branches.get(params.branch ?? "");
        if (!sha) return { status: 404, error: "GetBranch" };
        return { status: 200, body: { name: params.branch, commit: { id: sha, message: "commit", url: `${this.url}/${repo.owner}/${repo.name}/commit/${sha}`, timestamp: NOW } } };
      }
      case "GET /repos/{owner}/{repo}/issues/{index}/comments": {
        if (!repo.pulls.has(Number(params.index))) return notFound;
        return { status: 200, body: repo.comments.filter((c) => c.issue === Number(params.index)).map((c) => this.commentJson(repo, c)) };
      }
      case "POST /repos/{owner}/{repo}/issues/{index}/comments": {
        const issue = Number(params.index);
        if (!repo.pulls.has(issue)) return notFound;
        if (typeof fields.body !== "string" || fields.body === "") return { status: 422, error: "[Body]: Required" };
        const comment = { id: this.nextId++, issue, body: fields.body, user: this.botLogin, createdAt: NOW };
        repo.comments.push(comment);
        return { status: 201, body: this.commentJson(repo, comment) };
      }
      case "PATCH /repos/{owner}/{repo}/issues/comments/{id}": {
        const comment = repo.comments.find((c) => c.id === Number(params.id));
        if (!comment) return notFound;
        if (comment.user.toLowerCase() !== this.botLogin.toLowerCase()) return { status: 403, error: "user is not the poster" };
        if (typeof fields.body !== "string") return { status: 422, error: "[Body]: Required" };
        comment.body = fields.body;
        return { status: 200, body: this.commentJson(repo, comment) };
      }
      case "POST /repos/{owner}/{repo}/issues/comments/{id}/reactions": {
        const comment = repo.comments.find((c) => c.id === Number(params.id));
        if (!comment) return notFound;
        const content = String(fields.content ?? "");
        if (!["+1", "-1", "laugh", "hooray", "confused", "heart", "rocket", "eyes"].includes(content)) return { status: 403, error: `'${content}' is not an allowed reaction` };
        const existing = repo.reactions.some((r) => r.commentId === comment.id && r.content === content && r.user === this.botLogin);
        if (!existing) repo.reactions.push({ commentId: comment.id, content, user: this.botLogin });
        return { status: existing ? 200 : 201, body: { user: this.userJson(this.botLogin), content, created_at: NOW } };
      }
      case "POST /repos/{owner}/{repo}/statuses/{sha}": {
        const sha = params.sha ?? "";
        if (![...repo.commits.keys()].includes(sha)) return { status: 404, error: "GetCommit" };
        const state = String(fields.state ?? "");
        const status = { sha, state, context: String(fields.context ?? ""), description: String(fields.description ?? ""), ...(fields.target_url ? { targetUrl: String(fields.target_url) } : {}) };
        repo.statuses.push(status);
        return {
          status: 201,
          body: {
            id: this.nextId++,
            status: state,
            context: status.context,
            description: status.description,
            target_url: status.targetUrl ?? "",
            url: `${this.apiUrl}/repos/${repo.owner}/${repo.name}/statuses/${sha}`,
            creator: this.userJson(this.botLogin),
            created_at: NOW,
            updated_at: NOW,
          },
        };
      }
      case "GET /repos/{owner}/{repo}/collaborators/{collaborator}/permission": {
        const login = params.collaborator ?? "";
        if (login.toLowerCase() === repo.owner.toLowerCase()) return { status: 200, body: { permission: "owner", role_name: "owner", user: this.userJson(login) } };
        // Gitea answers only repository admins (and site admins) about other users.
        if (!this.botIsAdmin) return { status: 403, error: "Only admins can query all permissions, repo admins can query all repo permissions, collaborators can query only their own" };
        if (!this.userIds.has(login.toLowerCase())) return { status: 404, error: "GetUserByName" };
        // Anyone may read a public repository: a user who is no collaborator has read access.
        const permission = repo.collaborators.get(login.toLowerCase()) ?? "read";
        return { status: 200, body: { permission, role_name: permission, user: this.userJson(login) } };
      }
      case "GET /repos/{owner}/{repo}/collaborators": {
        const list = [...repo.collaborators].map(([login, permission]) => ({
          ...this.userJson(login),
          // Gogs 0.13 writes the flags beside the user.
          permissions: { admin: permission === "admin", push: permission !== "read", pull: true },
        }));
        return { status: 200, body: this.flavor === "gogs" ? list : list.map(({ permissions: _permissions, ...user }) => user) };
      }
      case "GET /repos/{owner}/{repo}/issues/{index}/labels": {
        const pull = repo.pulls.get(Number(params.index));
        if (!pull) return notFound;
        return { status: 200, body: pull.labels.map((id) => this.labelJson(repo, id)) };
      }
      case "POST /repos/{owner}/{repo}/issues/{index}/labels": {
        const pull = repo.pulls.get(Number(params.index));
        if (!pull) return notFound;
        const ids = Array.isArray(fields.labels) ? fields.labels : [];
        for (const id of ids) if (typeof id !== "number" || !repo.labels.has(id)) return { status: 422, error: `label ${String(id)} does not exist` };
        for (const id of ids as number[]) if (!pull.labels.includes(id)) pull.labels.push(id);
        return { status: 200, body: pull.labels.map((id) => this.labelJson(repo, id)) };
      }
      case "DELETE /repos/{owner}/{repo}/issues/{index}/labels/{id}": {
        const pull = repo.pulls.get(Number(params.index));
        if (!pull || !pull.labels.includes(Number(params.id))) return notFound;
        pull.labels = pull.labels.filter((id) => id !== Number(params.id));
        return { status: 204 };
      }
      case "GET /repos/{owner}/{repo}/labels":
        return { status: 200, body: [...repo.labels.keys()].map((id) => this.labelJson(repo, id)) };
      case "POST /repos/{owner}/{repo}/labels": {
        const name = String(fields.name ?? "");
        const color = String(fields.color ?? "");
        if (!name || !/^#[0-9a-fA-F]{6}$/.test(color)) return { status: 422, error: "[Color]: invalid" };
        if ([...repo.labels.values()].some((l) => l.name === name)) return { status: 422, error: "label already exists" };
        const id = this.nextId++;
        repo.labels.set(id, { name, color: color.slice(1) });
        return { status: 201, body: this.labelJson(repo, id) };
      }
      default:
        return undefined;
    }
  }

  // ---- answers, as the descriptions define them ----------------------------------------------

  private userJson(login: string): Record<string, unknown> {
    const id = this.userId(login);
    return { id, login, full_name: login, email: `${login}@noreply.example.com`, avatar_url: `${this.url}/avatars/${id}`, html_url: `${this.url}/${login}`, created: NOW, is_admin: false };
  }

  private repoJson(repo: FakeRepo, owner = repo.owner): Record<string, unknown> {
    const forked = owner !== repo.owner;
    return {
      id: forked ? repo.id + 50_000 + this.userId(owner) : repo.id,
      owner: this.userJson(owner),
      name: repo.name,
      full_name: `${owner}/${repo.name}`,
      fork: forked,
      html_url: `${this.url}/${owner}/${repo.name}`,
      clone_url: `${this.url}/${owner}/${repo.name}.git`,
      default_branch: repo.defaultBranch,
      private: false,
      created_at: NOW,
      updated_at: NOW,
    };
  }

  private pullJson(repo: FakeRepo, pull: FakePull): Record<string, unknown> {
    const head = this.repoJson(repo, pull.forkOwner ?? repo.owner);
    const base = this.repoJson(repo);
    const html = `${this.url}/${repo.owner}/${repo.name}/pulls/${pull.number}`;
    return {
      id: repo.id * 1000 + pull.number,
      number: pull.number,
      title: `PR ${pull.number}`,
      state: pull.state,
      user: this.userJson(pull.author),
      html_url: html,
      url: html,
      diff_url: `${html}.diff`,
      merged: pull.merged,
      mergeable: pull.state === "open",
      ...(pull.merged ? { merged_at: NOW, merge_commit_sha: pull.headSha } : {}),
      head: { label: pull.headRef, ref: pull.headRef, sha: pull.headSha, repo_id: head.id, repo: head },
      base: { label: pull.baseRef, ref: pull.baseRef, sha: repo.branches.get(pull.baseRef) ?? pull.headSha, repo_id: base.id, repo: base },
      created_at: NOW,
      updated_at: NOW,
    };
  }

  private commentJson(repo: FakeRepo, comment: FakeComment): Record<string, unknown> {
    return {
      id: comment.id,
      body: comment.body,
      user: this.userJson(comment.user),
      html_url: `${this.url}/${repo.owner}/${repo.name}/pulls/${comment.issue}#issuecomment-${comment.id}`,
      pull_request_url: `${this.url}/${repo.owner}/${repo.name}/pulls/${comment.issue}`,
      issue_url: "",
      created_at: comment.createdAt,
      updated_at: comment.createdAt,
    };
  }

  private labelJson(repo: FakeRepo, id: number): Record<string, unknown> {
    const label = repo.labels.get(id);
    return { id, name: label?.name ?? "", color: label?.color ?? "cccccc", description: "", url: `${this.apiUrl}/repos/${repo.owner}/${repo.name}/labels/${id}` };
  }
}
