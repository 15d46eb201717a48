/**
 * A scan berth follows in the background: which statuses count as still to come, and how the
 * build row shows them (finished scans keep their wording).
 */
import { describe, expect, it } from "vitest";
import { renderStatusComment, type StatusView } from "../../src/render/status-comment.js";
import { scanStillPending } from "../../src/stages/build-stage.js";

const counts = { critical: 1, high: 2, medium: 0, low: 3, unknown: 0, total: 6, fixable: 1 };

function buildRow(status: string, url?: string): string {
  const view: StatusView = {
    headSha: "a".repeat(40),
    reportBaseUrl: "https://berth.example.com/reports",
    testsConfigured: true,
    run: {
      id: "run-1",
      sha: "a".repeat(40),
      trigger: "opened",
      status: "running",
      stages: [{ name: "build", state: "passed", detail: { scan: { status, ...counts, ...(url ? { url } : {}) } } }],
    },
  };
  return renderStatusComment(view).split("\n").find((l) => l.startsWith("| build |")) ?? "";
}

describe("scanStillPending", () => {
  it("is true while a scan is to come and false once it ended", () => {
    for (const status of ["NotScanned", "Pending", "Scheduled", "Running"]) expect(scanStillPending({ status, ...counts })).toBe(true);
    for (const status of ["Success", "Error", "Stopped", "Unknown"]) expect(scanStillPending({ status, ...counts })).toBe(false);
    expect(scanStillPending(undefined)).toBe(false);
  });
});

describe("build row scan", () => {
  it("says pending while the scan runs, linked when there is a link", () => {
    expect(buildRow("Pending")).toBe("| build | ✅ passed |  | 🛡️ scan pending… |");
    expect(buildRow("Running", "https://harbor.example.com/x")).toBe("| build | ✅ passed |  | [🛡️ scan pending…](https://harbor.example.com/x) |");
  });

  it("keeps the wording of finished scans", () => {
    expect(buildRow("Success")).toBe("| build | ✅ passed |  | 🛡️ 1 critical, 2 high, 0 medium, 3 low (1 fixable) |");
    expect(buildRow("Error")).toBe("| build | ✅ passed |  | 🛡️ scan Error |");
    expect(buildRow("NotScanned")).toBe("| build | ✅ passed |  | 🛡️ scan NotScanned |");
  });
});
