/**
 * The one client for Harbor's API v2.0: projects, artifacts, tags and vulnerability scans.
 *
 * - Basic auth is built here from the raw username and password (robot accounts such as
 *   `robot$project+berth` included); credentials never go into a URL.
 * - Deadline, retries (5xx, 429, resets, timeouts; never other 4xx), zod parsing and redacted
 *   errors come from the shared transport (`../http-transport.ts`); failures are `HarborApiError`,
 *   built from method, path, status and Harbor's `{errors:[{code,message}]}` only, then redacted.
 * - Repository names are URL-encoded twice in paths, as Harbor requires (`a/b` → `a%252Fb`).
 */
import type { Logger } from "pino";
import { z } from "zod";
import type { Redactor } from "../../domain/redact.js";
import { abortableSleep, HttpApiError, HttpTransport, oneLine, type HttpErrorDetails, type TransportRequest, type TransportResponse } from "../http-transport.js";
import { artifactPath, checkProjectName, checkRepositoryName, checkTagName, isDigest, repositoryPath } from "./harbor-paths.js";
import { harborArtifactSchema, harborErrorsSchema, harborProjectSchema, type HarborArtifactBody } from "./harbor-schemas.js";
import { isFinalScanStatus, parseScanOverview, VULNERABILITY_MIME_TYPES, type ScanSummary } from "./scan-summary.js";

export type { ScanStatus, ScanSummary } from "./scan-summary.js";

/** Settings of the Harbor client (from `BERTH_HARBOR_URL`, `_USERNAME`, `_PASSWORD`). */
export interface HarborClientOptions {
  /** Harbor's address, e.g. `https://harbor.example.com`; a trailing `/api/v2.0` is accepted. */
  url: string;
  /** User or robot account, e.g. `robot$project+berth`. */
  username: string;
  password: string;
  log: Logger;
  /** Deadline of one attempt (connect, send, answer). Default 15 s. */
  timeoutMs?: number;
  /** Retries after the first attempt on 5xx, resets and timeouts. Default 3. */
  retries?: number;
  /** First backoff delay, doubled per retry, plus up to 25 % jitter. Default 500 ms. */
  backoffMs?: number;
  /** Items per page when listing (Harbor allows at most 100). Default 100. */
  pageSize?: number;
  /** A listing longer than this fails instead of being cut short. Default 10 000. */
  maxListItems?: number;
  /** Waits between retries and scan polls; injected in tests. Must reject when `signal` aborts. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

/** A Harbor project as `ensureProject` found or created it. */
export interface HarborProject {
  name: string;
  /** Numeric id (Harbor's UI links use it). */
  projectId: number;
  /** Whether Harbor scans every pushed artifact by itself. */
  autoScan: boolean;
  /** True when this call created the project. */
  created: boolean;
}

/** One artifact (image manifest or index) of a repository. */
export interface HarborArtifact {
  id: number;
  digest: string;
  /** Bytes, as Harbor counts them (manifest + layers). */
  size: number;
  mediaType: string | undefined;
  pushTime: string | undefined;
  /** Every tag pointing at the artifact. */
  tags: string[];
  /** The vulnerability scan; `undefined` when the scan overview was not asked for. */
  scan: ScanSummary | undefined;
}

/** A tag and the artifact it points at. */
export interface HarborTagRef {
  name: string;
  digest: string;
  artifactId: number;
}

/** How `waitForScan` ended. */
export interface ScanWaitResult {
  /** `done`: the status is final (`Success`, `Error`, `Stopped`); `timeout`: the deadline passed first. */
  outcome: "done" | "timeout";
  scan: ScanSummary;
  artifact: HarborArtifact;
  polls: number;
}

/** A failed Harbor call or a refused operation. The message never carries credentials. */
export class HarborApiError extends HttpApiError {
  /** Path below `/api/v2.0`, without query. */
  declare readonly path: string;
  declare readonly method: string;

