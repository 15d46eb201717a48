/**
 * Pure renderers of the dashboard's pages: view data in, HTML out. Every text that comes from a
 * repository, a pull request, a log or a config error goes through `html`'s escaping; links go
 * through `safeHref`. No I/O here (the routes gather the data).
 */
import { acceptanceOf } from "../../domain/acceptance.js";
import { stringify } from "yaml";
import { formatDuration } from "../../domain/duration.js";
import type { PullRecord, RunRecord, StageRecord } from "../../domain/records.js";
import { repoKeyOf } from "../../domain/records.js";
import type { RepoRef } from "../../domain/types.js";
import { html, link, raw, type Html, type HtmlValue } from "../../render/html.js";
import type { ConfigLookup } from "../../pipeline/config-loader.js";
import type { AuditEntry, RunLease } from "../../pipeline/store.js";
import type { Session } from "../auth/session.js";

/** `/repos/github/acme/app` */
export function repoPath(repo: Pick<RepoRef, "host" | "owner" | "name">): string {
  return `/repos/${encodeURIComponent(repo.host)}/${encodeURIComponent(repo.owner)}/${encodeURIComponent(repo.name)}`;
}

export function runPath(runId: string): string {
  return `/runs/${encodeURIComponent(runId)}`;
}

function shortSha(sha: string): string {
  return sha.slice(0, 7);
}

/** `3 min ago`, `2 h ago`. */
export function ago(at: number | undefined, now: number): string {
  if (at === undefined) return "—";
  const s = Math.max(0, Math.round((now - at) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86_400)} d ago`;
}

function time(at: number | undefined, now: number): Html {
  if (at === undefined) return html`—`;
  return html`<time datetime="${new Date(at).toISOString()}" title="${new Date(at).toISOString()}">${ago(at, now)}</time>`;
}

function badge(state: string): Html {
  return html`<span class="badge ${"s-" + state.replace(/[^a-z-]/g, "")}">${state}</span>`;
}

function repoName(repo: Pick<RepoRef, "host" | "owner" | "name">): string {
  return `${repo.owner}/${repo.name}`;
}

function runTitle(run: RunRecord): Html {
  const what = run.kind === "release" && run.release ? `${run.release.tag} → ${run.release.environment}` : run.prNumber > 0 ? `#${run.prNumber}` : run.kind;
  return html`${repoName(run.repo)} ${what}`;
}

export interface LayoutInput {
  title: string;
  body: Html;
  session?: Session;
  /** This replica's name, shown in the footer. */
  replicaId?: string;
}

