/**
 * berth's dashboard, served at `/` on Probot's server: the overview, run pages (with the live
 * output of a running stage), repository pages and the actions, behind the sign-in of
 * `web/auth/auth.ts`. A user sees only repositories the code host lets them read: anything else
 * answers 404 as if it did not exist.
 */
import { expiresAt } from "../../pipeline/preview-lifecycle.js";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "pino";
import type { CodeHost } from "../../domain/ports.js";
import { repoKeyOf, type PullRecord, type RunRecord } from "../../domain/records.js";
import { reportUrl, stageLogUrl } from "../../domain/report-links.js";
import type { BotEvent, HostKind, RepoRef } from "../../domain/types.js";
import type { Html } from "../../render/html.js";
import type { ConfigLookup } from "../../pipeline/config-loader.js";
import type { RunEvents } from "../../pipeline/run-events.js";
import type { Store } from "../../pipeline/store.js";
import { readForm, type Auth } from "../auth/auth.js";
import type { Session } from "../auth/session.js";
import { BodyRefusedError, refusalStatus } from "../bounded-body.js";
import type { RouteHandler } from "../routes.js";
import { actionRequestSchema, performAction } from "./actions.js";
import { DASHBOARD_CSS, DASHBOARD_JS } from "./assets.js";
import { LiveLogStreams, type LiveSource, type StoredStageLog } from "./live-log.js";
import { layout, renderMessage, renderOverview, renderRepoPage, renderRunPage, type ActiveRunView, type PreviewView } from "./pages.js";

/** What the dashboard needs of the engine (the `Engine` is one). */
export interface DashboardBackend {
  readonly store: Store;
  readonly events: RunEvents;
  readonly replicaId: string;
  readonly reportBaseUrl: string;
  accept(event: BotEvent): Promise<boolean>;
  codeHost(repo: Pick<RepoRef, "host">): CodeHost | undefined;
  repoConfig(repo: RepoRef): Promise<ConfigLookup>;
}

export interface DashboardOptions {
  backend: DashboardBackend;
  auth: Auth;
  log: Logger;
  now?: () => number;
  /** Deadline of reading a repository's config for its page (ms; default 10 000). */
  configTimeoutMs?: number;
  live?: { maxBufferedBytes?: number; maxConnections?: number; heartbeatMs?: number };
}

/** Rows each list shows at most. */
const LIMITS = { recentRuns: 200, failures: 10, repoRuns: 30, audit: 20 } as const;

const SECURITY_HEADERS = {
  "content-security-policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
  "x-frame-options": "DENY",
  "referrer-policy": "same-origin",
  "x-content-type-options": "nosniff",
  "cache-control": "no-store",
} as const;

function send(res: ServerResponse, status: number, type: string, body: string, extra: Record<string, string> = {}): true {
  res.writeHead(status, { ...SECURITY_HEADERS, "content-type": `${type}; charset=utf-8`, ...extra });
  res.end(body);
  return true;
}

function wantsJson(req: IncomingMessage): boolean {
  return String(req.headers.accept ?? "").includes("application/json");
}

function withTimeout<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    work.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
      timer.unref();
    }),
  ]);
}