  /** `code`: Harbor's error code (`NOT_FOUND`, `FORBIDDEN`, ...) or the network error code (`ECONNRESET`, `ETIMEDOUT`). */
  constructor(message: string, details: HttpErrorDetails & { method: string; path: string }) {
    super(message, details);
    this.name = "HarborApiError";
  }
}

type HarborMethod = "GET" | "POST" | "DELETE";

/** A Harbor call: path below `/api/v2.0`, already encoded. */
interface HarborRequest extends TransportRequest {
  method: HarborMethod;
}

const ACCEPT_VULNERABILITIES = VULNERABILITY_MIME_TYPES.join(", ");

/** `CODE: message; CODE: message` from Harbor's `{errors:[…]}`, else the raw text. */
function describeErrorBody(text: string): { code: string | undefined; message: string } {
  try {
    const parsed = harborErrorsSchema.safeParse(JSON.parse(text));
    const errors = parsed.success ? (parsed.data.errors ?? []) : [];
    if (errors.length > 0) {
      const detail = errors.map((e) => [e.code, e.message].filter(Boolean).join(": ")).join("; ");
      return { code: errors[0]?.code, message: oneLine(detail, 300) };
    }
  } catch {
    // not JSON: use the text
  }
  return { code: undefined, message: oneLine(text, 200) };
}

/** Harbor API v2.0 client. */
export class HarborClient {
  /** Account name, for messages ("the account … may not create projects"). */
  readonly username: string;
  /** Removes the password (raw, URL-encoded, base64, and the Basic credential) from a text. */
  readonly redact: Redactor;
  private readonly http: HttpTransport;
  /** Harbor's address without trailing slash (UI links hang below it). */
  private readonly webBase: string;
  private readonly log: Logger;
  private readonly pageSize: number;
  private readonly maxListItems: number;
  private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;

  constructor(options: HarborClientOptions) {
    let url: URL;
    try {
      url = new URL(options.url);
    } catch {
      throw new Error("Harbor URL (BERTH_HARBOR_URL) is not a valid URL");
    }
    if (url.protocol !== "https:" && url.protocol !== "http:") throw new Error("Harbor URL (BERTH_HARBOR_URL) must be http(s)");
    if (url.username || url.password) {
      throw new Error("Harbor URL (BERTH_HARBOR_URL) must not contain credentials; use BERTH_HARBOR_USERNAME / BERTH_HARBOR_PASSWORD");
    }
    if (!options.username) throw new Error("Harbor username is missing (BERTH_HARBOR_USERNAME)");
    if (options.username.includes(":")) throw new Error("Harbor username must not contain ':' (Basic auth cannot carry it)");
    if (!options.password) throw new Error("Harbor password is missing (BERTH_HARBOR_PASSWORD)");

    this.username = options.username;
    const credential = Buffer.from(`${options.username}:${options.password}`, "utf8").toString("base64");
    this.log = options.log;
    this.pageSize = Math.min(Math.max(options.pageSize ?? 100, 1), 100);
    this.maxListItems = options.maxListItems ?? 10_000;
    this.sleep = options.sleep ?? abortableSleep;

    const prefix = url.pathname.replace(/\/+$/, "").replace(/\/api\/v2\.0$/, "");
    this.webBase = `${url.origin}${prefix}`;
    this.http = new HttpTransport({
      name: "harbor",
      label: "Harbor API",
      baseUrl: `${this.webBase}/api/v2.0`,
      headers: { Authorization: `Basic ${credential}`, Accept: "application/json", "User-Agent": "berth" },
      log: options.log,
      secrets: [options.password, credential],
      timeoutMs: options.timeoutMs ?? 15_000,
      retries: options.retries ?? 3,
      backoffMs: options.backoffMs ?? 500,
      maxResponseBytes: 32 * 1024 * 1024,
      requestIdHeader: "X-Request-Id",
      describeError: describeErrorBody,
      createError: (message, details) => new HarborApiError(message, { ...details, method: details.method ?? "", path: details.path ?? "" }),
      sleep: this.sleep,
    });
    this.redact = this.http.redact;
  }

  // ---- projects ------------------------------------------------------------------------------

