import { mkdtemp, mkdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runCommand } from "../../src/adapters/exec.js";
import { parseTestLog, wrapTestCommand } from "../../src/adapters/kubernetes/test-reports.js";

const b64 = (text: string): string => Buffer.from(text).toString("base64");

describe("parseTestLog", () => {
  it("splits report blocks of this run's nonce from the output", () => {
    const log = ["line 1", "", `@@berth-report-begin n1 ${b64("/reports/a.xml")}`, b64("<a/>").slice(0, 4), b64("<a/>").slice(4), "@@berth-report-end n1", "line 2", ""].join("\n");
    expect(parseTestLog(log, "n1")).toEqual({ reports: [{ path: "/reports/a.xml", content: "<a/>" }], lines: ["line 1", "line 2"] });
  });

  it("leaves blocks with another nonce as output and drops an unterminated block", () => {
    const forged = [`@@berth-report-begin other ${b64("/x.xml")}`, b64("<x/>"), "@@berth-report-end other"];
    const log = [...forged, `@@berth-report-begin n1 ${b64("/y.xml")}`, b64("<y/>")].join("\n");
    expect(parseTestLog(log, "n1")).toEqual({ reports: [], lines: forged });
  });
});

describe("report wrapper", () => {
  it("runs the argv unchanged, prints *.xml reports and keeps the exit code", async () => {
    const dir = await mkdtemp(join(tmpdir(), "berth-wrap-"));
    try {
      await mkdir(join(dir, "nested"));
      await writeFile(join(dir, "nested", "r.xml"), "<testsuite name=\"ü\"/>\n");
      await writeFile(join(dir, "skip.txt"), "no");
      const [file, ...args] = wrapTestCommand(["node", "-e", "console.log(process.argv.slice(1).join('|')); process.exit(4)", "--", "a b", "$(id)"]);
      const result = await runCommand(file!, args, { timeoutMs: 10_000, env: { BERTH_REPORTS_DIR: dir, BERTH_REPORT_NONCE: "abc" }, okExitCodes: [4] });
      expect(result.exitCode).toBe(4);
      const parsed = parseTestLog(result.stdout, "abc");
      expect(parsed.lines).toEqual(["a b|$(id)"]);
      expect(parsed.reports).toEqual([{ path: join(dir, "nested", "r.xml"), content: "<testsuite name=\"ü\"/>\n" }]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("is quiet when the reports directory does not exist", async () => {
    const [file, ...args] = wrapTestCommand(["true"]);
    const result = await runCommand(file!, args, { timeoutMs: 10_000, env: { BERTH_REPORTS_DIR: "/nonexistent/berth", BERTH_REPORT_NONCE: "abc" } });
    expect(result.stdout).toBe("");
  });
});
