/**
 * nock mocks of the GitHub REST endpoints berth uses, with a log of every call (to count API calls
 * and read what was written).
 */
import { gzipSync } from "node:zlib";
import nock from "nock";
import { appJson, type IssueComment } from "../fakes/github-api.js";
import { INSTALLATION_ID } from "./github-payloads.js";

export interface GitHubCall {
  method: string;
  path: string;
  body: any;
}

export interface GitHubMock {
  scope: nock.Scope;
  calls: GitHubCall[];
  /** Bodies of the status comment as created/edited, in order. */
  commentBodies: () => string[];
  /** Replies (other comments) posted. */
  replies: () => string[];
  statuses: () => Array<{ context: string; state: string; description: string; target_url?: string }>;
}

export interface MockOptions {
  repo?: string;
  /** berth.yml text on the default branch; null = no file. */
  config: string | null;
  /** Collaborator permission by login. */
  permissions?: Record<string, string>;
  /** Pull request returned by pulls.get. */
  pull?: Record<string, unknown>;
  /** Comments already on the PR, as `issues.listComments` answers (see `issueCommentJson`). Default none. */
  comments?: IssueComment[];
  /** The App `GET /app` describes (endpoint "app"); default id 1 (the harness's appId), slug "berth". */
  app?: { id: number; slug: string };
  /**
   * Endpoints to mock (each must be called, so no mock is left pending); default: those a PR
   * pipeline uses.
   */
  endpoints?: Endpoint[];
  /** Answer these endpoints only after this many ms (a slow or throttled GitHub). */
  delayMs?: Partial<Record<Endpoint, number>>;
}

export type Endpoint = "token" | "config" | "tarball" | "listComments" | "createComment" | "editComment" | "status" | "reaction" | "permission" | "pull" | "deployment" | "app";

const PIPELINE: Endpoint[] = ["token", "config", "tarball", "listComments", "createComment", "editComment", "status"];

const TARBALL = gzipSync(Buffer.alloc(1024));

/** Set up persistent mocks; callers assert on `calls` afterwards. */
export function mockGitHub(options: MockOptions): GitHubMock {
  const repo = options.repo ?? "Codertocat/Hello-World";
  const calls: GitHubCall[] = [];
  const record = (method: string) =>
    function (this: any, uri: string, body: any) {
      calls.push({ method, path: uri, body });
    };
  let nextCommentId = 5000;
  const scope = nock("https://api.github.com").persist();
  const wanted = new Set(options.endpoints ?? PIPELINE);
  const want = (endpoint: Endpoint) => wanted.has(endpoint);
  if (want("token")) {
    scope
      .post(`/app/installations/${INSTALLATION_ID}/access_tokens`)
      .reply(201, function (uri: string, body: unknown) {
        record("POST")(uri, body);
        return { token: "ghs_testtoken", expires_at: new Date(Date.now() + 3_600_000).toISOString(), permissions: { pull_requests: "write" }, repository_selection: "all" };
      });
  }
  if (want("config")) {
    scope.get(new RegExp(`^/repos/${repo}/contents/\\.github(%2F|/)berth\\.yml`)).query(true).reply(function (uri: string, body: unknown) {
      record("GET")(uri, body);
      if (options.config === null) return [404, { message: "Not Found" }];
      return [200, { type: "file", encoding: "base64", name: "berth.yml", path: ".github/berth.yml", content: Buffer.from(options.config).toString("base64") }];
    });
  }
  if (want("tarball")) {
    scope.get(new RegExp(`^/repos/${repo}/tarball/[0-9a-f]{40}$`)).reply(function (uri: string, body: unknown) {
      record("GET")(uri, body);
      return [200, TARBALL, { "content-type": "application/x-gzip" }];
    });
  }
  if (want("listComments")) {
    scope.get(new RegExp(`^/repos/${repo}/issues/\\d+/comments`)).query(true).reply(function (uri: string, body: unknown) {
      record("GET")(uri, body);
      return [200, options.comments ?? []];
    });
  }
  if (want("app")) {
    scope.get("/app").reply(function (uri: string, body: unknown) {
      record("GET")(uri, body);
      return [200, appJson(options.app ?? { id: 1, slug: "berth" })];
    });
  }
  if (want("createComment")) {
    scope.post(new RegExp(`^/repos/${repo}/issues/\\d+/comments$`)).reply(function (uri: string, body: unknown) {
      record("POST")(uri, body);
      return [201, { id: nextCommentId++, body: (body as { body: string }).body }];
    });
  }
  if (want("editComment")) {
    scope.patch(new RegExp(`^/repos/${repo}/issues/comments/\\d+$`)).reply(function (uri: string, body: unknown) {
      record("PATCH")(uri, body);
      return [200, { id: Number(uri.split("/").pop()), body: (body as { body: string }).body }];
    });
  }
  if (want("status")) {
    scope.post(new RegExp(`^/repos/${repo}/statuses/[0-9a-f]{40}$`)).reply(function (uri: string, body: unknown) {
      record("POST")(uri, body);
      return [201, { id: 1, ...(body as object) }];
    });
  }
  if (want("reaction")) {
    scope.post(new RegExp(`^/repos/${repo}/issues/comments/\\d+/reactions$`)).reply(function (uri: string, body: unknown) {
      record("POST")(uri, body);
      return [201, { id: 1, content: "eyes" }];
    });
  }
  if (want("permission")) {
    scope.get(new RegExp(`^/repos/${repo}/collaborators/[^/]+/permission$`)).reply(function (uri: string, body: unknown) {
      record("GET")(uri, body);
      const user = decodeURIComponent(uri.split("/").slice(-2)[0] ?? "");
      const permission = options.permissions?.[user] ?? "none";
      if (permission === "none") return [404, { message: "Not Found" }];
      return [200, { permission, role_name: permission, user: { login: user } }];
    });
  }
  if (want("deployment")) {
    scope.post(new RegExp(`^/repos/${repo}/deployments$`)).delay(options.delayMs?.deployment ?? 0).reply(function (uri: string, body: unknown) {
      record("POST")(uri, body);
      return [201, { id: 700 + calls.filter((c) => c.path.endsWith("/deployments")).length, ...(body as object) }];
    });
    scope.post(new RegExp(`^/repos/${repo}/deployments/\\d+/statuses$`)).reply(function (uri: string, body: unknown) {
      record("POST")(uri, body);
      return [201, { id: 1, ...(body as object) }];
    });
  }
  if (want("pull") && options.pull) {
    scope.get(new RegExp(`^/repos/${repo}/pulls/\\d+$`)).reply(function (uri: string, body: unknown) {
      record("GET")(uri, body);
      return [200, options.pull];
    });
  }
  const isStatusComment = (c: GitHubCall) => typeof c.body?.body === "string" && c.body.body.includes("<!-- berth:status -->");
  return {
    scope,
    calls,
    commentBodies: () => calls.filter((c) => /comments(\/\d+)?$/.test(c.path) && (c.method === "POST" || c.method === "PATCH") && isStatusComment(c)).map((c) => c.body.body as string),
    replies: () => calls.filter((c) => c.method === "POST" && /issues\/\d+\/comments$/.test(c.path) && !isStatusComment(c)).map((c) => c.body.body as string),
    statuses: () => calls.filter((c) => /\/statuses\/[0-9a-f]{40}$/.test(c.path)).map((c) => c.body),
  };
}
