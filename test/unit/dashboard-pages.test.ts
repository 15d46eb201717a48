/**
 * The dashboard's templates put text from pull requests, branches, logs and config errors on the
 * page only as text: hostile strings come out escaped, hostile links come out as no link.
 */
import { describe, expect, it } from "vitest";
import type { PullRecord, RunRecord, StageRecord } from "../../src/domain/records.js";
import { html, link, raw, safeHref } from "../../src/render/html.js";
import type { Session } from "../../src/web/auth/session.js";
import { ago, layout, renderOverview, renderRepoPage, renderRunPage } from "../../src/web/dashboard/pages.js";

const HOSTILE = `"><script>alert(1)</script><img src=x onerror=alert(2)>`;
const REPO = { host: "github" as const, owner: "acme", name: "app", installationId: 1, defaultBranch: "main", htmlUrl: "https://github.com/acme/app" };
const SESSION: Session = { user: { kind: "oauth", host: "github", login: "alice", token: "ghu_x" }, csrf: "c".repeat(32) };
const NOW = 1_700_000_100_000;

function run(extra: Partial<RunRecord> = {}): RunRecord {
  return { id: "r1", prKey: "github:acme/app#1", repo: REPO, prNumber: 1, sha: "a".repeat(40), kind: "pipeline", plan: ["build", "deploy"], trigger: HOSTILE, status: "failed", reason: HOSTILE, reuseImage: false, attempts: 1, createdAt: NOW - 60_000, finishedAt: NOW - 1000, ...extra };
}

function pull(extra: Partial<PullRecord> = {}): PullRecord {
  return {
    prKey: "github:acme/app#1",
    repo: REPO,
    prNumber: 1,
    headSha: "a".repeat(40),
    state: "open",
    fromFork: false,
    url: "javascript:alert(3)",
    preview: { target: "docker", sha: "a".repeat(40), url: `https://pr-1.example.test/?q=${HOSTILE}`, internalUrl: "http://x", runId: "r1", deployedAt: NOW - 3_600_000 },
    ...extra,
  };
}

/** No element the hostile text could have opened survives, and no attribute it could have closed. */
function expectInert(page: string): void {
  expect(page).not.toContain("<script>alert");
  expect(page).not.toContain("<img");
  expect(page).not.toContain(HOSTILE);
  expect(page).not.toMatch(/href="javascript:/i);
  // berth's own script tag only.
  expect(page.match(/<script/g)?.length ?? 0).toBe(page.includes("/dashboard/assets/dashboard.js") ? 1 : 0);
}

describe("html", () => {
  it("escapes interpolations and keeps html`` fragments and raw constants", () => {
    const inner = html`<b>${HOSTILE}</b>`;
    expect(html`<p>${inner}${raw("<br>")}${["a", "<", 1]}${undefined}${false}</p>`.value).toBe(
      "<p><b>&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;</b><br>a&lt;1</p>",
    );
  });

  it("links only http(s) URLs and site paths", () => {
    expect(safeHref("https://example.test/a?b=<c>")).toBe("https://example.test/a?b=%3Cc%3E");
    expect(safeHref("/runs/r1")).toBe("/runs/r1");
    for (const bad of ["javascript:alert(1)", "JaVaScRiPt:alert(1)", "data:text/html,x", "//evil.test/x", "/\\evil.test", "vbscript:x", "", undefined]) expect(safeHref(bad), String(bad)).toBeUndefined();
    expect(link("javascript:alert(1)", "pr").value).toBe("pr");
    expect(link("https://ok.test/", HOSTILE).value).toContain("&lt;script&gt;");
  });
});

describe("dashboard pages", () => {
  it("overview: hostile reasons, URLs and triggers are text", () => {
    const page = layout({
      title: HOSTILE,
      body: renderOverview({ now: NOW, session: SESSION, repos: [{ ...REPO, name: HOSTILE }], active: [{ run: run({ status: "running" }), owner: HOSTILE }], previews: [{ pull: pull() }], failures: [run()], audit: [{ seq: 1, at: NOW, actor: HOSTILE, repoKey: "github:acme/app", action: "delete", target: "#1", result: "refused", detail: HOSTILE }] }),
      session: SESSION,
    });
    expectInert(page);
    expect(page).toContain("&lt;script&gt;alert(1)&lt;/script&gt;");
    // The PR link had a javascript: URL: it is shown as text, not as a link.
    expect(page).toContain(">#1</td>");
    expect(page).toContain('name="viewport"');
    expect(page).toContain(`value="${SESSION.csrf}"`);
  });

  it("run page: stage reasons and log links are escaped, the live stream is on for a started run", () => {
    const stages: StageRecord[] = [{ runId: "r1", name: "build", state: "failed", startedAt: NOW - 5000, finishedAt: NOW - 1000, detail: { reason: HOSTILE, logId: "0123456789abcdef" } }];
    const page = renderRunPage({ now: NOW, session: SESSION, run: run(), stages, pull: pull(), live: { kind: "none" }, logUrl: (id) => `/reports/logs/${id}`, reportUrl: (id) => `/reports/${id}` }).value;
    expectInert(page);
    expect(page).toContain('href="/reports/logs/0123456789abcdef"');
    expect(page).toContain('data-live="on"');
    expect(page).toContain("4s");
    const queued = renderRunPage({ now: NOW, session: SESSION, run: run({ status: "queued" }), stages: [], live: { kind: "none" }, logUrl: (id) => id, reportUrl: (id) => id }).value;
    expect(queued).toContain('data-live="off"');
  });

  it("repository page: a config error quoting YAML is shown as text", () => {
    const page = renderRepoPage({ now: NOW, session: SESSION, repo: REPO, runs: [run()], previews: [], config: { kind: "invalid", path: ".github/berth.yml", error: `preview.port: expected number, got ${HOSTILE}` }, audit: [] }).value;
    expectInert(page);
    expect(page).toContain("invalid");
    const ok = renderRepoPage({ now: NOW, session: SESSION, repo: REPO, runs: [], previews: [], config: { kind: "unavailable", error: HOSTILE }, audit: [] }).value;
    expectInert(ok);
  });

  it("lists previews waiting for acceptance, asleep, and when they expire", () => {
    const base = pull();
    const waiting = { ...base, acceptance: { sha: base.headSha, state: "pending" as const }, preview: { ...base.preview!, sleeping: { since: NOW } } };
    const body = renderOverview({ now: NOW, session: SESSION, repos: [REPO], active: [], previews: [{ pull: waiting, expiresAt: Date.UTC(2026, 11, 9, 17, 0) }], failures: [], audit: [] }).value;
    expect(body).toContain("waiting for acceptance");
    expect(body).toContain("sleeping");
    expect(body).toContain("2026-12-09 17:00");
    const accepted = { ...base, acceptance: { sha: base.headSha, state: "accepted" as const, by: "tess", at: NOW } };
    const never = renderOverview({ now: NOW, session: SESSION, repos: [REPO], active: [], previews: [{ pull: accepted }], failures: [], audit: [] }).value;
    expect(never).toContain(">accepted<");
    expect(never).toContain(">never<");
  });

  it("ages read in the largest unit", () => {
    expect([ago(NOW - 5_000, NOW), ago(NOW - 120_000, NOW), ago(NOW - 7_200_000, NOW), ago(NOW - 3 * 86_400_000, NOW), ago(undefined, NOW)]).toEqual(["5 s ago", "2 min ago", "2 h ago", "3 d ago", "—"]);
  });
});
