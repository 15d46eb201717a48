/**
 * HarborRegistry's scan handling against the swagger-checked Harbor fake: reading an artifact
 * without waiting, and asking for a scan when a project's auto-scan does not start one.
 */
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { HarborClient } from "../../src/adapters/harbor/harbor-client.js";
import { HarborRegistry } from "../../src/adapters/harbor/harbor-registry.js";
import { FakeHarborApi } from "../fakes/harbor-api.js";

const ROBOT = { username: "robot$acme+berth", password: "S3cr3t-pass" };
const log = pino({ level: "silent" });
const REF = "harbor.example.com/acme/app:pr-1-aaaaaaa";

let fake: FakeHarborApi;

function registry(options: { scanGraceMs?: number; scanTimeoutMs?: number } = {}): HarborRegistry {
  const client = new HarborClient({ url: fake.url, ...ROBOT, log, backoffMs: 10 });
  return new HarborRegistry({ client, log, scanIntervalMs: 10, scanTimeoutMs: options.scanTimeoutMs ?? 5_000, ...(options.scanGraceMs !== undefined ? { scanGraceMs: options.scanGraceMs } : {}) });
}

function scanRequests(): number {
  return fake.calls.filter((c) => c.method === "POST" && c.path.endsWith("/scan")).length;
}

beforeEach(async () => {
  fake = await FakeHarborApi.start({ ...ROBOT, scanPolls: { pending: 2, running: 2 } });
});

afterEach(async () => {
  fake.assertNoViolations();
  await fake.close();
});

describe("HarborRegistry scans", () => {
  it("asks for a scan when auto-scan has not started one within the grace", async () => {
    fake.addProject("acme", { autoScan: true });
    fake.pushArtifact("acme", "app", { tags: ["pr-1-aaaaaaa"], scan: "none", vulnerabilities: { High: 3 } });
    const info = await registry({ scanGraceMs: 60 }).awaitScan(REF);
    expect(scanRequests()).toBe(1);
    expect(info.scan).toMatchObject({ status: "Success", high: 3 });
    expect(info.gate.pass).toBe(true);
  });

  it("does not ask again when auto-scan started the scan", async () => {
    fake.addProject("acme", { autoScan: true });
    fake.pushArtifact("acme", "app", { tags: ["pr-1-aaaaaaa"], vulnerabilities: { Low: 1 } });
    const info = await registry({ scanGraceMs: 60 }).awaitScan(REF);
    expect(scanRequests()).toBe(0);
    expect(info.scan).toMatchObject({ status: "Success", low: 1 });
  });

  it("a gated inspect also asks for a scan auto-scan missed", async () => {
    fake.addProject("acme", { autoScan: true });
    fake.pushArtifact("acme", "app", { tags: ["pr-1-aaaaaaa"], scan: "none", vulnerabilities: { Critical: 1 } });
    const info = await registry({ scanGraceMs: 60 }).inspect(REF, { signal: new AbortController().signal, failOn: "critical" });
    expect(scanRequests()).toBe(1);
    expect(info.gate).toMatchObject({ pass: false });
    expect(info.gate.reason).toContain("Found 1 critical");
  });

  it("inspect without waiting reads the artifact once and starts the scan a project without auto-scan needs", async () => {
    fake.addProject("acme", { autoScan: false });
    const digest = fake.pushArtifact("acme", "app", { tags: ["pr-1-aaaaaaa"] });
    const info = await registry().inspect(REF, { signal: new AbortController().signal, wait: false });
    expect(info.digest).toBe(digest);
    expect(info.uiUrl).toContain(`/artifacts-tab/artifacts/${digest}`);
    expect(info.scan?.status).toBe("Pending");
    expect(scanRequests()).toBe(1);
    const reads = fake.calls.filter((c) => c.method === "GET" && c.query.with_scan_overview === "true");
    expect(reads).toHaveLength(1);
  });

  it("a scan that never starts ends the wait at the timeout as not scanned", async () => {
    fake.addProject("acme", { autoScan: true });
    fake.pushArtifact("acme", "app", { tags: ["pr-1-aaaaaaa"], scan: "none" });
    const info = await registry({ scanGraceMs: 200, scanTimeoutMs: 100 }).awaitScan(REF);
    // The grace is capped by the timeout: the request comes, but the scan cannot finish in time.
    expect(scanRequests()).toBe(1);
    expect(info.scan?.status).not.toBe("Success");
  });
});
