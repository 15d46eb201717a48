/**
 * In-process fake of the Harbor API v2.0 endpoints berth's `HarborClient` uses, on 127.0.0.1 with a
 * random port. It keeps state (projects, repositories, artifacts with digests and tags, scans that
 * go Pending → Running → Success after a set number of polls), checks Basic auth against one
 * account (robot names with `$` included), and checks every request AND every response it sends
 * against the Harbor Swagger spec: a departure is collected in `violations`, so a test fails
 * through `assertNoViolations()`.
 *
 * Where real Harbor is stricter than its spec, so is the fake: a repository name that contains `/`
 * must be URL-encoded twice (`a%252Fb`); encoded once it is a violation and a 404, as the real
 * router would not find it. A request for an operation the spec has but the fake does not
 * implement is a violation too, so new client calls cannot slip by untested.
 */
import { createHash } from "node:crypto";
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { readRequestBody, writeAnswer, type RecordedApiCall } from "./fake-http.js";
import { assertNoContractViolations, SwaggerContract } from "./swagger-contract.js";

/** Harbor's own v2.0 Swagger description, copied into the repository (tests never read outside it). */
export const HARBOR_SWAGGER_FILE = fileURLToPath(new URL("../fixtures/harbor/harbor-v2.0.swagger.yaml", import.meta.url));

let sharedContract: SwaggerContract | undefined;
/** The Harbor contract, loaded once per test file. */
export function harborContract(): SwaggerContract {
  sharedContract ??= SwaggerContract.fromFile(HARBOR_SWAGGER_FILE);
  return sharedContract;
}

/** Severities a Trivy report counts. */
export type FakeSeverity = "Critical" | "High" | "Medium" | "Low" | "Negligible" | "Unknown";

/** Settings of the fake. */
export interface FakeHarborOptions {
  /** The one account that authenticates (e.g. `robot$berth+ci`). */
  username: string;
  password: string;
  /** Whether the account may create projects; 403 otherwise. Default true. */
  canCreateProjects?: boolean;
  /** Reads with the scan overview a scan spends in Pending, then in Running, before it ends. Default 1 and 1. */
  scanPolls?: { pending: number; running: number };
  /** Least time a scan takes from its start (wall clock), on top of `scanPolls`: a slow scanner. Default 0. */
  scanMs?: number;
  contract?: SwaggerContract;
}

/** How a pushed artifact is set up. */
export interface FakePushOptions {
  tags: string[];
  /** Digest of the manifest (e.g. what the real registry reported); a known digest gains the tags. */
  digest?: string;
  size?: number;
  /** Findings the scan will report when it succeeds. */
  vulnerabilities?: Partial<Record<FakeSeverity, number>>;
  fixable?: number;
  /** How the scan ends. Default `Success`. */
  scanOutcome?: "Success" | "Error";
  /** `pending`: a scan starts now; `done`: already scanned; `none`: never scanned. Default: `pending` in an auto-scan project, else `none`. */
  scan?: "pending" | "done" | "none";
}

/** One call the fake received. */
export interface RecordedHarborCall extends RecordedApiCall {
  /** Account the request authenticated as, or null. */
  user: string | null;
}

/** A failure the fake plays instead of answering (retry and timeout tests). */
export type FakeHarborFault = { kind: "status"; status: number; body?: unknown } | { kind: "reset" } | { kind: "hang" };

type ScanState = "Pending" | "Running" | "Success" | "Error";

interface FakeTag {
  id: number;
  name: string;
  pushTime: string;
}

interface FakeScan {
  state: ScanState;
  polls: number;
  reportId: string;
  /** `Date.now()` when the scan started. */
  startedAt: number;
  /** `Date.now()` when the scan was first read as finished. */
  finishedAt?: number;
}

interface FakeArtifact {
  id: number;
  digest: string;
  size: number;
  pushTime: string;
  tags: FakeTag[];
  vulnerabilities: Partial<Record<FakeSeverity, number>>;
  fixable: number;
  scanOutcome: "Success" | "Error";
  scan: FakeScan | null;
}

