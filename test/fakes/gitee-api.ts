/**
 * In-process fake of the Gitee API v5 endpoints berth's `GiteeHost` uses, on 127.0.0.1 with a random
 * port. It keeps state (repositories, commits, PRs, comments, labels, collaborators), records every
 * call, and checks every request AND every response it sends against the Gitee Swagger spec: a
 * departure is collected in `violations` (and the request answered 400), so a test fails through
 * `assertNoViolations()`. A request for an operation the spec has but the fake does not implement
 * is a violation too, so new client calls cannot slip by untested.
 */
import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { readRequestBody, writeAnswer, type RecordedApiCall } from "./fake-http.js";
import { assertNoContractViolations, SwaggerContract } from "./swagger-contract.js";

/** The Gitee v5 Swagger file (a copy of the shared contract, kept with the Gitee fixtures). */
export const GITEE_SWAGGER_FILE = fileURLToPath(new URL("../fixtures/gitee/gitee-v5.swagger.yaml", import.meta.url));

let sharedContract: SwaggerContract | undefined;
/** The Gitee contract, loaded once per test file (loading takes about half a second). */
export function giteeContract(): SwaggerContract {
  sharedContract ??= SwaggerContract.fromFile(GITEE_SWAGGER_FILE);
  return sharedContract;
}

/** Git file modes the fake stores: regular, executable, symlink. */
export type FakeFileMode = "100644" | "100755" | "120000";
/** File content for `addCommit`: text/bytes (mode 100644) or content with a mode. */
export type FakeFile = string | Buffer | { content: string | Buffer; mode: FakeFileMode };

interface StoredFile {
  blobSha: string;
  mode: FakeFileMode;
}

interface FakeUser {
  id: number;
  login: string;
}

interface FakePull {
  number: number;
  title: string;
  state: "open" | "closed" | "merged";
  headSha: string;
  headRef: string;
  baseRef: string;
  author: string;
  /** Owner of the head repository when the PR comes from a fork. */
  forkOwner?: string;
  labels: string[];
}

interface FakeComment {
  id: number;
  pr: number;
  body: string;
  user: string;
  createdAt: string;
  updatedAt: string;
}

interface FakeRepo {
  id: number;
  owner: string;
  name: string;
  defaultBranch: string;
  branches: Map<string, string>;
  commits: Map<string, Map<string, StoredFile>>;
  pulls: Map<number, FakePull>;
  comments: FakeComment[];
  labels: Map<string, { id: number; color: string }>;
  collaborators: Map<string, string>;
  /** Answer tree requests with `truncated: "true"`. */
  truncateTrees: boolean;
}

/** One call the fake received. */
export interface RecordedCall extends RecordedApiCall {
  /** Where the access token was found. */
  tokenIn: "query" | "body" | null;
}

/** A failure the fake plays instead of answering (retry and timeout tests). */
export type FakeFault =
  | { kind: "status"; status: number; body?: unknown }
  | { kind: "reset" }
  | { kind: "hang" };

interface ArmedFault {
  fault: FakeFault;
  method: string | undefined;
  path: RegExp | undefined;
  remaining: number;
}

interface HandlerResult {
  status: number;
  body?: unknown;
}

type Handler = (ctx: {
  params: Record<string, string>;
  query: Record<string, string>;
  body: unknown;
  repo: FakeRepo;
}) => HandlerResult;

/** A handler of an operation outside `/repos/{owner}/{repo}` (`GET /user`). */
type AccountHandler = (ctx: { query: Record<string, string> }) => HandlerResult;

const NOW = "2024-05-01T10:00:00+08:00";

function gitBlobSha(content: Buffer): string {
  return createHash("sha1").update(`blob ${content.length}\0`).update(content).digest("hex");
}


