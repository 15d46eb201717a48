/**
 * Benchmark: how long each adversarial input blocks the event loop, before and after the input
 * limits (security issue item 6). "Before" runs the old code path (kept inline here, or the new
 * code with its limits lifted); "after" runs what berth runs now. Every number is also given as a
 * ratio to a baseline measured in the same run (parsing the README's example berth.yml), so runs on
 * different machines compare. Prints numbers; asserts nothing.
 *
 *   node --import tsx bench/event-loop-inputs.ts
 */
import { performance } from "node:perf_hooks";
import { parse as parseYaml } from "yaml";
import { parseRepoConfig, repoConfigSchema } from "../src/config/repo-config.js";
import { globMatches } from "../src/domain/tag-rules.js";
import { parseJUnit, JUNIT_LIMITS, type TestSuiteReport } from "../src/reports/junit.js";
import { parseJUnitOffThread } from "../src/reports/junit-off-thread.js";
import { renderReportPage } from "../src/render/report-page.js";

/** Longest time the event loop could not run a 1 ms timer while `fn` ran (sync or async). */
async function blockedMs(fn: () => unknown): Promise<number> {
  let worst = 0;
  let last = performance.now();
  const ticker = setInterval(() => {
    const now = performance.now();
    worst = Math.max(worst, now - last);
    last = now;
  }, 1);
  await new Promise((r) => setTimeout(r, 5));
  last = performance.now();
  const start = performance.now();
  const result = fn();
  // A synchronous call blocks for its whole duration.
  const syncPart = performance.now() - start;
  await result;
  await new Promise((r) => setTimeout(r, 5));
  clearInterval(ticker);
  return Math.max(worst, syncPart);
}

/**
 * Best of `runs`. A synchronous call blocks the loop for exactly its duration (measured directly,
 * below timer resolution); a promise is measured as the worst timer lag while it ran.
 */
async function best(fn: () => unknown, runs = 3): Promise<number> {
  let min = Infinity;
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    const result = fn();
    const sync = performance.now() - start;
    if (result instanceof Promise) {
      await result;
      min = Math.min(min, await blockedMs(fn));
    } else {
      min = Math.min(min, sync);
    }
  }
  return min;
}

// ---- old code paths, as they were before the limits ----
function oldGlob(glob: string, text: string): boolean {
  const body = glob.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".");
  return new RegExp(`^${body}$`).test(text);
}
function oldParseRepoConfig(text: string): boolean {
  try {
    return repoConfigSchema.safeParse(parseYaml(text, { prettyErrors: true, maxAliasCount: 50 }) ?? {}).success;
  } catch {
    return false;
  }
}
const NO_LIMITS = { fileBytes: Infinity, totalBytes: Infinity, files: Infinity, failingCases: Infinity, otherCases: Infinity, detailedCases: Infinity };

// ---- inputs ----
const EXAMPLE = `build:\n  dockerfile: Dockerfile\n  context: .\npreview:\n  target: docker\n  port: 8080\n  healthPath: /\ntest:\n  command: ["sh", "-c", "npm run e2e"]\n  reports: /reports\n  timeout: 10m\n`;
const keys = (n: number) => `build:\n  args:\n${Array.from({ length: n }, (_, i) => `    K${i}: v`).join("\n")}\n`;
const CONFIG_64K = keys(5000); // just under 64 KiB
const CONFIG_256K = keys(19000);
const GLOB = "*a*a*a*a*a*a*a*a*b";
function junit(cases: number): string {
  let s = '<?xml version="1.0"?><testsuites><testsuite name="s">';
  for (let i = 0; i < cases; i++) {
    s += i % 10 === 0 ? `<testcase classname="c.d" name="case ${i}" time="0.01"><failure message="boom ${i}">stack line 1\nstack ${"x".repeat(100)}</failure></testcase>` : `<testcase classname="c.d" name="case ${i}" time="0.01"/>`;
  }
  return `${s}</testsuite></testsuites>`;
}
const JUNIT_FILE = junit(100_000); // ≈ 7 MiB
const JUNIT_FILES = [1, 2, 3, 4].map((n) => ({ path: `r${n}.xml`, content: JUNIT_FILE })); // ≈ 28 MiB
const BIG_REPORT: TestSuiteReport = parseJUnit(JUNIT_FILES.slice(0, 2), NO_LIMITS); // 200 000 cases

interface Row {
  input: string;
  before: number;
  after: number;
  note?: string;
}

const rows: Row[] = [];
const baseline = await best(() => parseRepoConfig(EXAMPLE), 200);

rows.push({ input: `tag glob ${GLOB} vs 'a'×32`, before: await best(() => oldGlob(GLOB, "a".repeat(32)), 1), after: await best(() => globMatches(GLOB, "a".repeat(32))), note: "before grows like n^8: 'a'×255 never finishes" });
rows.push({ input: `tag glob ${GLOB} vs 'a'×100000`, before: NaN, after: await best(() => globMatches(GLOB, "a".repeat(100_000))), note: "before: does not finish" });
rows.push({ input: "berth.yml, 64 KiB, 5000 keys", before: await best(() => oldParseRepoConfig(CONFIG_64K)), after: await best(() => parseRepoConfig(CONFIG_64K)) });
rows.push({ input: "berth.yml, 256 KiB, 19000 keys", before: await best(() => oldParseRepoConfig(CONFIG_256K), 1), after: await best(() => parseRepoConfig(CONFIG_256K)), note: "after: refused by size" });
rows.push({ input: "JUnit 1 file 7 MiB, 100k cases (sync, capped)", before: await best(() => parseJUnit([JUNIT_FILES[0]!], NO_LIMITS)), after: await best(() => parseJUnit([JUNIT_FILES[0]!])), note: "synchronous parseJUnit (the test stage now uses the worker)" });
rows.push({ input: "JUnit 4 files 28 MiB, 400k cases", before: await best(() => parseJUnit(JUNIT_FILES, NO_LIMITS), 1), after: await best(() => parseJUnitOffThread(JUNIT_FILES)), note: "after: worker thread (parseJUnitOffThread)" });
rows.push({ input: "JUnit 4 files 28 MiB (sync, capped)", before: NaN, after: await best(() => parseJUnit(JUNIT_FILES), 1), note: `sync path reads ${JUNIT_LIMITS.totalBytes / 1048576} MiB, refuses the rest` });
rows.push({ input: "report page, 200k cases", before: await best(() => renderReportPage({ title: "T", sha: "abc", createdAt: 0, report: BIG_REPORT }, { failingRows: Infinity, otherRows: Infinity }), 1), after: await best(() => renderReportPage({ title: "T", sha: "abc", createdAt: 0, report: BIG_REPORT })) });

const fmt = (ms: number) => (Number.isNaN(ms) ? "—" : `${ms < 1 ? ms.toFixed(3) : ms.toFixed(1)} ms`);
const ratio = (ms: number) => (Number.isNaN(ms) ? "—" : `${(ms / baseline).toPrecision(3)}×`);
console.log(`baseline: parseRepoConfig(README example) blocks ${baseline.toFixed(3)} ms\n`);
console.log(["input", "before", "after", "before/base", "after/base", "note"].join(" | "));
for (const r of rows) console.log([r.input, fmt(r.before), fmt(r.after), ratio(r.before), ratio(r.after), r.note ?? ""].join(" | "));
