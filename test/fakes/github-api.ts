/**
 * A small in-process GitHub REST API (node:http on 127.0.0.1) for integration tests that also talk
 * to a real Docker engine (nock would intercept the engine's socket). It serves the endpoints berth
 * uses, keeps comments and statuses, and records every call so tests can count them.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface RecordedCall {
  method: string;
  path: string;
  body: any;
}

export interface FakeRepo {
  /** Pull requests served by `pulls.get` (state changes without a webhook: lost deliveries). */
  pulls?: Map<number, Record<string, unknown>>;
  /** berth.yml on the default branch (null = none). */
  config: string | null;
  /** gzip'd tarballs by commit sha. */
  tarballs: Map<string, Buffer>;
  permissions: Map<string, string>;
}

export class FakeGitHubApi {
  readonly calls: RecordedCall[] = [];
  readonly repos = new Map<string, FakeRepo>();
  readonly comments = new Map<number, { id: number; issue: string; body: string }>();
  readonly deployments: Array<{ id: number; repo: string; environment: string; ref: string; statuses: Array<{ state: string; environment_url?: string }> }> = [];
  readonly statuses: Array<{ repo: string; sha: string; context: string; state: string; description: string; target_url?: string }> = [];
  private server?: Server;
  private nextId = 9000;

  /** Base URL to give Probot (`baseUrl`). */
  url = "";

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
    this.calls.push({ method, path, body });
    const json = (status: number, data: unknown) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(data));
    };

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
    if (method === "GET" && (match = /^tarball\/([0-9a-f]{40})$/.exec(rest))) {
      const tarball = repo.tarballs.get(match[1]!);
      if (!tarball) return json(404, { message: "Not Found" });
      res.writeHead(200, { "content-type": "application/x-gzip", "content-length": tarball.length });
      res.end(tarball);
      return;
    }
    if (method === "GET" && (match = /^issues\/(\d+)\/comments$/.exec(rest))) {
      const issue = `${fullName}#${match[1]}`;
      return json(200, [...this.comments.values()].filter((c) => c.issue === issue));
    }
    if (method === "POST" && (match = /^issues\/(\d+)\/comments$/.exec(rest))) {
      const comment = { id: this.nextId++, issue: `${fullName}#${match[1]}`, body: String(body.body) };
      this.comments.set(comment.id, comment);
      return json(201, comment);
    }
    if (method === "PATCH" && (match = /^issues\/comments\/(\d+)$/.exec(rest))) {
      const comment = this.comments.get(Number(match[1]));
      if (!comment) return json(404, { message: "Not Found" });
      comment.body = String(body.body);
      return json(200, comment);
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