  /**
   * Make sure the project exists: read it, or create it (private, with `metadata.auto_scan` set to
   * `options.autoScan`) when missing. An existing project is left as it is; its `autoScan` tells
   * whether berth must trigger scans itself. A 403 on creation becomes an error saying the account
   * may not create projects.
   */
  async ensureProject(name: string, options: { autoScan: boolean }): Promise<HarborProject> {
    checkProjectName(name);
    const existing = await this.readProject(name);
    if (existing) {
      this.log.debug({ project: name, projectId: existing.projectId, autoScan: existing.autoScan }, "harbor project exists");
      return { ...existing, created: false };
    }
    const req: HarborRequest = {
      method: "POST",
      path: "/projects",
      body: { project_name: name, metadata: { public: "false", auto_scan: String(options.autoScan) } },
      accept: [403, 409],
    };
    const res = await this.send(req);
    if (res.status === 403) {
      const { code, message: detail } = describeErrorBody(res.text);
      throw new HarborApiError(
        this.redact(
          `Harbor project "${name}" does not exist and the Harbor account "${this.username}" may not create projects ` +
            `(403${detail ? ` ${detail}` : ""}). Create the project in Harbor${options.autoScan ? " with automatic scanning" : ""}, ` +
            `or give berth an account that may create projects.`,
        ),
        { method: req.method, path: req.path, status: 403, code: code ?? "FORBIDDEN" },
      );
    }
    // 201, or 409 when someone created it meanwhile: either way it exists now.
    const project = await this.readProject(name);
    if (!project) {
      throw new HarborApiError(`Harbor project "${name}" was created but cannot be read back`, { method: "GET", path: `/projects/${name}`, code: "NOT_FOUND" });
    }
    const created = res.status === 201;
    this.log.info({ project: name, projectId: project.projectId, autoScan: project.autoScan, created }, "harbor project ensured");
    return { ...project, created };
  }

  private async readProject(name: string): Promise<Omit<HarborProject, "created"> | null> {
    const req: HarborRequest = {
      method: "GET",
      path: `/projects/${encodeURIComponent(name)}`,
      // A numeric project name would otherwise be read as an id.
      headers: { "X-Is-Resource-Name": "true" },
      accept: [404],
    };
    const res = await this.send(req);
    if (res.status === 404) return null;
    const body = this.parse(req, res, harborProjectSchema);
    return { name: body.name, projectId: body.project_id, autoScan: body.metadata?.auto_scan === "true" };
  }

  // ---- artifacts -----------------------------------------------------------------------------

  /**
   * Read an artifact by tag or digest, with its tags and (when asked) its scan summary.
   * A missing artifact throws a `HarborApiError` with status 404; see `findArtifact`.
   */
  async getArtifact(
    project: string,
    repository: string,
    reference: string,
    options: { withScanOverview?: boolean; signal?: AbortSignal } = {},
  ): Promise<HarborArtifact> {
    const found = await this.readArtifact(project, repository, reference, options, false);
    if (!found) throw new Error("unreachable: a 404 was not accepted");
    return found;
  }

  /** Like `getArtifact`, but `null` when the artifact (or its repository or project) does not exist. */
  async findArtifact(
    project: string,
    repository: string,
    reference: string,
    options: { withScanOverview?: boolean; signal?: AbortSignal } = {},
  ): Promise<HarborArtifact | null> {
    return this.readArtifact(project, repository, reference, options, true);
  }

  private async readArtifact(
    project: string,
    repository: string,
    reference: string,
    options: { withScanOverview?: boolean; signal?: AbortSignal },
    allowMissing: boolean,
  ): Promise<HarborArtifact | null> {
    const withScan = options.withScanOverview === true;
    const req: HarborRequest = {
      method: "GET",
      path: artifactPath(project, repository, reference),
      query: { with_tag: true, with_scan_overview: withScan ? true : undefined },
      headers: withScan ? { "X-Accept-Vulnerabilities": ACCEPT_VULNERABILITIES } : undefined,
      accept: allowMissing ? [404] : [],
      signal: options.signal,
    };
    const res = await this.send(req);
    if (res.status === 404) return null;
    return toArtifact(this.parse(req, res, harborArtifactSchema), withScan);
  }