/** The fake server. Create with `FakeGiteeApi.start(token)`, stop with `close()`. */
export class FakeGiteeApi {
  /** Base URL to give `GiteeClient` (`http://127.0.0.1:<port>/api/v5`). */
  baseUrl = "";
  readonly calls: RecordedCall[] = [];
  readonly violations: string[] = [];
  private readonly server: Server;
  private readonly repos = new Map<string, FakeRepo>();
  private readonly blobs = new Map<string, Buffer>();
  private readonly users = new Map<string, FakeUser>();
  private readonly faults: ArmedFault[] = [];
  private readonly handlers: Record<string, Handler>;
  private readonly accountHandlers: Record<string, AccountHandler>;
  private readonly hanging = new Set<ServerResponse>();
  private nextId = 1000;

  private constructor(
    private readonly token: string,
    private readonly contract: SwaggerContract,
    /** Login the token belongs to (author of comments created through the API). */
    readonly botLogin: string,
  ) {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((error: unknown) => {
        this.violations.push(`fake crashed: ${error instanceof Error ? error.message : String(error)}`);
        if (!res.headersSent) res.writeHead(500).end();
      });
    });
    this.handlers = this.buildHandlers();
    this.accountHandlers = {
      // The token's own user: berth's account.
      "GET /v5/user": () => ({ status: 200, body: { ...this.userJson(this.botLogin), type: "User", created_at: NOW, updated_at: NOW } }),
    };
  }

  /** Start on 127.0.0.1:0. */
  static async start(options: { token: string; botLogin?: string; contract?: SwaggerContract }): Promise<FakeGiteeApi> {
    const fake = new FakeGiteeApi(options.token, options.contract ?? giteeContract(), options.botLogin ?? "berth-bot");
    await new Promise<void>((resolve) => fake.server.listen(0, "127.0.0.1", resolve));
    const { port } = fake.server.address() as AddressInfo;
    fake.baseUrl = `http://127.0.0.1:${port}/api/v5`;
    return fake;
  }

  async close(): Promise<void> {
    for (const res of this.hanging) res.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Throw when any request or response departed from the spec. */
  assertNoViolations(): void {
    assertNoContractViolations(this.violations, "gitee fake");
  }

  // ---- state setup -------------------------------------------------------------------------

  private user(login: string): FakeUser {
    let user = this.users.get(login.toLowerCase());
    if (!user) {
      user = { id: this.nextId++, login };
      this.users.set(login.toLowerCase(), user);
    }
    return user;
  }

  addRepo(init: { owner: string; name: string; defaultBranch?: string }): void {
    const repo: FakeRepo = {
      id: this.nextId++,
      owner: init.owner,
      name: init.name,
      defaultBranch: init.defaultBranch ?? "master",
      branches: new Map(),
      commits: new Map(),
      pulls: new Map(),
      comments: [],
      labels: new Map(),
      collaborators: new Map(),
      truncateTrees: false,
    };
    this.repos.set(`${init.owner}/${init.name}`.toLowerCase(), repo);
    this.user(init.owner);
  }

  private repo(owner: string, name: string): FakeRepo {
    const repo = this.repos.get(`${owner}/${name}`.toLowerCase());
    if (!repo) throw new Error(`fake has no repo ${owner}/${name}`);
    return repo;
  }

  /** Store a commit with these files; returns its SHA. `branch` is moved to it. */
  addCommit(owner: string, name: string, files: Record<string, FakeFile>, branch?: string): string {
    const repo = this.repo(owner, name);
    const tree = new Map<string, StoredFile>();
    const hash = createHash("sha1").update(`${owner}/${name}#${this.nextId++}`);
    for (const [path, file] of Object.entries(files).sort(([a], [b]) => (a < b ? -1 : 1))) {
      const content = typeof file === "string" || Buffer.isBuffer(file) ? Buffer.from(file) : Buffer.from(file.content);
      const mode = typeof file === "string" || Buffer.isBuffer(file) ? "100644" : file.mode;
      const blobSha = gitBlobSha(content);
      this.blobs.set(blobSha, content);
      tree.set(path, { blobSha, mode });
      hash.update(`${mode} ${path} ${blobSha}\n`);
    }
    const sha = hash.digest("hex");
    repo.commits.set(sha, tree);
    if (branch) repo.branches.set(branch, sha);
    return sha;
  }

  /** Replace a stored blob's bytes (to test integrity checks). */
  corruptBlob(blobSha: string, content: string): void {
    this.blobs.set(blobSha, Buffer.from(content));
  }

  /** Blob SHA of a file in a commit. */
  blobShaOf(owner: string, name: string, sha: string, path: string): string {
    const file = this.repo(owner, name).commits.get(sha)?.get(path);
    if (!file) throw new Error(`no ${path} in ${sha}`);
    return file.blobSha;
  }

  truncateTrees(owner: string, name: string, value = true): void {
    this.repo(owner, name).truncateTrees = value;
  }

  addPull(
    owner: string,
    name: string,
    pull: { number: number; headSha: string; headRef: string; baseRef?: string; author?: string; title?: string; state?: FakePull["state"]; forkOwner?: string },
  ): void {
    const repo = this.repo(owner, name);
    const author = pull.author ?? "alice";
    this.user(author);
    repo.pulls.set(pull.number, {
      number: pull.number,
      title: pull.title ?? `PR ${pull.number}`,
      state: pull.state ?? "open",
      headSha: pull.headSha,
      headRef: pull.headRef,
      baseRef: pull.baseRef ?? repo.defaultBranch,
      author,
      forkOwner: pull.forkOwner,
      labels: [],
    });
  }

  /** Change a PR as Gitee would after a push, close or merge. */
  updatePull(owner: string, name: string, number: number, change: Partial<Pick<FakePull, "headSha" | "state" | "forkOwner">>): void {
    const pull = this.repo(owner, name).pulls.get(number);
    if (!pull) throw new Error(`fake has no PR ${number}`);
    Object.assign(pull, change);
  }

  /** `permission` as Gitee words it (`admin`, `write`, `read`, ...); null removes the collaborator. */
  setCollaborator(owner: string, name: string, login: string, permission: string | null): void {
    const repo = this.repo(owner, name);
    this.user(login);
    if (permission === null) repo.collaborators.delete(login.toLowerCase());
    else repo.collaborators.set(login.toLowerCase(), permission);
  }

  /** A comment written by someone (not through the API). */
  addComment(owner: string, name: string, pr: number, body: string, user: string): number {
    const id = this.nextId++;
    this.user(user);
    this.repo(owner, name).comments.push({ id, pr, body, user, createdAt: NOW, updatedAt: NOW });
    return id;
  }

  comments(owner: string, name: string, pr: number): ReadonlyArray<Readonly<FakeComment>> {
    return this.repo(owner, name).comments.filter((c) => c.pr === pr);
  }

  prLabels(owner: string, name: string, pr: number): readonly string[] {
    return this.repo(owner, name).pulls.get(pr)?.labels ?? [];
  }

  repoLabels(owner: string, name: string): string[] {
    return [...this.repo(owner, name).labels.keys()];
  }

  addRepoLabel(owner: string, name: string, label: string, color = "cccccc"): void {
    this.repo(owner, name).labels.set(label, { id: this.nextId++, color });
  }

  /** Remove a label from the repository (as a maintainer would by hand); PRs keep no dangling label. */
  deleteRepoLabel(owner: string, name: string, label: string): void {
    const repo = this.repo(owner, name);
    repo.labels.delete(label);
    for (const pull of repo.pulls.values()) pull.labels = pull.labels.filter((l) => l !== label);
  }

  /** Play `fault` for the next `times` matching requests (all requests when no filter). */
  failNext(fault: FakeFault, filter: { method?: string; path?: RegExp; times?: number } = {}): void {
    this.faults.push({ fault, method: filter.method?.toUpperCase(), path: filter.path, remaining: filter.times ?? 1 });
  }

  // ---- HTTP ------------------------------------------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = (req.method ?? "GET").toUpperCase();
    const url = new URL(req.url ?? "/", "http://fake");
    const raw = await readRequestBody(req);
    const contentType = req.headers["content-type"];
    let body: unknown;
    if (raw.length > 0) {
      if ((contentType ?? "").includes("json")) {
        try {
          body = JSON.parse(raw.toString("utf8"));
        } catch {
          this.violations.push(`${method} ${url.pathname}: request body is not JSON`);
          body = raw.toString("utf8");
        }
      } else if ((contentType ?? "").includes("x-www-form-urlencoded")) {
        body = Object.fromEntries(new URLSearchParams(raw.toString("utf8")));
      } else {
        body = raw.toString("utf8");
      }
    }
    const query = Object.fromEntries(url.searchParams);
    const tokenIn =
      query.access_token === this.token
        ? "query"
        : typeof body === "object" && body !== null && (body as Record<string, unknown>).access_token === this.token
          ? "body"
          : null;
    const found = this.contract.match(method, url.pathname);
    const call: RecordedCall = {
      method,
      path: url.pathname,
      template: "match" in found ? found.match.template : undefined,
      query,
      body,
      status: 0,
      tokenIn,
    };
    this.calls.push(call);

    const fault = this.takeFault(method, url.pathname);
    if (fault) {
      if (fault.kind === "reset") {
        call.status = -1;
        req.socket.destroy();
        return;
      }
      if (fault.kind === "hang") {
        call.status = -1;
        this.hanging.add(res);
        res.on("close", () => this.hanging.delete(res));
        return;
      }
      call.status = fault.status;
      this.send(res, fault.status, fault.body ?? { message: `injected ${fault.status}` });
      return;
    }

    const answer = (status: number, payload?: unknown, check = true): void => {
      call.status = status;
      if (check) {
        for (const v of this.contract.checkResponse({ method, path: url.pathname }, status, payload)) this.violations.push(`response: ${v}`);
      }
      this.send(res, status, payload);
    };

    if ("violation" in found) {
      this.violations.push(`request: ${found.violation}`);
      answer(404, { message: "Not Found Project" }, false);
      return;
    }
    const requestViolations = this.contract.checkRequest({ method, path: url.pathname + url.search, body, contentType });
    if (requestViolations.length > 0) {
      this.violations.push(...requestViolations.map((v) => `request: ${v}`));
      answer(400, { message: `contract violation: ${requestViolations[0] ?? ""}` }, false);
      return;
    }
    if (!tokenIn) {
      answer(401, { message: "401 Unauthorized: Access token does not exist" });
      return;
    }
    const accountHandler = this.accountHandlers[`${method} ${found.match.template}`];
    if (accountHandler) {
      const result = accountHandler({ query });
      answer(result.status, result.body);
      return;
    }
    const handler = this.handlers[`${method} ${found.match.template}`];
    if (!handler) {
      this.violations.push(`fake does not implement ${method} ${found.match.template}`);
      answer(501, { message: "not implemented by the fake" }, false);
      return;
    }
    const repo = this.repos.get(`${found.match.pathParams.owner ?? ""}/${found.match.pathParams.repo ?? ""}`.toLowerCase());
    if (!repo) {
      answer(404, { message: "Not Found Project" });
      return;
    }
    const result = handler({ params: found.match.pathParams, query, body, repo });
    answer(result.status, result.body);
  }

  private takeFault(method: string, path: string): FakeFault | undefined {
    const armed = this.faults.find((f) => f.remaining > 0 && (!f.method || f.method === method) && (!f.path || f.path.test(path)));
    if (!armed) return undefined;
    armed.remaining -= 1;
    return armed.fault;
  }

  private send(res: ServerResponse, status: number, payload: unknown): void {
    writeAnswer(res, status, payload);
  }

  // ---- response shapes (as the spec declares them) -------------------------------------------

  private userJson(login: string): Record<string, unknown> {
    const user = this.user(login);
    return {
      id: user.id,
      login: user.login,
      name: user.login,
      avatar_url: `https://gitee.com/assets/${user.login}.png`,
      url: `https://gitee.com/api/v5/users/${user.login}`,
      html_url: `https://gitee.com/${user.login}`,
      type: "User",
      site_admin: false,
    };
  }

  private projectJson(repo: FakeRepo, owner = repo.owner): Record<string, unknown> {
    const ownerUser = this.user(owner);
    const forked = owner !== repo.owner;
    return {
      id: forked ? repo.id + 100_000 + ownerUser.id : repo.id,
      full_name: `${owner}/${repo.name}`,
      human_name: `${owner}/${repo.name}`,
      url: `https://gitee.com/api/v5/repos/${owner}/${repo.name}`,
      namespace: { id: ownerUser.id, type: "personal", name: owner, path: owner, html_url: `https://gitee.com/${owner}` },
      path: repo.name,
      name: repo.name,
      owner: this.userJson(owner),
      private: false,
      public: true,
      internal: false,
      fork: forked,
      html_url: `https://gitee.com/${owner}/${repo.name}`,
      default_branch: repo.defaultBranch,
    };
  }

  private pullJson(repo: FakeRepo, pull: FakePull): Record<string, unknown> {
    const headOwner = pull.forkOwner ?? repo.owner;
    const html = `https://gitee.com/${repo.owner}/${repo.name}/pulls/${pull.number}`;
    return {
      id: repo.id * 1000 + pull.number,
      url: `https://gitee.com/api/v5/repos/${repo.owner}/${repo.name}/pulls/${pull.number}`,
      html_url: html,
      diff_url: `${html}.diff`,
      patch_url: `${html}.patch`,
      number: pull.number,
      state: pull.state,
      title: pull.title,
      body: "",
      labels: pull.labels.map((name) => this.labelJson(repo, name)),
      created_at: NOW,
      updated_at: NOW,
      ...(pull.state === "open" ? {} : { closed_at: NOW }),
      ...(pull.state === "merged" ? { merged_at: NOW } : {}),
      mergeable: pull.state === "open",
      head: {
        label: `${headOwner}:${pull.headRef}`,
        ref: pull.headRef,
        sha: pull.headSha,
        user: this.userJson(headOwner),
        repo: this.projectJson(repo, headOwner),
      },
      base: {
        label: `${repo.owner}:${pull.baseRef}`,
        ref: pull.baseRef,
        sha: repo.branches.get(pull.baseRef) ?? "0".repeat(40),
        user: this.userJson(repo.owner),
        repo: this.projectJson(repo),
      },
      user: this.userJson(pull.author),
      assignees: [],
      testers: [],
    };
  }

  private commentJson(repo: FakeRepo, comment: FakeComment): Record<string, unknown> {
    return {
      id: comment.id,
      url: `https://gitee.com/api/v5/repos/${repo.owner}/${repo.name}/pulls/comments/${comment.id}`,
      html_url: `https://gitee.com/${repo.owner}/${repo.name}/pulls/${comment.pr}#note_${comment.id}`,
      pull_request_url: `https://gitee.com/api/v5/repos/${repo.owner}/${repo.name}/pulls/${comment.pr}`,
      body: comment.body,
      user: this.userJson(comment.user),
      created_at: comment.createdAt,
      updated_at: comment.updatedAt,
    };
  }

  private labelJson(repo: FakeRepo, name: string): Record<string, unknown> {
    const label = repo.labels.get(name);
    return {
      id: label?.id ?? 0,
      name,
      color: label?.color ?? "cccccc",
      repository_id: repo.id,
      url: `https://gitee.com/api/v5/repos/${repo.owner}/${repo.name}/labels/${encodeURIComponent(name)}`,
    };
  }

  private resolveRef(repo: FakeRepo, ref: string | undefined): Map<string, StoredFile> | undefined {
    const sha = ref === undefined ? repo.branches.get(repo.defaultBranch) : (repo.branches.get(ref) ?? ref);
    return sha === undefined ? undefined : repo.commits.get(sha);
  }

  private buildHandlers(): Record<string, Handler> {
    const notFound: HandlerResult = { status: 404, body: { message: "404 Not Found" } };
    const page = (query: Record<string, string>): { page: number; perPage: number } => ({
      page: Math.max(1, Number(query.page ?? "1")),
      perPage: Math.min(100, Math.max(1, Number(query.per_page ?? "20"))),
    });
    const slice = <T>(items: T[], query: Record<string, string>): T[] => {
      const { page: p, perPage } = page(query);
      return items.slice((p - 1) * perPage, p * perPage);
    };
    const prefix = "/v5/repos/{owner}/{repo}";

    return {
      [`GET ${prefix}/contents/{path}`]: ({ params, query, repo }) => {
        const files = this.resolveRef(repo, query.ref);
        const path = params.path ?? "";
        const file = files?.get(path);
        const content = file ? this.blobs.get(file.blobSha) : undefined;
        if (!file || !content) return notFound;
        return {
          status: 200,
          body: {
            type: "file",
            encoding: "base64",
            size: String(content.length),
            name: path.split("/").pop() ?? path,
            path,
            content: content.toString("base64"),
            sha: file.blobSha,
            url: `https://gitee.com/api/v5/repos/${repo.owner}/${repo.name}/contents/${path}`,
            html_url: `https://gitee.com/${repo.owner}/${repo.name}/blob/${query.ref ?? repo.defaultBranch}/${path}`,
            download_url: `https://gitee.com/${repo.owner}/${repo.name}/raw/${query.ref ?? repo.defaultBranch}/${path}`,
          },
        };
      },

      [`GET ${prefix}/git/trees/{sha}`]: ({ params, query, repo }) => {
        const files = this.resolveRef(repo, params.sha);
        if (!files) return notFound;
        const recursive = query.recursive === "1";
        const dirs = new Set<string>();
        const tree: Array<Record<string, unknown>> = [];
        for (const [path, file] of files) {
          const parts = path.split("/");
          for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join("/"));
          if (!recursive && parts.length > 1) continue;
          const size = this.blobs.get(file.blobSha)?.length ?? 0;
          tree.push({ path, mode: file.mode, type: "blob", sha: file.blobSha, size, url: `blobs/${file.blobSha}` });
        }
        for (const dir of dirs) {
          if (!recursive && dir.includes("/")) continue;
          const sha = createHash("sha1").update(`tree ${params.sha}/${dir}`).digest("hex");
          tree.push({ path: dir, mode: "040000", type: "tree", sha, url: `trees/${sha}` });
        }
        tree.sort((a, b) => (String(a.path) < String(b.path) ? -1 : 1));
        return { status: 200, body: { sha: params.sha, url: `trees/${params.sha}`, tree, truncated: repo.truncateTrees ? "true" : "false" } };
      },

      [`GET ${prefix}/git/blobs/{sha}`]: ({ params }) => {
        const content = this.blobs.get(params.sha ?? "");
        if (!content) return notFound;
        return { status: 200, body: { sha: params.sha, size: String(content.length), url: `blobs/${params.sha}`, content: content.toString("base64"), encoding: "base64" } };
      },

      [`GET ${prefix}/pulls/{number}`]: ({ params, repo }) => {
        const pull = repo.pulls.get(Number(params.number));
        return pull ? { status: 200, body: this.pullJson(repo, pull) } : notFound;
      },

      [`GET ${prefix}/pulls/{number}/comments`]: ({ params, query, repo }) => {
        if (!repo.pulls.has(Number(params.number))) return notFound;
        const comments = repo.comments.filter((c) => c.pr === Number(params.number));
        return { status: 200, body: slice(comments, query).map((c) => this.commentJson(repo, c)) };
      },

      [`POST ${prefix}/pulls/{number}/comments`]: ({ params, body, repo }) => {
        const pr = Number(params.number);
        if (!repo.pulls.has(pr)) return notFound;
        const text = (body as { body?: unknown }).body;
        if (typeof text !== "string" || text === "") return { status: 400, body: { message: "body is missing" } };
        const comment: FakeComment = { id: this.nextId++, pr, body: text, user: this.botLogin, createdAt: NOW, updatedAt: NOW };
        repo.comments.push(comment);
        return { status: 201, body: this.commentJson(repo, comment) };
      },

      [`GET ${prefix}/pulls/comments/{id}`]: ({ params, repo }) => {
        const comment = repo.comments.find((c) => c.id === Number(params.id));
        return comment ? { status: 200, body: this.commentJson(repo, comment) } : notFound;
      },

      [`GET ${prefix}/commits/{sha}`]: ({ params, repo }) => {
        // The spec takes a commit SHA or a branch name.
        const ref = params.sha ?? "";
        const sha = repo.branches.get(ref) ?? ref;
        if (!repo.commits.has(sha)) return notFound;
        const who = { name: repo.owner, email: `${repo.owner}@example.com`, date: NOW };
        return {
          status: 200,
          body: {
            url: `https://gitee.com/api/v5/repos/${repo.owner}/${repo.name}/commits/${sha}`,
            sha,
            html_url: `https://gitee.com/${repo.owner}/${repo.name}/commit/${sha}`,
            comments_url: `https://gitee.com/api/v5/repos/${repo.owner}/${repo.name}/commits/${sha}/comments`,
            commit: { author: who, committer: who, tree: { sha: createHash("sha1").update(`tree ${sha}`).digest("hex"), url: `trees/${sha}` } },
          },
        };
      },

      [`PATCH ${prefix}/pulls/comments/{id}`]: ({ params, body, repo }) => {
        const comment = repo.comments.find((c) => c.id === Number(params.id));
        if (!comment) return notFound;
        if (comment.user.toLowerCase() !== this.botLogin.toLowerCase()) return { status: 403, body: { message: "403 Forbidden" } };
        comment.body = String((body as { body?: unknown }).body);
        comment.updatedAt = "2024-05-01T10:05:00+08:00";
        return { status: 200, body: this.commentJson(repo, comment) };
      },

      [`GET ${prefix}/pulls/{number}/labels`]: ({ params, query, repo }) => {
        const pull = repo.pulls.get(Number(params.number));
        if (!pull) return notFound;
        return { status: 200, body: slice(pull.labels, query).map((name) => this.labelJson(repo, name)) };
      },

      [`POST ${prefix}/pulls/{number}/labels`]: ({ params, body, repo }) => {
        const pull = repo.pulls.get(Number(params.number));
        if (!pull) return notFound;
        const names = (body as { body?: unknown }).body;
        if (!Array.isArray(names) || names.length === 0) return { status: 400, body: { message: "body is missing" } };
        for (const name of names) {
          if (!repo.labels.has(String(name))) return { status: 404, body: { message: `Label ${String(name)} not found` } };
        }
        for (const name of names) if (!pull.labels.includes(String(name))) pull.labels.push(String(name));
        return { status: 201, body: this.labelJson(repo, String(names[0])) };
      },

      [`DELETE ${prefix}/pulls/{number}/labels/{name}`]: ({ params, repo }) => {
        const pull = repo.pulls.get(Number(params.number));
        if (!pull || !pull.labels.includes(params.name ?? "")) return notFound;
        pull.labels = pull.labels.filter((l) => l !== params.name);
        return { status: 204 };
      },

      [`GET ${prefix}/labels`]: ({ repo }) => ({ status: 200, body: [...repo.labels.keys()].map((name) => this.labelJson(repo, name)) }),

      [`POST ${prefix}/labels`]: ({ body, repo }) => {
        const { name, color } = body as { name?: unknown; color?: unknown };
        if (typeof name !== "string" || typeof color !== "string") return { status: 400, body: { message: "name and color are required" } };
        if (!/^#?[0-9a-fA-F]{6}$/.test(color)) return { status: 400, body: { message: "color is invalid" } };
        if (repo.labels.has(name)) return { status: 422, body: { message: "Name has already been taken" } };
        repo.labels.set(name, { id: this.nextId++, color: color.replace(/^#/, "") });
        return { status: 201, body: this.labelJson(repo, name) };
      },

      [`GET ${prefix}/collaborators/{username}/permission`]: ({ params, repo }) => {
        const login = params.username ?? "";
        const permission = repo.collaborators.get(login.toLowerCase());
        if (permission === undefined) return { status: 404, body: { message: "404 Not Found" } };
        const user = this.userJson(login);
        return { status: 200, body: { id: user.id, login: user.login, name: user.name, html_url: user.html_url, permission } };
      },
    };
  }
}
