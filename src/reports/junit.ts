/**
 * Pure JUnit XML parsing and summarising (the de-facto format most test runners write).
 *
 * Reports come out of the test container, so the input is the PR author's: every file and the whole
 * set are size-capped before the parser sees a byte, entity expansion is bounded, and only a fixed
 * number of cases is kept (the rest are counted). Parsing costs time linear in the bytes read; run it
 * off the main thread with `parseJUnitOffThread` (`junit-off-thread.ts`).
 */
import { XMLParser, XMLValidator } from "fast-xml-parser";

export type CaseStatus = "passed" | "failed" | "error" | "skipped";

export interface TestCaseResult {
  suite: string;
  name: string;
  classname?: string;
  status: CaseStatus;
  message?: string;
  /** Body of the failure/error element (stack trace, output), capped. */
  details?: string;
  durationMs?: number;
}

export interface TestSuiteReport {
  cases: TestCaseResult[];
  /** Report files read. */
  files: string[];
  /** Files that were not valid JUnit XML, or not read (too large), with the reason. */
  parseErrors: string[];
  /** Cases counted but not kept in `cases` (over {@link JUNIT_LIMITS}), by status. */
  omitted?: Record<CaseStatus, number>;
}

export interface TestSummary {
  total: number;
  passed: number;
  /** Failures and errors together. */
  failed: number;
  skipped: number;
  /** First failing cases, for the status comment. */
  firstFailures: Array<{ name: string; message: string }>;
}

/** What reading JUnit reports may cost; see the module comment. */
export const JUNIT_LIMITS = {
  /** Bytes of one report file; a larger file is not read (a parse error, so the stage fails). */
  fileBytes: 8 * 1024 * 1024,
  /** Bytes of all report files together; files past this are not read. */
  totalBytes: 16 * 1024 * 1024,
  /** Report files read. */
  files: 1000,
  /** Failing (failed or error) cases kept with their message. */
  failingCases: 2000,
  /** Other cases kept. */
  otherCases: 8000,
  /** Failing cases that also keep their `details` (stack trace). */
  detailedCases: 200,
} as const;

export type JUnitLimits = { [K in keyof typeof JUNIT_LIMITS]: number };

const MAX_DETAILS = 4000;
const MAX_MESSAGE = 300;
const MAX_NAME = 300;

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: "",
  textNodeName: "#text",
  isArray: (name) => ["testsuite", "testcase", "failure", "error", "skipped"].includes(name),
  // Built-in and HTML entities are decoded; DOCTYPE entities are bounded in number, size and
  // expansion (billion laughs), and external (SYSTEM) entities are never fetched by this parser.
  processEntities: { enabled: true, maxEntityCount: 100, maxEntitySize: 1000, maxTotalExpansions: 10_000, maxExpandedLength: 100_000 },
  htmlEntities: true,
});

type XmlNode = Record<string, unknown>;

function asNodes(value: unknown): XmlNode[] {
  if (Array.isArray(value)) return value.map((v) => (typeof v === "object" && v !== null ? (v as XmlNode) : { "#text": String(v) }));
  if (value === undefined || value === null) return [];
  return [typeof value === "object" ? (value as XmlNode) : { "#text": String(value) }];
}

function text(node: XmlNode | undefined, key: string): string | undefined {
  const value = node?.[key];
  if (value === undefined || value === null) return undefined;
  return String(value);
}

function cap(value: string | undefined, max: number): string | undefined {
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  return trimmed.length > max ? `${trimmed.slice(0, max)}…` : trimmed;
}

function readCase(suite: string, node: XmlNode): TestCaseResult {
  const failure = asNodes(node.failure)[0] ?? asNodes(node.error)[0];
  const isError = !asNodes(node.failure)[0] && !!asNodes(node.error)[0];
  const skipped = asNodes(node.skipped)[0];
  const seconds = Number(text(node, "time"));
  const result: TestCaseResult = {
    suite: cap(suite, MAX_NAME) ?? "",
    name: cap(text(node, "name"), MAX_NAME) || "(unnamed)",
    status: failure ? (isError ? "error" : "failed") : skipped ? "skipped" : "passed",
  };
  const classname = cap(text(node, "classname"), MAX_NAME);
  if (classname) result.classname = classname;
  if (Number.isFinite(seconds)) result.durationMs = Math.round(seconds * 1000);
  const problem = failure ?? skipped;
  if (problem) {
    const message = cap(text(problem, "message") ?? text(problem, "#text")?.split("\n")[0], MAX_MESSAGE);
    if (message) result.message = message;
    const details = cap(text(problem, "#text"), MAX_DETAILS);
    if (details && failure) result.details = details;
  }
  return result;
}

/** Where parsed cases go: kept up to the limits, counted beyond them. */
class CaseSink {
  readonly kept: TestCaseResult[] = [];
  readonly omitted: Record<CaseStatus, number> = { passed: 0, failed: 0, error: 0, skipped: 0 };
  private failing = 0;
  private other = 0;