  /** Every artifact of a repository matching Harbor's `q` (e.g. `tags=~pr-12-`), all pages. */
  async listArtifacts(project: string, repository: string, options: { q?: string; withScanOverview?: boolean } = {}): Promise<HarborArtifact[]> {
    const withScan = options.withScanOverview === true;
    const bodies = await this.paginate(
      {
        method: "GET",
        path: `${repositoryPath(project, repository)}/artifacts`,
        query: { q: options.q, with_tag: true, with_scan_overview: withScan ? true : undefined },
        headers: withScan ? { "X-Accept-Vulnerabilities": ACCEPT_VULNERABILITIES } : undefined,
      },
      harborArtifactSchema,
    );
    return bodies.map((body) => toArtifact(body, withScan));
  }

  /**
   * Every tag of the repository's artifacts that match `q` (Harbor's artifact query, e.g.
   * `tags=~pr-12-`; note that Harbor returns all tags of a matching artifact), all pages.
   */
  async listTags(project: string, repository: string, options: { q?: string } = {}): Promise<HarborTagRef[]> {
    const artifacts = await this.listArtifacts(project, repository, { q: options.q });
    return artifacts.flatMap((artifact) => artifact.tags.map((name) => ({ name, digest: artifact.digest, artifactId: artifact.id })));
  }

  /** Delete an artifact and all its tags. Returns false when it did not exist (which is fine). */
  async deleteArtifact(project: string, repository: string, reference: string): Promise<boolean> {
    const res = await this.send({ method: "DELETE", path: artifactPath(project, repository, reference), accept: [404] });
    const deleted = res.status !== 404;
    this.log.info({ project, repository, reference, deleted }, "harbor artifact deleted");
    return deleted;
  }

  // ---- tags ----------------------------------------------------------------------------------

  /**
   * Add a tag to an existing artifact (promotion without a rebuild). Returns `already-present`
   * when the tag already points at this very artifact; a tag on another artifact is an error
   * with code `CONFLICT`.
   */
  async addTag(project: string, repository: string, reference: string, tag: string): Promise<"created" | "already-present"> {
    checkTagName(tag);
    const req: HarborRequest = { method: "POST", path: `${artifactPath(project, repository, reference)}/tags`, body: { name: tag }, accept: [409] };
    const res = await this.send(req);
    if (res.status !== 409) {
      this.log.info({ project, repository, reference, tag }, "harbor tag added");
      return "created";
    }
    const [target, tagged] = await Promise.all([this.getArtifact(project, repository, reference), this.findArtifact(project, repository, tag)]);
    if (tagged?.digest === target.digest) return "already-present";
    throw new HarborApiError(`Harbor tag "${tag}" of ${project}/${repository} already points at another artifact (${tagged?.digest ?? "unknown"})`, {
      method: req.method,
      path: req.path,
      status: 409,
      code: "CONFLICT",
    });
  }

  /** Remove one tag from an artifact (the artifact stays). Returns false when the tag did not exist. */
  async deleteTag(project: string, repository: string, reference: string, tag: string): Promise<boolean> {
    checkTagName(tag);
    const res = await this.send({
      method: "DELETE",
      path: `${artifactPath(project, repository, reference)}/tags/${encodeURIComponent(tag)}`,
      accept: [404],
    });
    const deleted = res.status !== 404;
    this.log.info({ project, repository, reference, tag, deleted }, "harbor tag deleted");
    return deleted;
  }

  // ---- scans ---------------------------------------------------------------------------------

  /**
   * Ask Harbor to scan an artifact for vulnerabilities. `already-running` when a scan of it is
   * pending or running (Harbor answers 409).
   */
  async scan(project: string, repository: string, reference: string): Promise<"started" | "already-running"> {
    const res = await this.send({
      method: "POST",
      path: `${artifactPath(project, repository, reference)}/scan`,
      body: { scan_type: "vulnerability" },
      accept: [409],
    });
    const outcome = res.status === 409 ? "already-running" : "started";
    this.log.info({ project, repository, reference, outcome }, "harbor scan requested");
    return outcome;
  }

