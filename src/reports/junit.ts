/**
 * Pure JUnit XML parsing and summarising (the de-facto format most test runners write).
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
  /** Files that were not valid JUnit XML, with the reason. */
  parseErrors: string[];
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

const MAX_DETAILS = 4000;
const MAX_MESSAGE = 300;

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: "",
  textNodeName: "#text",
  isArray: (name) => ["testsuite", "testcase", "failure", "error", "skipped"].includes(name),
  processEntities: true,
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
    suite,
    name: text(node, "name") ?? "(unnamed)",
    status: failure ? (isError ? "error" : "failed") : skipped ? "skipped" : "passed",
  };
  const classname = text(node, "classname");
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

function collectSuites(node: XmlNode, inherited: string, out: TestCaseResult[]): void {
  for (const suite of asNodes(node.testsuite)) {
    const name = text(suite, "name") ?? inherited;
    for (const testcase of asNodes(suite.testcase)) out.push(readCase(name, testcase));
    collectSuites(suite, name, out);
  }
}

/** Parse JUnit XML files; invalid files are reported in `parseErrors`, never thrown. */
export function parseJUnit(files: ReadonlyArray<{ path: string; content: string }>): TestSuiteReport {
  const report: TestSuiteReport = { cases: [], files: [], parseErrors: [] };
  for (const file of files) {
    report.files.push(file.path);
    const valid = XMLValidator.validate(file.content);
    if (valid !== true) {
      report.parseErrors.push(`${file.path}: ${valid.err.msg} (line ${valid.err.line})`);
      continue;
    }
    const doc = parser.parse(file.content) as XmlNode;
    const before = report.cases.length;
    const root = (doc.testsuites as XmlNode | undefined) ?? doc;
    collectSuites(typeof root === "object" && root !== null ? root : {}, "", report.cases);
    if (report.cases.length === before && !("testsuites" in doc) && !("testsuite" in doc)) {
      report.parseErrors.push(`${file.path}: not a JUnit report (no <testsuites> or <testsuite>)`);
    }
  }
  return report;
}

/** Counts and the first failures of a report. */
export function summarize(report: TestSuiteReport, maxFailures = 5): TestSummary {
  const count = (status: CaseStatus) => report.cases.filter((c) => c.status === status).length;
  const failing = report.cases.filter((c) => c.status === "failed" || c.status === "error");
  return {
    total: report.cases.length,
    passed: count("passed"),
    failed: failing.length,
    skipped: count("skipped"),
    firstFailures: failing.slice(0, maxFailures).map((c) => ({
      name: c.suite ? `${c.suite} › ${c.name}` : c.name,
      message: c.message ?? c.status,
    })),
  };
}