  constructor(private readonly limits: JUnitLimits) {}

  add(c: TestCaseResult): void {
    const isFailing = c.status === "failed" || c.status === "error";
    if (isFailing ? this.failing >= this.limits.failingCases : this.other >= this.limits.otherCases) {
      this.omitted[c.status]++;
      return;
    }
    if (isFailing && this.failing >= this.limits.detailedCases) delete c.details;
    if (isFailing) this.failing++;
    else this.other++;
    this.kept.push(c);
  }

  get omittedAny(): boolean {
    return Object.values(this.omitted).some((n) => n > 0);
  }
}

function collectSuites(node: XmlNode, inherited: string, out: CaseSink): number {
  let found = 0;
  // An explicit stack, not recursion: nesting depth is the report author's choice.
  const stack: Array<{ node: XmlNode; inherited: string }> = [{ node, inherited }];
  while (stack.length) {
    const next = stack.pop()!;
    const suites = asNodes(next.node.testsuite);
    for (let i = suites.length - 1; i >= 0; i--) {
      const suite = suites[i]!;
      stack.push({ node: suite, inherited: text(suite, "name") ?? next.inherited });
    }
    if (next.node === node) continue;
    for (const testcase of asNodes(next.node.testcase)) {
      out.add(readCase(next.inherited, testcase));
      found++;
    }
  }
  return found;
}

function mib(bytes: number): string {
  return `${Math.round((bytes / (1024 * 1024)) * 10) / 10} MiB`;
}

/**
 * Parse JUnit XML files; invalid files are reported in `parseErrors`, never thrown. Files over the
 * per-file or total byte limit are not parsed and are reported there too.
 */
export function parseJUnit(files: ReadonlyArray<{ path: string; content: string }>, limits: JUnitLimits = JUNIT_LIMITS): TestSuiteReport {
  const report: TestSuiteReport = { cases: [], files: [], parseErrors: [] };
  const sink = new CaseSink(limits);
  let total = 0;
  for (const [index, file] of files.entries()) {
    if (index >= limits.files) {
      report.parseErrors.push(`${files.length - index} more report file(s) not read: berth reads at most ${limits.files}`);
      break;
    }
    report.files.push(file.path);
    // UTF-16 length ≤ UTF-8 bytes ≤ 3 × length: decide cheaply when clearly under, measure otherwise.
    const bytes = file.content.length * 3 <= limits.fileBytes ? file.content.length : Buffer.byteLength(file.content);
    if (bytes > limits.fileBytes) {
      report.parseErrors.push(`${file.path}: ${mib(bytes)} is more than the ${mib(limits.fileBytes)} a report file may have; not read`);
      continue;
    }
    if (total + bytes > limits.totalBytes) {
      report.parseErrors.push(`${file.path}: the reports together are more than ${mib(limits.totalBytes)}; not read`);
      continue;
    }
    total += bytes;
    let doc: XmlNode;
    try {
      const valid = XMLValidator.validate(file.content);
      if (valid !== true) {
        report.parseErrors.push(`${file.path}: ${valid.err.msg} (line ${valid.err.line})`);
        continue;
      }
      doc = parser.parse(file.content) as XmlNode;
    } catch (err) {
      // Entity limits, and nesting deep enough to exhaust the stack, surface as exceptions.
      report.parseErrors.push(`${file.path}: ${(err instanceof Error ? err.message : String(err)).split("\n")[0]?.slice(0, MAX_MESSAGE)}`);
      continue;
    }
    const root = (doc.testsuites as XmlNode | undefined) ?? doc;
    const found = collectSuites(typeof root === "object" && root !== null ? root : {}, "", sink);
    if (found === 0 && !("testsuites" in doc) && !("testsuite" in doc)) {
      report.parseErrors.push(`${file.path}: not a JUnit report (no <testsuites> or <testsuite>)`);
    }
  }
  report.cases = sink.kept;
  if (sink.omittedAny) report.omitted = sink.omitted;
  return report;
}

/** Counts and the first failures of a report. */
export function summarize(report: TestSuiteReport, maxFailures = 5): TestSummary {
  const omitted = report.omitted ?? { passed: 0, failed: 0, error: 0, skipped: 0 };
  const count = (status: CaseStatus) => report.cases.filter((c) => c.status === status).length + omitted[status];
  const failing = report.cases.filter((c) => c.status === "failed" || c.status === "error");
  return {
    total: report.cases.length + omitted.passed + omitted.failed + omitted.error + omitted.skipped,
    passed: count("passed"),
    failed: failing.length + omitted.failed + omitted.error,
    skipped: count("skipped"),
    firstFailures: failing.slice(0, maxFailures).map((c) => ({
      name: c.suite ? `${c.suite} › ${c.name}` : c.name,
      message: c.message ?? c.status,
    })),
  };
}