  /**
   * Poll the artifact until its scan status is final or `timeoutMs` has passed (then `timeout`
   * with the last summary seen). Aborting `signal` rejects with its reason.
   */
  async waitForScan(
    project: string,
    repository: string,
    reference: string,
    options: { timeoutMs: number; intervalMs: number; signal?: AbortSignal },
  ): Promise<ScanWaitResult> {
    const started = Date.now();
    const intervalMs = Math.max(options.intervalMs, 1);
    // Bounded by polls too, so an injected sleep that does not wait cannot spin forever.
    const maxPolls = Math.max(1, Math.ceil(options.timeoutMs / intervalMs) + 1);
    for (let polls = 1; ; polls++) {
      options.signal?.throwIfAborted();
      const artifact = await this.getArtifact(project, repository, reference, { withScanOverview: true, signal: options.signal });
      const scan = artifact.scan ?? parseScanOverview(undefined);
      const meta = { project, repository, reference, status: scan.status, polls, ms: Date.now() - started };
      if (isFinalScanStatus(scan.status)) {
        this.log.info(meta, "harbor scan finished");
        return { outcome: "done", scan, artifact, polls };
      }
      if (polls >= maxPolls || Date.now() - started + intervalMs > options.timeoutMs) {
        this.log.warn(meta, "harbor scan wait timed out");
        return { outcome: "timeout", scan, artifact, polls };
      }
      await this.sleep(intervalMs, options.signal);
    }
  }

  // ---- links ---------------------------------------------------------------------------------

  /**
   * Link to the artifact in Harbor's web UI. Harbor's UI routes by project id, so pass
   * `HarborProject.projectId`; a project name is put in as given.
   */
  artifactUiUrl(project: string | number, repository: string, digest: string): string {
    if (!isDigest(digest)) throw new Error("artifactUiUrl needs a digest (sha256:…)");
    const projectSegment = typeof project === "number" ? String(project) : encodeURIComponent(checkProjectName(project));
    return `${this.webBase}/harbor/projects/${projectSegment}/repositories/${encodeURIComponent(checkRepositoryName(repository))}/artifacts-tab/artifacts/${digest}`;
  }

  // ---- transport -----------------------------------------------------------------------------

  private async paginate<T>(req: HarborRequest, item: z.ZodType<T>): Promise<T[]> {
    const items: T[] = [];
    const listSchema = z.array(item);
    for (let page = 1; ; page++) {
      const res = await this.send({ ...req, query: { ...req.query, page, page_size: this.pageSize } });
      const batch = this.parse(req, res, listSchema);
      items.push(...batch);
      if (items.length > this.maxListItems) {
        throw this.http.fail(req, `lists more than ${this.maxListItems} items`, { code: "TOO_MANY_ITEMS" });
      }
      if (batch.length === 0) break;
      const hasNext = /rel\s*=\s*"?next"?/i.test(res.header("link") ?? "");
      const total = res.header("x-total-count");
      const totalSaysMore = total !== undefined && total !== "" && Number.isFinite(Number(total)) && items.length < Number(total);
      if (!hasNext && !totalSaysMore) break;
    }
    return items;
  }

  private parse<T>(req: HarborRequest, res: TransportResponse, schema: z.ZodType<T>): T {
    return this.http.parse(req, res, schema);
  }

  private send(req: HarborRequest): Promise<TransportResponse> {
    return this.http.send(req);
  }
}

function toArtifact(body: HarborArtifactBody, withScan: boolean): HarborArtifact {
  return {
    id: body.id,
    digest: body.digest,
    size: body.size ?? 0,
    mediaType: body.media_type,
    pushTime: body.push_time,
    tags: (body.tags ?? []).map((tag) => tag.name),
    scan: withScan ? parseScanOverview(body.scan_overview) : undefined,
  };
}