interface FakeRepository {
  id: number;
  /** Name below the project (`team/app`). */
  name: string;
  artifacts: FakeArtifact[];
}

interface FakeProject {
  id: number;
  name: string;
  autoScan: boolean;
  repositories: Map<string, FakeRepository>;
}

interface ArmedFault {
  fault: FakeHarborFault;
  method: string | undefined;
  path: RegExp | undefined;
  remaining: number;
}

interface HandlerResult {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

interface HandlerContext {
  params: Record<string, string>;
  query: Record<string, string>;
  headers: IncomingHttpHeaders;
  body: unknown;
  /** Raw path, for Link headers. */
  rawPath: string;
}

type Handler = (ctx: HandlerContext) => HandlerResult;

const V11 = "application/vnd.security.vulnerability.report; version=1.1";
const V10 = "application/vnd.scanner.adapter.vuln.report.harbor+json; version=1.0";
const SEVERITY_ORDER: FakeSeverity[] = ["Critical", "High", "Medium", "Low", "Negligible", "Unknown"];
const NOW = "2024-05-01T10:00:00.000Z";
const NEVER = "0001-01-01T00:00:00.000Z";
const PROJECT_NAME = /^[a-z0-9]+(?:[._-][a-z0-9]+)*$/;
const TAG_NAME = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;

function errors(code: string, message: string): { errors: Array<{ code: string; message: string }> } {
  return { errors: [{ code, message }] };
}

const notFound = (message: string): HandlerResult => ({ status: 404, body: errors("NOT_FOUND", message) });


/** The fake server. Create with `FakeHarborApi.start(options)`, stop with `close()`. */
export class FakeHarborApi {
  /** Harbor address to give `HarborClient` (`http://127.0.0.1:<port>`). */
  url = "";
  readonly calls: RecordedHarborCall[] = [];
  readonly violations: string[] = [];
  private readonly server: Server;
  private readonly projects = new Map<string, FakeProject>();
  private readonly faults: ArmedFault[] = [];
  private readonly handlers: Record<string, Handler>;
  private readonly hanging = new Set<ServerResponse>();
  private readonly username: string;
  private readonly password: string;
  private canCreateProjects: boolean;
  private readonly scanPolls: { pending: number; running: number };
  private scanMs: number;
  private nextId = 1;

