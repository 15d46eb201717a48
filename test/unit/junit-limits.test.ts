import { describe, expect, it } from "vitest";
import { JUNIT_LIMITS, parseJUnit, summarize, type JUnitLimits } from "../../src/reports/junit.js";
import { parseJUnitOffThread } from "../../src/reports/junit-off-thread.js";

const SMALL: JUnitLimits = { ...JUNIT_LIMITS, fileBytes: 2000, totalBytes: 3000, files: 3, failingCases: 3, otherCases: 4, detailedCases: 1 };

function suite(cases: string[]): string {
  return `<testsuite name="s">${cases.join("")}</testsuite>`;
}
const pass = (i: number) => `<testcase name="p${i}"/>`;
const fail = (i: number) => `<testcase name="f${i}"><failure message="m${i}">trace ${i}</failure></testcase>`;

describe("parseJUnit limits", () => {
  it("does not read a file over the per-file cap, and says so", () => {
    const big = suite(Array.from({ length: 200 }, (_, i) => pass(i)));
    const report = parseJUnit([{ path: "big.xml", content: big }, { path: "ok.xml", content: suite([pass(1)]) }], SMALL);
    expect(report.parseErrors).toEqual([`big.xml: ${Math.round((big.length / 1048576) * 10) / 10} MiB is more than the 0 MiB a report file may have; not read`]);
    expect(report.cases.map((c) => c.name)).toEqual(["p1"]);
  });

  it("stops reading at the total cap and the file count", () => {
    const file = suite(Array.from({ length: 20 }, (_, i) => `<testcase name="case-${String(i).padStart(60, "0")}"/>`).slice(0, 1));
    const body = file + " ".repeat(1500 - file.length);
    const report = parseJUnit([1, 2, 3, 4, 5].map((n) => ({ path: `r${n}.xml`, content: body })), SMALL);
    expect(report.parseErrors).toEqual(["r3.xml: the reports together are more than 0 MiB; not read", "2 more report file(s) not read: berth reads at most 3"]);
    expect(report.cases).toHaveLength(2);
  });

  it("keeps failing cases first-come up to their own cap and counts the rest", () => {
    const cases = [...Array.from({ length: 10 }, (_, i) => pass(i)), ...Array.from({ length: 5 }, (_, i) => fail(i))];
    const report = parseJUnit([{ path: "a.xml", content: suite(cases) }], { ...SMALL, fileBytes: 1e6, totalBytes: 1e6 });
    expect(report.cases.map((c) => c.name)).toEqual(["p0", "p1", "p2", "p3", "f0", "f1", "f2"]);
    expect(report.cases.filter((c) => c.details).map((c) => c.name)).toEqual(["f0"]);
    expect(report.omitted).toEqual({ passed: 6, failed: 2, error: 0, skipped: 0 });
    const summary = summarize(report);
    expect(summary).toMatchObject({ total: 15, passed: 10, failed: 5, skipped: 0 });
  });

  it("caps case, suite and class names", () => {
    const long = "n".repeat(5000);
    const report = parseJUnit([{ path: "a.xml", content: `<testsuite name="${long}"><testcase classname="${long}" name="${long}"/></testsuite>` }]);
    const [c] = report.cases;
    expect([c?.name.length, c?.suite.length, c?.classname?.length]).toEqual([301, 301, 301]);
  });

  it("reads deeply nested suites without recursion and reports a too-deep file instead of throwing", () => {
    const nested = `${"<testsuite>".repeat(50)}<testcase name="deep"/>${"</testsuite>".repeat(50)}`;
    expect(parseJUnit([{ path: "n.xml", content: nested }]).cases.map((c) => c.name)).toEqual(["deep"]);
    const abyss = `${"<testsuite>".repeat(100_000)}${"</testsuite>".repeat(100_000)}`;
    const report = parseJUnit([{ path: "abyss.xml", content: abyss }]);
    expect(report.parseErrors).toHaveLength(1);
    expect(report.parseErrors[0]).toMatch(/^abyss\.xml: /);
  });

  it("bounds DOCTYPE entity expansion and never resolves external entities", () => {
    // Nested entities are not expanded at all; a wide expansion stops at the expansion cap.
    let dtd = '<!ENTITY l0 "lollollollollollollollollollol">';
    for (let i = 1; i < 10; i++) dtd += `<!ENTITY l${i} "${`&l${i - 1};`.repeat(10)}">`;
    const laughs = parseJUnit([{ path: "laughs.xml", content: `<?xml version="1.0"?><!DOCTYPE testsuite [${dtd}]><testsuite><testcase name="&l9;"/></testsuite>` }]);
    expect(laughs.cases[0]?.name.length).toBeLessThan(100);
    const wide = `<?xml version="1.0"?><!DOCTYPE testsuite [<!ENTITY a "${"x".repeat(1000)}">]><testsuite><testcase name="x"><failure>${"&a;".repeat(5000)}</failure></testcase></testsuite>`;
    expect(parseJUnit([{ path: "wide.xml", content: wide }]).parseErrors).toEqual(["wide.xml: [EntityReplacer] Expanded content length limit exceeded: 100697 > 100000"]);
    const xxe = parseJUnit([{ path: "xxe.xml", content: `<?xml version="1.0"?><!DOCTYPE testsuite [<!ENTITY x SYSTEM "file:///etc/passwd">]><testsuite><testcase name="a&x;b"/></testsuite>` }]);
    expect(JSON.stringify(xxe)).not.toContain("root:");
  });
});

describe("parseJUnitOffThread", () => {
  it("gives the same report as parseJUnit, from a worker thread", async () => {
    const files = [{ path: "a.xml", content: suite([pass(1), fail(2)]) }, { path: "b.xml", content: "<html/>" }];
    await expect(parseJUnitOffThread(files)).resolves.toEqual(parseJUnit(files));
  });

  it("turns a timeout into a parse error instead of waiting", async () => {
    const content = suite(Array.from({ length: 20_000 }, (_, i) => pass(i)));
    const report = await parseJUnitOffThread([{ path: "a.xml", content }], { timeoutMs: 1 });
    expect(report).toEqual({ cases: [], files: ["a.xml"], parseErrors: ["JUnit reports not read: parsing took longer than 0s"] });
  });
});