export function createDashboardRoutes(options: DashboardOptions): RouteHandler {
  const { backend, auth, log } = options;
  const store = backend.store;
  const now = options.now ?? Date.now;
  const streams = new LiveLogStreams({ events: backend.events, ...options.live });

  /** A preview row with its expiry, from the config it was deployed with. */
  async function previewView(pull: PullRecord): Promise<PreviewView> {
    const config = pull.preview ? (await store.getRun(pull.preview.runId))?.config?.preview : undefined;
    const expiry = config ? expiresAt(pull, config) : undefined;
    return expiry === undefined ? { pull } : { pull, expiresAt: expiry };
  }

  const page = (res: ServerResponse, status: number, title: string, body: Html, session?: Session): true =>
    send(res, status, "text/html", layout({ title, body, ...(session ? { session } : {}), replicaId: backend.replicaId }));
  const notFound = (res: ServerResponse, session: Session): true => page(res, 404, "Not found", renderMessage("Not found", "There is nothing here, or you cannot read the repository it belongs to."), session);

  /** The distinct repositories of `items`, those the user may read, as a set of keys. */
  async function readableKeys(session: Session, repos: RepoRef[]): Promise<Set<string>> {
    const distinct = new Map<string, RepoRef>();
    for (const repo of repos) distinct.set(repoKeyOf(repo), repo);
    return new Set((await auth.readable(session, [...distinct.values()])).map((repo) => repoKeyOf(repo)));
  }

  async function overview(res: ServerResponse, session: Session): Promise<true> {
    const [active, previews, recent] = await Promise.all([store.runsWithStatus(["queued", "running"]), store.pullsWithPreview(), store.recentRuns({ limit: LIMITS.recentRuns })]);
    const visible = await readableKeys(session, [...active, ...previews, ...recent].map((x) => x.repo));
    const can = (repo: RepoRef) => visible.has(repoKeyOf(repo));
    const queued = active.filter((run) => run.status === "queued");
    const activeViews: ActiveRunView[] = await Promise.all(
      active.filter((run) => can(run.repo)).map(async (run) => {
        const view: ActiveRunView = { run };
        if (run.status === "queued") view.position = queued.indexOf(run) + 1;
        else {
          const owner = (await store.runLease(run.id))?.owner;
          if (owner) view.owner = owner;
        }
        return view;
      }),
    );
    const audit = await store.auditLog(session.user.kind === "admin" ? { limit: LIMITS.audit } : { limit: LIMITS.audit, repoKeys: [...visible] });
    const repos = new Map<string, RepoRef>();
    for (const { repo } of [...active, ...previews, ...recent]) if (can(repo)) repos.set(repoKeyOf(repo), repo);
    return page(res, 200, "Overview", renderOverview({
      now: now(),
      session,
      repos: [...repos.values()].sort((a, b) => repoKeyOf(a).localeCompare(repoKeyOf(b))),
      active: activeViews,
      previews: await Promise.all(previews.filter((pull) => can(pull.repo)).map((pull) => previewView(pull))),
      failures: recent.filter((run) => run.status === "failed" && can(run.repo)).slice(0, LIMITS.failures),
      audit,
    }), session);
  }

  async function visibleRun(session: Session, runId: string): Promise<RunRecord | undefined> {
    const run = await store.getRun(runId);
    return run && (await auth.canRead(session, run.repo)) ? run : undefined;
  }

  async function runPage(res: ServerResponse, session: Session, runId: string): Promise<true> {
    const run = await visibleRun(session, runId);
    if (!run) return notFound(res, session);
    const [stages, lease, pull] = await Promise.all([store.stagesOf(run.id), store.runLease(run.id), run.prNumber > 0 ? store.getPull(run.prKey) : Promise.resolve(undefined)]);
    const live = run.status === "running" ? (lease?.owner === backend.replicaId ? { kind: "here" as const } : { kind: "elsewhere" as const, ...(lease?.owner ? { owner: lease.owner } : {}) }) : { kind: "none" as const };
    return page(res, 200, `Run ${run.id}`, renderRunPage({
      now: now(),
      session,
      run,
      stages,
      ...(lease ? { lease } : {}),
      ...(pull ? { pull } : {}),
      live,
      logUrl: (id) => stageLogUrl(backend.reportBaseUrl, id),
      reportUrl: (id) => reportUrl(backend.reportBaseUrl, id),
    }), session);
  }

  async function storedLogs(runId: string): Promise<StoredStageLog[]> {
    const logs: StoredStageLog[] = [];
    for (const stage of await store.stagesOf(runId)) {
      if (!stage.detail.logId) continue;
      const stored = await store.getLog(stage.detail.logId);
      if (stored) logs.push({ stage: stage.name, text: stored.text });
    }
    return logs;
  }

  async function liveSource(runId: string): Promise<LiveSource> {
    const run = await store.getRun(runId);
    if (!run || run.status === "queued") return { kind: "queued" };
    if (run.status === "running") {
      const owner = (await store.runLease(runId))?.owner;
      if (owner === backend.replicaId) return { kind: "here" };
      return { kind: "elsewhere", ...(owner ? { owner } : {}), stored: await storedLogs(runId) };
    }
    return { kind: "finished", stored: await storedLogs(runId) };
  }

  async function repoPage(res: ServerResponse, session: Session, ref: { host: HostKind; owner: string; name: string }): Promise<true> {
    const repoKey = repoKeyOf(ref);
    const runs = await store.recentRuns({ limit: LIMITS.repoRuns, repoKey });
    const previews = (await store.pullsWithPreview()).filter((pull) => repoKeyOf(pull.repo) === repoKey);
    const repo = runs[0]?.repo ?? previews[0]?.repo ?? (await store.openPulls()).find((pull) => repoKeyOf(pull.repo) === repoKey)?.repo;
    if (!repo || !(await auth.canRead(session, repo))) return notFound(res, session);
    let config: ConfigLookup | { kind: "unavailable"; error: string };
    try {
      config = await withTimeout(backend.repoConfig(repo), options.configTimeoutMs ?? 10_000, "reading the repository's config");
    } catch (error) {
      config = { kind: "unavailable", error: error instanceof Error ? error.message : String(error) };
    }
    const audit = await store.auditLog({ limit: LIMITS.audit, repoKeys: [repoKey] });
    return page(res, 200, `${repo.owner}/${repo.name}`, renderRepoPage({ now: now(), session, repo, runs, previews: await Promise.all(previews.map((pull) => previewView(pull))), config, audit }), session);
  }

  async function action(req: IncomingMessage, res: ServerResponse): Promise<true> {
    const session = auth.session(req);
    const json = wantsJson(req);
    const answer = (status: number, message: string, back = "/"): true =>
      json
        ? send(res, status, "application/json", JSON.stringify({ ok: status < 400, message }))
        : status < 400
          ? (res.writeHead(303, { ...SECURITY_HEADERS, location: back }), res.end(), true)
          : page(res, status, "Action", renderMessage(status === 403 ? "Refused" : "Not done", message), session);
    let form: URLSearchParams;
    try {
      form = await readForm(req);
    } catch (error) {
      return answer(error instanceof BodyRefusedError ? refusalStatus(error.reason) : 400, "The form could not be read.");
    }
    const verdict = auth.checkPost(req, session, form.get("_csrf") ?? undefined);
    if (!verdict.ok || !session) {
      log.warn({ reason: verdict.ok ? "no session" : verdict.reason }, "dashboard action refused: CSRF check");
      return answer(403, `Refused: ${verdict.ok ? "not signed in" : verdict.reason}.`);
    }
    const parsed = actionRequestSchema.safeParse(Object.fromEntries(form));
    if (!parsed.success) return answer(400, `Not an action: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
    const outcome = await performAction(parsed.data, session, {
      store,
      codeHost: (repo) => backend.codeHost(repo),
      accept: (event) => backend.accept(event),
      canRead: (s, repo) => auth.canRead(s, repo),
      log,
      now,
    });
    const referer = req.headers.referer ? new URL(req.headers.referer, "http://berth.local").pathname : "/";
    return answer(outcome.status, outcome.message, referer.startsWith("/") && !referer.startsWith("//") ? referer : "/");
  }

  return async (req, res) => {
    if (await auth.routes(req, res)) return true;
    const url = new URL(req.url ?? "/", "http://berth.local");
    const path = url.pathname;
    if (req.method === "GET" && path === "/dashboard/assets/dashboard.css") return send(res, 200, "text/css", DASHBOARD_CSS, { "cache-control": "max-age=300" });
    if (req.method === "GET" && path === "/dashboard/assets/dashboard.js") return send(res, 200, "text/javascript", DASHBOARD_JS, { "cache-control": "max-age=300" });

    const runMatch = /^\/runs\/([A-Za-z0-9_-]{1,64})(\/live)?\/?$/.exec(path);
    const repoMatch = /^\/repos\/(github|gitee)\/([^/]{1,200})\/([^/]{1,200})\/?$/.exec(path);
    const ours = path === "/" || runMatch !== null || repoMatch !== null || path.startsWith("/repos/") || path.startsWith("/runs/") || path === "/actions";
    if (!ours) return false;

    if (req.method === "POST" && path === "/actions") return action(req, res);
    if (req.method !== "GET" && req.method !== "HEAD") return send(res, 405, "text/plain", "method not allowed\n", { allow: "GET" });
    const session = auth.session(req);
    if (!session) {
      if (runMatch?.[2]) return send(res, 401, "text/plain", "sign in first\n");
      res.writeHead(302, { ...SECURITY_HEADERS, location: auth.signInUrl(`${path}${url.search}`) });
      res.end();
      return true;
    }
    if (path === "/") return overview(res, session);
    if (runMatch?.[1]) {
      if (!runMatch[2]) return runPage(res, session, runMatch[1]);
      const run = await visibleRun(session, runMatch[1]);
      if (!run) return send(res, 404, "text/plain", "not found\n");
      await streams.stream(res, run.id, () => liveSource(run.id));
      return true;
    }
    if (repoMatch) {
      let owner: string;
      let name: string;
      try {
        owner = decodeURIComponent(repoMatch[2]!);
        name = decodeURIComponent(repoMatch[3]!);
      } catch {
        return notFound(res, session);
      }
      return repoPage(res, session, { host: repoMatch[1] as HostKind, owner, name });
    }
    return notFound(res, session);
  };
}