  private constructor(
    options: FakeHarborOptions,
    private readonly contract: SwaggerContract,
  ) {
    this.username = options.username;
    this.password = options.password;
    this.canCreateProjects = options.canCreateProjects ?? true;
    this.scanPolls = options.scanPolls ?? { pending: 1, running: 1 };
    this.scanMs = options.scanMs ?? 0;
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((error: unknown) => {
        this.violations.push(`fake crashed: ${error instanceof Error ? error.message : String(error)}`);
        if (!res.headersSent) res.writeHead(500).end();
      });
    });
    this.handlers = this.buildHandlers();
  }

  /** Start on 127.0.0.1:0. */
  static async start(options: FakeHarborOptions): Promise<FakeHarborApi> {
    const fake = new FakeHarborApi(options, options.contract ?? harborContract());
    await new Promise<void>((resolve) => fake.server.listen(0, "127.0.0.1", resolve));
    const { port } = fake.server.address() as AddressInfo;
    fake.url = `http://127.0.0.1:${port}`;
    return fake;
  }

  /** Stop the server, dropping hanging requests. */
  async close(): Promise<void> {
    for (const res of this.hanging) res.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Throw when any request or response departed from the spec. */
  assertNoViolations(): void {
    assertNoContractViolations(this.violations, "harbor fake");
  }

  // ---- state setup and inspection ---------------------------------------------------------------

  /** Create a project (as an administrator would); returns its id. */
  addProject(name: string, options: { autoScan?: boolean } = {}): number {
    const id = this.nextId++;
    this.projects.set(name, { id, name, autoScan: options.autoScan ?? false, repositories: new Map() });
    return id;
  }

  /** Make scans started from now on take at least `ms` (wall clock). */
  setScanMs(ms: number): void {
    this.scanMs = ms;
  }

  /** Let the account create projects, or not (403). */
  setCanCreateProjects(value: boolean): void {
    this.canCreateProjects = value;
  }

  /** Store an artifact as `docker push` would: a tag already in the repository moves to it. Returns its digest. */
  pushArtifact(project: string, repository: string, options: FakePushOptions): string {
    const owner = this.projects.get(project);
    if (!owner) throw new Error(`fake has no project ${project}`);
    let repo = owner.repositories.get(repository);
    if (!repo) {
      repo = { id: this.nextId++, name: repository, artifacts: [] };
      owner.repositories.set(repository, repo);
    }
    for (const artifact of repo.artifacts) artifact.tags = artifact.tags.filter((t) => !options.tags.includes(t.name));
    const known = options.digest ? repo.artifacts.find((a) => a.digest === options.digest) : undefined;
    if (known) {
      // Pushing a manifest the registry already has only adds tags, as with a real registry.
      known.tags.push(...options.tags.map((name) => ({ id: this.nextId++, name, pushTime: NOW })));
      return known.digest;
    }
    const id = this.nextId++;
    const digest = options.digest ?? `sha256:${createHash("sha256").update(`${project}/${repository}#${id}`).digest("hex")}`;
    const scan = options.scan ?? (owner.autoScan ? "pending" : "none");
    const artifact: FakeArtifact = {
      id,
      digest,
      size: options.size ?? 1000 + id,
      pushTime: NOW,
      tags: options.tags.map((name) => ({ id: this.nextId++, name, pushTime: NOW })),
      vulnerabilities: options.vulnerabilities ?? {},
      fixable: options.fixable ?? 0,
      scanOutcome: options.scanOutcome ?? "Success",
      scan: null,
    };
    if (scan !== "none") {
      artifact.scan = { state: "Pending", polls: 0, reportId: `report-${id}`, startedAt: Date.now() };
      if (scan === "done") artifact.scan = { ...artifact.scan, state: artifact.scanOutcome, finishedAt: Date.now() };
    }
    repo.artifacts.push(artifact);
    return digest;
  }

  /** A project as stored, if any. */
  project(name: string): { id: number; name: string; autoScan: boolean } | undefined {
    const project = this.projects.get(name);
    return project && { id: project.id, name: project.name, autoScan: project.autoScan };
  }

  /** Artifacts of a repository: digest, tags, scan state (and when the scan was first read as finished). */
  artifacts(project: string, repository: string): Array<{ digest: string; tags: string[]; scan: ScanState | null; scanFinishedAt?: number }> {
    const repo = this.projects.get(project)?.repositories.get(repository);
    return (repo?.artifacts ?? []).map((a) => ({
      digest: a.digest,
      tags: a.tags.map((t) => t.name),
      scan: a.scan?.state ?? null,
      ...(a.scan?.finishedAt !== undefined ? { scanFinishedAt: a.scan.finishedAt } : {}),
    }));
  }

  /** Every tag of a repository, sorted. */
  tags(project: string, repository: string): string[] {
    return this.artifacts(project, repository)
      .flatMap((a) => a.tags)
      .sort();
  }

  /** Play `fault` for the next `times` matching requests (all requests when no filter). */
  failNext(fault: FakeHarborFault, filter: { method?: string; path?: RegExp; times?: number } = {}): void {
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
      try {
        body = JSON.parse(raw.toString("utf8"));
      } catch {
        this.violations.push(`${method} ${url.pathname}: request body is not JSON`);
        body = raw.toString("utf8");
      }
    }
    const query = Object.fromEntries(url.searchParams);
    const user = this.authenticate(req.headers.authorization);
    const found = this.contract.match(method, url.pathname);
    const call: RecordedHarborCall = {
      method,
      path: url.pathname,
      template: "match" in found ? found.match.template : undefined,
      query,
      body,
      status: 0,
      user,
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
      this.send(res, method, fault.status, fault.body ?? errors("INTERNAL_SERVER_ERROR", `injected ${fault.status}`));
      return;
    }

    const answer = (result: HandlerResult, check = true): void => {
      call.status = result.status;
      if (check) {
        for (const v of this.contract.checkResponse({ method, path: url.pathname }, result.status, result.body)) this.violations.push(`response: ${v}`);
      }
      this.send(res, method, result.status, result.body, result.headers);
    };

    if ("violation" in found) {
      this.violations.push(`request: ${found.violation}`);
      answer(notFound("no such API"), false);
      return;
    }
    const requestViolations = this.contract.checkRequest({ method, path: url.pathname + url.search, headers: req.headers, body, contentType });
    if (requestViolations.length > 0) {
      this.violations.push(...requestViolations.map((v) => `request: ${v}`));
      answer({ status: 400, body: errors("BAD_REQUEST", `contract violation: ${requestViolations[0] ?? ""}`) }, false);
      return;
    }
    if (user === null) {
      answer({ status: 401, body: errors("UNAUTHORIZED", "unauthorized") });
      return;
    }
    const params = { ...found.match.pathParams };
    if (params.repository_name !== undefined) {
      // The checker decoded the segment once; Harbor's router decodes once too, so a `/` left
      // after one decoding means the client encoded only once and Harbor would not find the route.
      if (params.repository_name.includes("/")) {
        this.violations.push(`request: ${method} ${url.pathname}: repository_name '${params.repository_name}' must be URL-encoded twice`);
        answer(notFound(`repository ${params.repository_name} not found`), false);
        return;
      }
      params.repository_name = decodeURIComponent(params.repository_name);
    }
    const handler = this.handlers[`${method} ${found.match.template}`];
    if (!handler) {
      this.violations.push(`fake does not implement ${method} ${found.match.template}`);
      answer({ status: 501, body: errors("NOT_IMPLEMENTED", "not implemented by the fake") }, false);
      return;
    }
    answer(handler({ params, query, headers: req.headers, body, rawPath: url.pathname }));
  }

  private authenticate(header: string | undefined): string | null {
    const match = /^Basic ([A-Za-z0-9+/]+=*)$/.exec(header ?? "");
    if (!match?.[1]) return null;
    const decoded = Buffer.from(match[1], "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    if (colon < 0) return null;
    const user = decoded.slice(0, colon);
    return user === this.username && decoded.slice(colon + 1) === this.password ? user : null;
  }

  private takeFault(method: string, path: string): FakeHarborFault | undefined {
    const armed = this.faults.find((f) => f.remaining > 0 && (!f.method || f.method === method) && (!f.path || f.path.test(path)));
    if (!armed) return undefined;
    armed.remaining -= 1;
    return armed.fault;
  }

  private send(res: ServerResponse, method: string, status: number, payload: unknown, headers: Record<string, string> = {}): void {
    writeAnswer(res, status, payload, { headers, head: method === "HEAD" });
  }

  // ---- response shapes (as the spec declares them) -------------------------------------------

  private projectJson(project: FakeProject): Record<string, unknown> {
    return {
      project_id: project.id,
      owner_id: 1,
      name: project.name,
      creation_time: NOW,
      update_time: NOW,
      deleted: false,
      owner_name: "admin",
      togglable: true,
      current_user_role_ids: [1],
      repo_count: project.repositories.size,
      metadata: { public: "false", auto_scan: String(project.autoScan) },
    };
  }

  private tagJson(repo: FakeRepository, artifact: FakeArtifact, tag: FakeTag): Record<string, unknown> {
    return { id: tag.id, repository_id: repo.id, artifact_id: artifact.id, name: tag.name, push_time: tag.pushTime, pull_time: NEVER, immutable: false };
  }

  private artifactJson(
    project: FakeProject,
    repo: FakeRepository,
    artifact: FakeArtifact,
    options: { withTag: boolean; withScanOverview: boolean; acceptVulnerabilities: string | undefined },
  ): Record<string, unknown> {
    const reference = `/api/v2.0/projects/${project.name}/repositories/${encodeURIComponent(encodeURIComponent(repo.name))}/artifacts/${artifact.digest}`;
    const json: Record<string, unknown> = {
      id: artifact.id,
      type: "IMAGE",
      media_type: "application/vnd.oci.image.config.v1+json",
      manifest_media_type: "application/vnd.oci.image.manifest.v1+json",
      project_id: project.id,
      repository_id: repo.id,
      repository_name: `${project.name}/${repo.name}`,
      digest: artifact.digest,
      size: artifact.size,
      push_time: artifact.pushTime,
      pull_time: NEVER,
      addition_links: {
        build_history: { href: `${reference}/additions/build_history`, absolute: false },
        vulnerabilities: { href: `${reference}/additions/vulnerabilities`, absolute: false },
      },
    };
    // Harbor omits an empty tag list (null in Go); the spec has no null here, so the key is left out.
    if (options.withTag && artifact.tags.length > 0) json.tags = artifact.tags.map((tag) => this.tagJson(repo, artifact, tag));
    if (options.withScanOverview && artifact.scan) json.scan_overview = { [this.reportMime(options.acceptVulnerabilities)]: this.pollScan(artifact, artifact.scan) };
    return json;
  }

  /** The first MIME type of `X-Accept-Vulnerabilities` the fake knows (Harbor's rule), else v1.1. */
  private reportMime(header: string | undefined): string {
    for (const part of (header ?? "").split(",")) {
      const mime = part.trim().replace(/\s*;\s*/g, "; ");
      if (mime === V11 || mime === V10) return mime;
    }
    return V11;
  }

  /** One read of a scan: report the current state, then move it on. */
  private pollScan(artifact: FakeArtifact, scan: FakeScan): Record<string, unknown> {
    if (scan.state === "Pending" || scan.state === "Running") {
      const { pending, running } = this.scanPolls;
      const slow = Date.now() - scan.startedAt < this.scanMs;
      scan.state = scan.polls < pending ? "Pending" : scan.polls < pending + running || slow ? "Running" : artifact.scanOutcome;
      scan.polls += 1;
      if (scan.state !== "Running" && scan.state !== "Pending") scan.finishedAt = Date.now();
    }
    const overview: Record<string, unknown> = {
      report_id: scan.reportId,
      scan_status: scan.state,
      start_time: NOW,
      scanner: { name: "Trivy", vendor: "Aqua Security", version: "v0.50.1" },
    };
    if (scan.state === "Pending") overview.complete_percent = 0;
    if (scan.state === "Running") overview.complete_percent = 50;
    if (scan.state === "Error") overview.end_time = NOW;
    if (scan.state === "Success") {
      const counts: Record<string, number> = {};
      let total = 0;
      for (const severity of SEVERITY_ORDER) {
        const count = artifact.vulnerabilities[severity] ?? 0;
        if (count > 0) counts[severity] = count;
        total += count;
      }
      Object.assign(overview, {
        severity: SEVERITY_ORDER.find((s) => (artifact.vulnerabilities[s] ?? 0) > 0) ?? "None",
        duration: 12,
        end_time: NOW,
        complete_percent: 100,
        summary: { total, fixable: artifact.fixable, summary: counts },
      });
    }
    return overview;
  }

  // ---- handlers ------------------------------------------------------------------------------

  private paged<T>(items: T[], ctx: HandlerContext): { page: T[]; headers: Record<string, string> } {
    const page = Math.max(Number(ctx.query.page ?? 1), 1);
    const size = Number(ctx.query.page_size ?? 10) > 0 ? Number(ctx.query.page_size ?? 10) : 10;
    const link = (target: number): string => {
      const params = new URLSearchParams(ctx.query);
      params.set("page", String(target));
      params.set("page_size", String(size));
      return `<${ctx.rawPath}?${params.toString()}>`;
    };
    const links: string[] = [];
    if (page > 1) links.push(`${link(page - 1)}; rel="prev"`);
    if (page * size < items.length) links.push(`${link(page + 1)}; rel="next"`);
    const headers: Record<string, string> = { "X-Total-Count": String(items.length) };
    if (links.length > 0) headers.Link = links.join(" , ");
    return { page: items.slice((page - 1) * size, page * size), headers };
  }

  private findProject(name: string): FakeProject | undefined {
    return this.projects.get(name);
  }

  private locate(params: Record<string, string>): { project: FakeProject; repo: FakeRepository } | HandlerResult {
    const project = this.findProject(params.project_name ?? "");
    if (!project) return notFound(`project ${params.project_name ?? ""} not found`);
    const repo = project.repositories.get(params.repository_name ?? "");
    if (!repo) return notFound(`repository ${project.name}/${params.repository_name ?? ""} not found`);
    return { project, repo };
  }

  private locateArtifact(params: Record<string, string>): { project: FakeProject; repo: FakeRepository; artifact: FakeArtifact } | HandlerResult {
    const located = this.locate(params);
    if ("status" in located) return located;
    const reference = params.reference ?? "";
    const artifact = reference.includes(":")
      ? located.repo.artifacts.find((a) => a.digest === reference)
      : located.repo.artifacts.find((a) => a.tags.some((t) => t.name === reference));
    if (!artifact) return notFound(`artifact ${located.project.name}/${located.repo.name}:${reference} not found`);
    return { ...located, artifact };
  }

  /** Harbor's `q` for artifacts, as far as berth uses it: `tags=~x` (substring), `tags=x`, `tags=*`, `tags=nil`. */
  private artifactFilter(q: string | undefined): ((artifact: FakeArtifact) => boolean) | null {
    if (q === undefined || q === "") return () => true;
    const match = /^tags=(~?)(.+)$/.exec(q);
    if (!match?.[2]) return null;
    const [, fuzzy, value] = match;
    if (value === "*") return (a) => a.tags.length > 0;
    if (value === "nil") return (a) => a.tags.length === 0;
    return fuzzy ? (a) => a.tags.some((t) => t.name.includes(value)) : (a) => a.tags.some((t) => t.name === value);
  }

  private buildHandlers(): Record<string, Handler> {
    const repoPrefix = "/projects/{project_name}/repositories/{repository_name}";
    const artifactPrefix = `${repoPrefix}/artifacts/{reference}`;
    const flag = (value: string | undefined, fallback: boolean): boolean => (value === undefined ? fallback : value === "true");

    return {
      "HEAD /projects": ({ query }) => (this.findProject(query.project_name ?? "") ? { status: 200 } : { status: 404 }),

      "GET /projects/{project_name_or_id}": ({ params, headers }) => {
        const key = params.project_name_or_id ?? "";
        const byName = headers["x-is-resource-name"] === "true" || !/^\d+$/.test(key);
        const project = byName ? this.findProject(key) : [...this.projects.values()].find((p) => p.id === Number(key));
        return project ? { status: 200, body: this.projectJson(project) } : notFound(`project ${key} not found`);
      },

      "POST /projects": ({ body, headers }) => {
        const request = body as { project_name?: unknown; metadata?: { auto_scan?: unknown } };
        if (!this.canCreateProjects) return { status: 403, body: errors("FORBIDDEN", "forbidden") };
        const name = typeof request.project_name === "string" ? request.project_name : "";
        if (!PROJECT_NAME.test(name)) return { status: 400, body: errors("BAD_REQUEST", `project name ${name} is invalid`) };
        if (this.projects.has(name)) return { status: 409, body: errors("CONFLICT", `The project named ${name} already exists`) };
        const id = this.addProject(name, { autoScan: request.metadata?.auto_scan === "true" });
        const location = headers["x-resource-name-in-location"] === "true" ? name : String(id);
        return { status: 201, headers: { Location: `/api/v2.0/projects/${location}` } };
      },

      [`GET ${repoPrefix}/artifacts`]: (ctx) => {
        const located = this.locate(ctx.params);
        if ("status" in located) return located;
        const filter = this.artifactFilter(ctx.query.q);
        if (!filter) return { status: 400, body: errors("BAD_REQUEST", `the fake does not support q=${ctx.query.q ?? ""}`) };
        const matching = [...located.repo.artifacts].reverse().filter(filter);
        const { page, headers } = this.paged(matching, ctx);
        const options = {
          withTag: flag(ctx.query.with_tag, true),
          withScanOverview: flag(ctx.query.with_scan_overview, false),
          acceptVulnerabilities: ctx.headers["x-accept-vulnerabilities"] as string | undefined,
        };
        return { status: 200, headers, body: page.map((a) => this.artifactJson(located.project, located.repo, a, options)) };
      },

      [`GET ${artifactPrefix}`]: ({ params, query, headers }) => {
        const located = this.locateArtifact(params);
        if ("status" in located) return located;
        const options = {
          withTag: flag(query.with_tag, true),
          withScanOverview: flag(query.with_scan_overview, false),
          acceptVulnerabilities: headers["x-accept-vulnerabilities"] as string | undefined,
        };
        return { status: 200, body: this.artifactJson(located.project, located.repo, located.artifact, options) };
      },

      [`DELETE ${artifactPrefix}`]: ({ params }) => {
        const located = this.locateArtifact(params);
        if ("status" in located) return located;
        located.repo.artifacts = located.repo.artifacts.filter((a) => a !== located.artifact);
        return { status: 200 };
      },

      [`POST ${artifactPrefix}/scan`]: ({ params }) => {
        const located = this.locateArtifact(params);
        if ("status" in located) return located;
        const { artifact } = located;
        if (artifact.scan && (artifact.scan.state === "Pending" || artifact.scan.state === "Running")) {
          return { status: 409, body: errors("CONFLICT", `a previous scan process is ${artifact.scan.state}`) };
        }
        artifact.scan = { state: "Pending", polls: 0, reportId: `report-${artifact.id}-${this.nextId++}`, startedAt: Date.now() };
        return { status: 202 };
      },

      [`GET ${artifactPrefix}/tags`]: (ctx) => {
        const located = this.locateArtifact(ctx.params);
        if ("status" in located) return located;
        const { page, headers } = this.paged(located.artifact.tags, ctx);
        return { status: 200, headers, body: page.map((tag) => this.tagJson(located.repo, located.artifact, tag)) };
      },

      [`POST ${artifactPrefix}/tags`]: ({ params, body }) => {
        const located = this.locateArtifact(params);
        if ("status" in located) return located;
        const name = (body as { name?: unknown }).name;
        if (typeof name !== "string" || !TAG_NAME.test(name)) return { status: 400, body: errors("BAD_REQUEST", "invalid tag name") };
        if (located.repo.artifacts.some((a) => a.tags.some((t) => t.name === name))) {
          return { status: 409, body: errors("CONFLICT", `tag ${name} already exists`) };
        }
        located.artifact.tags.push({ id: this.nextId++, name, pushTime: NOW });
        return { status: 201, headers: { Location: `/api/v2.0/projects/${located.project.name}/repositories/${encodeURIComponent(encodeURIComponent(located.repo.name))}/artifacts/${located.artifact.digest}/tags/${name}` } };
      },

      [`DELETE ${artifactPrefix}/tags/{tag_name}`]: ({ params }) => {
        const located = this.locateArtifact(params);
        if ("status" in located) return located;
        const before = located.artifact.tags.length;
        located.artifact.tags = located.artifact.tags.filter((t) => t.name !== params.tag_name);
        return located.artifact.tags.length === before ? notFound(`tag ${params.tag_name ?? ""} not found`) : { status: 200 };
      },
    };
  }
}