/** The page around every dashboard view: viewport for phones, one stylesheet, one script. */
export function layout(input: LayoutInput): string {
  const user = input.session?.user;
  const who = user ? (user.kind === "admin" ? "admin (dashboard token)" : `${user.login} (${user.host})`) : undefined;
  const signOut = input.session
    ? html`<form method="post" action="/auth/sign-out" class="inline"><input type="hidden" name="_csrf" value="${input.session.csrf}"><button type="submit" class="link">Sign out</button></form>`
    : "";
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${input.title} · berth</title><link rel="stylesheet" href="/dashboard/assets/dashboard.css"><script src="/dashboard/assets/dashboard.js" defer></script></head>
<body${input.session ? html` data-csrf="${input.session.csrf}"` : ""}><header><a href="/" class="brand">berth</a><nav>${who ? html`<span class="who">${who}</span> ${signOut}` : html`<a href="/auth/sign-in">Sign in</a>`}</nav></header>
<main>${input.body}</main>
<footer>${input.replicaId ? html`served by replica <code>${input.replicaId}</code>` : ""}</footer></body></html>`.value;
}

/** A POST form for one action, with the CSRF token; the script sends it with fetch. */
function actionButton(session: Session, action: string, repo: RepoRef, prNumber: number, label: string, danger = false): Html {
  return html`<form method="post" action="/actions" class="action"><input type="hidden" name="_csrf" value="${session.csrf}"><input type="hidden" name="action" value="${action}"><input type="hidden" name="repo" value="${repoKeyOf(repo)}"><input type="hidden" name="pr" value="${prNumber}"><button type="submit"${danger ? raw(' class="danger"') : ""} data-confirm="${danger ? `${label} of ${repoName(repo)} #${prNumber}?` : ""}">${label}</button></form>`;
}

export interface ActiveRunView {
  run: RunRecord;
  /** 1-based place among queued runs. */
  position?: number;
  /** Replica holding the run's lease. */
  owner?: string;
}

export interface PreviewView {
  pull: PullRecord;
  /** When the preview is removed unless pushed to or kept (undefined: never, or unknown). */
  expiresAt?: number;
}

export interface OverviewView {
  now: number;
  session: Session;
  /** Repositories with recent runs or previews that the user can read, by name. */
  repos: RepoRef[];
  active: ActiveRunView[];
  previews: PreviewView[];
  failures: RunRecord[];
  audit: AuditEntry[];
}

function table(headers: readonly string[], rows: Html[], empty: string): Html {
  if (rows.length === 0) return html`<p class="empty">${empty}</p>`;
  return html`<div class="scroll"><table><thead><tr>${headers.map((h) => html`<th>${h}</th>`)}</tr></thead><tbody>${rows}</tbody></table></div>`;
}

function previewRows(previews: PreviewView[], now: number, session: Session, withRepo: boolean): Html[] {
  return previews.flatMap(({ pull, expiresAt }) => {
    const preview = pull.preview;
    if (!preview) return [];
    const acceptance = acceptanceOf(pull.acceptance, pull.headSha);
    const waiting = acceptance?.state === "pending" ? html` ${badge("waiting for acceptance")}` : acceptance?.state === "accepted" ? html` ${badge("accepted")}` : acceptance?.state === "rejected" ? html` ${badge("rejected")}` : "";
    return [html`<tr>${withRepo ? html`<td data-label="Repository">${link(repoPath(pull.repo), repoName(pull.repo))}</td>` : ""}<td data-label="PR">${link(pull.url, `#${pull.prNumber}`)}</td><td data-label="URL">${link(preview.url, preview.url, raw(' rel="noopener noreferrer"'))}</td><td data-label="Commit"><code>${shortSha(preview.sha)}</code></td><td data-label="Age">${time(preview.deployedAt, now)}</td><td data-label="Expires">${expiresAt === undefined ? "never" : new Date(expiresAt).toISOString().slice(0, 16).replace("T", " ")}</td><td data-label="Target">${preview.target} · ${badge(preview.sleeping ? "sleeping" : "awake")}${waiting}</td><td data-label="Actions" class="actions">${actionButton(session, "keep", pull.repo, pull.prNumber, "Keep")}${actionButton(session, "delete", pull.repo, pull.prNumber, "Delete preview", true)}</td></tr>`];
  });
}

function auditTable(entries: AuditEntry[], now: number): Html {
  return table(
    ["When", "Who", "Repository", "Action", "Result"],
    entries.map((e) => html`<tr class="audit"><td data-label="When">${time(e.at, now)}</td><td data-label="Who">${e.actor}</td><td data-label="Repository">${e.repoKey}</td><td data-label="Action">${e.action} ${e.target}</td><td data-label="Result">${badge(e.result)}${e.detail ? html` <span class="detail">${e.detail}</span>` : ""}</td></tr>`),
    "No dashboard actions yet.",
  );
}

export function renderOverview(view: OverviewView): Html {
  const { now, session } = view;
  const active = table(
    ["Run", "Status", "Commit", "Stages", "Queued", "Replica"],
    view.active.map(({ run, position, owner }) => html`<tr data-run="${run.id}"><td data-label="Run">${link(runPath(run.id), runTitle(run))}</td><td data-label="Status">${badge(run.status)}${position !== undefined ? html` <span class="detail">#${position} in queue</span>` : ""}</td><td data-label="Commit"><code>${shortSha(run.sha)}</code></td><td data-label="Stages">${run.plan.join(" → ") || "—"}</td><td data-label="Queued">${time(run.createdAt, now)}</td><td data-label="Replica">${owner ? html`<code>${owner}</code>` : "—"}</td></tr>`),
    "Nothing is queued or running.",
  );
  const previews = table(["Repository", "PR", "URL", "Commit", "Age", "Expires", "Target", "Actions"], previewRows(view.previews, now, session, true), "No previews are running.");
  const failures = table(
    ["Run", "Commit", "Why", "Finished"],
    view.failures.map((run) => html`<tr><td data-label="Run">${link(runPath(run.id), runTitle(run))}</td><td data-label="Commit"><code>${shortSha(run.sha)}</code></td><td data-label="Why">${run.reason ?? "failed"}</td><td data-label="Finished">${time(run.finishedAt, now)}</td></tr>`),
    "No recent failures.",
  );
  const repos = view.repos.length
    ? html`<ul class="repos">${view.repos.map((repo) => html`<li>${link(repoPath(repo), repoName(repo))} <small>${repo.host}</small></li>`)}</ul>`
    : html`<p class="empty">No repository you can read has runs yet.</p>`;
  return html`<h1>Overview</h1><section><h2>Running and queued</h2>${active}</section><section><h2>Previews</h2>${previews}</section><section><h2>Recent failures</h2>${failures}</section><section><h2>Repositories</h2>${repos}</section><section><h2>Dashboard actions</h2>${auditTable(view.audit, now)}</section>`;
}

export interface RunView {
  now: number;
  session: Session;
  run: RunRecord;
  stages: StageRecord[];
  lease?: RunLease;
  pull?: PullRecord;
  /** Where the live log comes from: this replica, another one (by name), or none (not running). */
  live: { kind: "here" } | { kind: "elsewhere"; owner?: string } | { kind: "none" };
  logUrl: (logId: string) => string;
  reportUrl: (reportId: string) => string;
}

function stageTiming(stage: StageRecord, now: number): string {
  if (stage.startedAt === undefined) return "—";
  return formatDuration((stage.finishedAt ?? now) - stage.startedAt) + (stage.finishedAt === undefined ? " so far" : "");
}

export function renderRunPage(view: RunView): Html {
  const { run, now, session } = view;
  const stages = table(
    ["Stage", "State", "Started", "Took", "Links"],
    view.stages.map((stage) => {
      const links: HtmlValue[] = [];
      if (stage.detail.logId) links.push(link(view.logUrl(stage.detail.logId), "stored log"));
      if (stage.detail.tests?.reportId) links.push(html` ${link(view.reportUrl(stage.detail.tests.reportId), "test report")}`);
      if (stage.detail.preview?.url) links.push(html` ${link(stage.detail.preview.url, "preview", raw(' rel="noopener noreferrer"'))}`);
      return html`<tr data-stage="${stage.name}"><td data-label="Stage">${stage.name}</td><td data-label="State">${badge(stage.state)}${stage.detail.reason ? html` <span class="detail">${stage.detail.reason}</span>` : ""}</td><td data-label="Started">${time(stage.startedAt, now)}</td><td data-label="Took">${stageTiming(stage, now)}</td><td data-label="Links">${links.length ? links : "—"}</td></tr>`;
    }),
    "This run has no stages.",
  );
  const running = run.status === "running" || run.status === "queued";
  const liveNote =
    view.live.kind === "here"
      ? "Streaming live from this replica."
      : view.live.kind === "elsewhere"
        ? `This run executes on replica ${view.live.owner ?? "(unknown)"}, so its live output is only there; the stored logs of its finished stages follow.`
        : run.status === "queued"
          ? "The run is queued; reload once it starts."
          : "The run is over; the end of each stage's stored log follows.";
  const actions: Html[] = [];
  if (run.prNumber > 0 && view.pull) {
    if (running) actions.push(actionButton(session, "cancel", run.repo, run.prNumber, "Cancel run", true));
    if (run.kind === "pipeline") {
      actions.push(actionButton(session, "redeploy", run.repo, run.prNumber, "Re-run build and deploy (/deploy)"));
      if (run.plan.includes("test") || run.config?.test) actions.push(actionButton(session, "retest", run.repo, run.prNumber, "Re-run tests (/test)"));
    }
  }
  const facts = html`<dl class="facts"><dt>Repository</dt><dd>${link(repoPath(run.repo), repoName(run.repo))}</dd>${view.pull ? html`<dt>Pull request</dt><dd>${link(view.pull.url, `#${run.prNumber}`)}</dd>` : ""}<dt>Commit</dt><dd><code>${run.sha}</code></dd><dt>Trigger</dt><dd>${run.trigger}</dd><dt>Status</dt><dd>${badge(run.status)}${run.reason ? html` <span class="detail">${run.reason}</span>` : ""}</dd><dt>Replica</dt><dd>${view.lease?.owner ? html`<code>${view.lease.owner}</code>` : "—"}</dd><dt>Queued</dt><dd>${time(run.createdAt, now)}</dd></dl>`;
  return html`<h1>Run ${runTitle(run)}</h1>${facts}${actions.length ? html`<div class="actions">${actions}</div>` : ""}<section><h2>Stages</h2>${stages}</section>
<section><h2>Output</h2><p id="live-source" class="note">${liveNote}</p><pre id="live-log" class="log" data-run="${run.id}" data-live="${run.status === "queued" ? "off" : "on"}" aria-live="polite"></pre></section>`;
}

export interface RepoView {
  now: number;
  session: Session;
  repo: RepoRef;
  runs: RunRecord[];
  previews: PreviewView[];
  config: ConfigLookup | { kind: "unavailable"; error: string };
  audit: AuditEntry[];
}

function configSection(config: RepoView["config"]): Html {
  switch (config.kind) {
    case "ok":
      return html`<p>${badge("valid")} <code>${config.path}</code> on the default branch, with berth's defaults filled in:</p><pre class="config">${stringify(config.config)}</pre>`;
    case "invalid":
      return html`<p>${badge("invalid")} <code>${config.path}</code> on the default branch cannot be used, so nothing runs:</p><pre class="config error">${config.error}</pre>`;
    case "missing":
      return html`<p>${badge("missing")} There is no <code>${config.path}</code> on the default branch: berth ignores this repository's pull requests.</p>`;
    case "unavailable":
      return html`<p>${badge("unknown")} The config could not be read from the code host: ${config.error}</p>`;
  }
}

export function renderRepoPage(view: RepoView): Html {
  const { now, session } = view;
  const runs = table(
    ["Run", "Status", "Commit", "Trigger", "Queued"],
    view.runs.map((run) => html`<tr><td data-label="Run">${link(runPath(run.id), runTitle(run))}</td><td data-label="Status">${badge(run.status)}</td><td data-label="Commit"><code>${shortSha(run.sha)}</code></td><td data-label="Trigger">${run.trigger}</td><td data-label="Queued">${time(run.createdAt, now)}</td></tr>`),
    "No runs yet.",
  );
  const previews = table(["PR", "URL", "Commit", "Age", "Expires", "Target", "Actions"], previewRows(view.previews, now, session, false), "No previews are running.");
  return html`<h1>${link(view.repo.htmlUrl, repoName(view.repo))} <small>${view.repo.host}</small></h1><section><h2>Previews</h2>${previews}</section><section><h2>Recent runs</h2>${runs}</section><section><h2>berth.yml</h2>${configSection(view.config)}</section><section><h2>Dashboard actions</h2>${auditTable(view.audit, now)}</section>`;
}

export function renderMessage(title: string, text: string): Html {
  return html`<h1>${title}</h1><p>${text}</p><p><a href="/">Back to the overview</a></p>`;
}
