/**
 * HarborClient against the swagger-checked Harbor fake: every request the client sends and every
 * answer the fake gives is validated against test/fixtures/harbor/harbor-v2.0.swagger.yaml (Harbor's own description)
 * (`assertNoViolations()` after each test).
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { cleanUpPullRequest } from "../../src/adapters/harbor/harbor-cleanup.js";
import { HarborApiError, HarborClient, type HarborClientOptions } from "../../src/adapters/harbor/harbor-client.js";
import { captureLogger, type CapturedLog } from "../helpers/capture-log.js";
import { FakeHarborApi } from "../fakes/harbor-api.js";

const ROBOT = "robot$acme+berth";
const PASSWORD = "S3cr3t:pass$word";

let fake: FakeHarborApi;
let captured: CapturedLog;
let sleeps: number[];

function client(overrides: Partial<HarborClientOptions> = {}): HarborClient {
  return new HarborClient({
    url: fake.url,
    username: ROBOT,
    password: PASSWORD,
    log: captured.log,
    timeoutMs: 2_000,
    retries: 2,
    backoffMs: 100,
    sleep: async (ms, signal) => {
      signal?.throwIfAborted();
      sleeps.push(ms);
    },
    ...overrides,
  });
}

async function failure(promise: Promise<unknown>): Promise<HarborApiError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(HarborApiError);
  return error as HarborApiError;
}

function callsTo(path: RegExp): number {
  return fake.calls.filter((c) => path.test(c.path)).length;
}

beforeEach(async () => {
  fake = await FakeHarborApi.start({ username: ROBOT, password: PASSWORD });
  captured = captureLogger();
  sleeps = [];
});

afterEach(async () => {
  await fake.close();
  fake.assertNoViolations();
});

describe("ensureProject", () => {
  it("creates a missing project with auto_scan on", async () => {
    const project = await client().ensureProject("acme", { autoScan: true });
    expect(project).toEqual({ name: "acme", projectId: fake.project("acme")?.id, autoScan: true, created: true });
    expect(fake.project("acme")?.autoScan).toBe(true);
    const create = fake.calls.find((c) => c.method === "POST");
    expect(create).toMatchObject({ path: "/api/v2.0/projects", status: 201, body: { project_name: "acme", metadata: { auto_scan: "true" } } });
  });

  it("leaves an existing project alone and reports its auto-scan setting", async () => {
    const id = fake.addProject("acme", { autoScan: false });
    expect(await client().ensureProject("acme", { autoScan: true })).toEqual({ name: "acme", projectId: id, autoScan: false, created: false });
    expect(fake.calls.map((c) => `${c.method} ${c.path} ${c.status}`)).toEqual(["GET /api/v2.0/projects/acme 200"]);
  });

  it("reads a numeric project name as a name, not an id", async () => {
    fake.addProject("filler");
    const id = fake.addProject("1");
    expect((await client().ensureProject("1", { autoScan: false })).projectId).toBe(id);
  });

  it("turns a 403 on creation into an error saying the account may not create projects", async () => {
    fake.setCanCreateProjects(false);
    const error = await failure(client().ensureProject("acme", { autoScan: true }));
    expect(error.status).toBe(403);
    expect(error.code).toBe("FORBIDDEN");
    expect(error.message).toBe(
      `Harbor project "acme" does not exist and the Harbor account "${ROBOT}" may not create projects (403 FORBIDDEN: forbidden). ` +
        "Create the project in Harbor with automatic scanning, or give berth an account that may create projects.",
    );
    expect(fake.project("acme")).toBeUndefined();
    expect(sleeps).toEqual([]);
  });
});

describe("artifacts and scans", () => {
  it("reads an artifact by tag with digest, size, tags and the parsed scan summary", async () => {
    fake.addProject("acme");
    const digest = fake.pushArtifact("acme", "app", {
      tags: ["pr-12-abc1234", "latest"],
      size: 52_000_000,
      vulnerabilities: { Critical: 1, High: 2, Medium: 3, Low: 4, Unknown: 5, Negligible: 6 },
      fixable: 7,
      scan: "done",
    });
    const artifact = await client().getArtifact("acme", "app", "pr-12-abc1234", { withScanOverview: true });
    expect(artifact).toMatchObject({ digest, size: 52_000_000, tags: ["pr-12-abc1234", "latest"] });
    expect(artifact.scan).toEqual({
      status: "Success",
      mimeType: "application/vnd.security.vulnerability.report; version=1.1",
      reportId: expect.any(String),
      severity: "Critical",
      critical: 1,
      high: 2,
      medium: 3,
      low: 4,
      unknown: 5,
      total: 21,
      fixable: 7,
      completePercent: 100,
    });
    // Without the overview the scan is not reported (rather than claimed "not scanned").
    expect((await client().getArtifact("acme", "app", digest)).scan).toBeUndefined();
  });

  it("triggers a scan and waits until it is final (Pending → Running → Success)", async () => {
    fake.addProject("acme");
    fake.pushArtifact("acme", "app", { tags: ["pr-3-aaaaaaa"], vulnerabilities: { High: 2 }, scan: "none" });
    const harbor = client();
    expect((await harbor.getArtifact("acme", "app", "pr-3-aaaaaaa", { withScanOverview: true })).scan?.status).toBe("NotScanned");
    expect(await harbor.scan("acme", "app", "pr-3-aaaaaaa")).toBe("started");
    expect(await harbor.scan("acme", "app", "pr-3-aaaaaaa")).toBe("already-running");
    const result = await harbor.waitForScan("acme", "app", "pr-3-aaaaaaa", { timeoutMs: 5_000, intervalMs: 10 });
    expect(result).toMatchObject({ outcome: "done", polls: 3, scan: { status: "Success", high: 2, total: 2 } });
    expect(sleeps).toEqual([10, 10]);
    const scanCall = fake.calls.find((c) => c.path.endsWith("/scan"));
    expect(scanCall).toMatchObject({ status: 202, body: { scan_type: "vulnerability" } });
  });

  it("stops waiting at the deadline with the last status, and stops at once when aborted", async () => {
    await fake.close();
    fake = await FakeHarborApi.start({ username: ROBOT, password: PASSWORD, scanPolls: { pending: 1_000, running: 0 } });
    fake.addProject("acme", { autoScan: true });
    fake.pushArtifact("acme", "app", { tags: ["pr-3-aaaaaaa"] });
    const harbor = client();
    const result = await harbor.waitForScan("acme", "app", "pr-3-aaaaaaa", { timeoutMs: 100, intervalMs: 20 });
    expect(result.outcome).toBe("timeout");
    expect(result.scan.status).toBe("Pending");
    expect(result.polls).toBeLessThanOrEqual(6);

    const controller = new AbortController();
    controller.abort(new Error("run superseded"));
    await expect(harbor.waitForScan("acme", "app", "pr-3-aaaaaaa", { timeoutMs: 60_000, intervalMs: 10, signal: controller.signal })).rejects.toThrow("run superseded");
  });

  it("encodes a nested repository name twice in the path (a/b → a%252Fb)", async () => {
    fake.addProject("acme");
    const digest = fake.pushArtifact("acme", "team/app", { tags: ["pr-5-bbbbbbb"] });
    const artifact = await client().getArtifact("acme", "team/app", "pr-5-bbbbbbb");
    expect(artifact.digest).toBe(digest);
    expect(fake.calls.at(-1)?.path).toBe("/api/v2.0/projects/acme/repositories/team%252Fapp/artifacts/pr-5-bbbbbbb");
  });

  it("the fake refuses a nested repository name encoded only once, as Harbor does", async () => {
    fake.addProject("acme");
    fake.pushArtifact("acme", "team/app", { tags: ["v1"] });
    const auth = `Basic ${Buffer.from(`${ROBOT}:${PASSWORD}`).toString("base64")}`;
    const res = await fetch(`${fake.url}/api/v2.0/projects/acme/repositories/team%2Fapp/artifacts/v1`, { headers: { authorization: auth } });
    expect(res.status).toBe(404);
    expect(fake.violations).toEqual([
      "request: GET /api/v2.0/projects/acme/repositories/team%2Fapp/artifacts/v1: repository_name 'team/app' must be URL-encoded twice",
    ]);
    fake.violations.length = 0;
  });

  it("follows pagination over several pages (Link / X-Total-Count)", async () => {
    fake.addProject("acme");
    for (let i = 1; i <= 5; i++) fake.pushArtifact("acme", "team/app", { tags: [`v${i}`, `pr-9-${i}`] });
    const harbor = client({ pageSize: 2 });
    const artifacts = await harbor.listArtifacts("acme", "team/app");
    expect(artifacts.map((a) => a.tags[0])).toEqual(["v5", "v4", "v3", "v2", "v1"]);
    expect(fake.calls.map((c) => c.query.page)).toEqual(["1", "2", "3"]);
    expect(fake.calls.every((c) => c.query.page_size === "2")).toBe(true);

    const tags = await harbor.listTags("acme", "team/app", { q: "tags=~pr-9-" });
    expect(tags).toHaveLength(10);
    expect(tags[0]).toEqual({ name: "v5", digest: artifacts[0]?.digest, artifactId: expect.any(Number) });
  });

  it("adds a tag to an existing artifact (promotion), idempotently, and refuses to steal a tag", async () => {
    fake.addProject("acme");
    const beta = fake.pushArtifact("acme", "app", { tags: ["beta-1.0.0"] });
    fake.pushArtifact("acme", "app", { tags: ["other"] });
    const harbor = client();
    expect(await harbor.addTag("acme", "app", beta, "release-1.0.0")).toBe("created");
    expect(await harbor.addTag("acme", "app", "beta-1.0.0", "release-1.0.0")).toBe("already-present");
    expect(fake.artifacts("acme", "app").find((a) => a.digest === beta)?.tags).toEqual(["beta-1.0.0", "release-1.0.0"]);
    const conflict = await failure(harbor.addTag("acme", "app", beta, "other"));
    expect(conflict.code).toBe("CONFLICT");
    expect(conflict.status).toBe(409);
    await expect(harbor.addTag("acme", "app", beta, "release;rm -rf /")).rejects.toThrow('invalid image tag "release;rm -rf /"');
  });

  it("deletes tags and artifacts; an absent one is not an error", async () => {
    fake.addProject("acme");
    const digest = fake.pushArtifact("acme", "app", { tags: ["a", "b"] });
    const harbor = client();
    expect(await harbor.deleteTag("acme", "app", digest, "a")).toBe(true);
    expect(await harbor.deleteTag("acme", "app", digest, "a")).toBe(false);
    expect(fake.tags("acme", "app")).toEqual(["b"]);
    expect(await harbor.deleteArtifact("acme", "app", digest)).toBe(true);
    expect(await harbor.deleteArtifact("acme", "app", digest)).toBe(false);
    expect(fake.artifacts("acme", "app")).toEqual([]);
    expect(await harbor.findArtifact("acme", "app", digest)).toBeNull();
  });

  it("links to the artifact in Harbor's UI", () => {
    const digest = `sha256:${"a".repeat(64)}`;
    const harbor = new HarborClient({ url: "https://harbor.example.com/api/v2.0/", username: ROBOT, password: PASSWORD, log: captured.log });
    expect(harbor.artifactUiUrl(7, "team/app", digest)).toBe(`https://harbor.example.com/harbor/projects/7/repositories/team%2Fapp/artifacts-tab/artifacts/${digest}`);
    expect(() => harbor.artifactUiUrl(7, "app", "latest")).toThrow("artifactUiUrl needs a digest");
  });
});

describe("PR clean-up", () => {
  it("removes only the PR's tags and keeps an artifact another tag still uses", async () => {
    fake.addProject("acme");
    const onlyPr = fake.pushArtifact("acme", "team/app", { tags: ["pr-12-aaaaaaa", "pr-12-bbbbbbb"] });
    const promoted = fake.pushArtifact("acme", "team/app", { tags: ["pr-12-ccccccc", "release-1.0.0"] });
    const otherPr = fake.pushArtifact("acme", "team/app", { tags: ["pr-120-ddddddd", "pr-1-eeeeeee"] });
    const lookalike = fake.pushArtifact("acme", "team/app", { tags: ["xpr-12-fffffff"] });

    const result = await cleanUpPullRequest(client({ pageSize: 1 }), { project: "acme", repository: "team/app" }, 12, captured.log);

    expect(result.deletedArtifacts).toEqual([onlyPr]);
    expect(result.keptArtifacts).toEqual([{ digest: promoted, tags: ["release-1.0.0"] }]);
    expect(result.failures).toEqual([]);
    expect(fake.tags("acme", "team/app")).toEqual(["pr-1-eeeeeee", "pr-120-ddddddd", "release-1.0.0", "xpr-12-fffffff"]);
    expect(fake.artifacts("acme", "team/app").map((a) => a.digest).sort()).toEqual([promoted, otherPr, lookalike].sort());
    // Tag by tag, then the artifact: never an artifact delete for the promoted image.
    const deletes = fake.calls.filter((c) => c.method === "DELETE").map((c) => decodeURIComponent(c.path.split("/artifacts/")[1] ?? ""));
    expect(deletes).toEqual([
      `${promoted}/tags/pr-12-ccccccc`,
      `${onlyPr}/tags/pr-12-aaaaaaa`,
      `${onlyPr}/tags/pr-12-bbbbbbb`,
      onlyPr,
    ]);
  });

  it("is a no-op for a repository that does not exist", async () => {
    fake.addProject("acme");
    const result = await cleanUpPullRequest(client(), { project: "acme", repository: "gone" }, 12, captured.log);
    expect(result).toEqual({ removedTags: [], deletedArtifacts: [], keptArtifacts: [], failures: [] });
  });
});

describe("auth, errors and retries", () => {
  it("authenticates a robot account whose name contains `$`", async () => {
    fake.addProject("acme");
    await client().ensureProject("acme", { autoScan: false });
    expect(fake.calls.map((c) => c.user)).toEqual([ROBOT]);
  });

  it("turns {errors:[…]} bodies into errors with status, code and message, without retrying 4xx", async () => {
    const wrong = client({ password: "not-the-password" });
    const unauthorized = await failure(wrong.ensureProject("acme", { autoScan: false }));
    expect(unauthorized.status).toBe(401);
    expect(unauthorized.code).toBe("UNAUTHORIZED");
    expect(unauthorized.message).toBe("Harbor API GET /projects/acme answered 401 (UNAUTHORIZED: unauthorized)");
    expect(fake.calls.map((c) => c.user)).toEqual([null]);
  });

  it("does not retry a 404", async () => {
    fake.addProject("acme");
    fake.pushArtifact("acme", "app", { tags: ["v1"] });
    const error = await failure(client().getArtifact("acme", "app", "missing"));
    expect(error).toMatchObject({ status: 404, code: "NOT_FOUND", method: "GET", path: "/projects/acme/repositories/app/artifacts/missing" });
    expect(error.message).toBe("Harbor API GET /projects/acme/repositories/app/artifacts/missing answered 404 (NOT_FOUND: artifact acme/app:missing not found)");
    expect(fake.calls).toHaveLength(1);
    expect(sleeps).toEqual([]);
  });

  it("retries a 503 with growing backoff, then succeeds", async () => {
    fake.addProject("acme");
    fake.pushArtifact("acme", "app", { tags: ["v1"] });
    fake.failNext({ kind: "status", status: 503 }, { path: /artifacts/, times: 2 });
    const artifact = await client().getArtifact("acme", "app", "v1");
    expect(artifact.tags).toEqual(["v1"]);
    expect(callsTo(/artifacts\/v1$/)).toBe(3);
    expect(sleeps).toHaveLength(2);
    expect(sleeps[0]).toBeGreaterThanOrEqual(100);
    expect(sleeps[0]).toBeLessThanOrEqual(125);
    expect(sleeps[1]).toBeGreaterThanOrEqual(200);
    expect(sleeps[1]).toBeLessThanOrEqual(250);
    expect(captured.text()).toContain("harbor request failed, retrying");
  });

  it("gives up after the configured retries on persistent 5xx", async () => {
    fake.addProject("acme");
    fake.failNext({ kind: "status", status: 502, body: { errors: [{ code: "BAD_GATEWAY", message: "upstream down" }] } }, { times: 10 });
    const error = await failure(client().ensureProject("acme", { autoScan: false }));
    expect(error.message).toBe("Harbor API GET /projects/acme answered 502 (BAD_GATEWAY: upstream down) after 3 attempts");
    expect(fake.calls).toHaveLength(3);
  });

  it("retries a connection reset and a request that times out", async () => {
    fake.addProject("acme");
    fake.failNext({ kind: "reset" });
    fake.failNext({ kind: "hang" });
    const project = await client({ timeoutMs: 200 }).ensureProject("acme", { autoScan: false });
    expect(project.created).toBe(false);
    expect(fake.calls.map((c) => c.status)).toEqual([-1, -1, 200]);
    expect(captured.lines.map((l) => JSON.parse(l) as { code?: string }).filter((l) => l.code).map((l) => l.code)).toEqual(["ECONNRESET", "ETIMEDOUT"]);
  });

  it("never puts the password into errors or logs", async () => {
    fake.addProject("acme");
    const secretForms = [PASSWORD, encodeURIComponent(PASSWORD), Buffer.from(PASSWORD).toString("base64"), Buffer.from(`${ROBOT}:${PASSWORD}`).toString("base64")];
    const errors: unknown[] = [];
    const collect = async (promise: Promise<unknown>): Promise<void> => {
      await promise.then(
        () => errors.push("no error"),
        (e: unknown) => errors.push(e),
      );
    };
    await collect(client({ password: `${PASSWORD}-wrong` }).ensureProject("acme", { autoScan: false }));
    fake.setCanCreateProjects(false);
    await collect(client().ensureProject("newproj", { autoScan: true }));
    await collect(client().getArtifact("acme", "app", "v1"));
    fake.failNext({ kind: "reset" }, { times: 5 });
    await collect(client().getArtifact("acme", "app", "v1"));
    fake.failNext({ kind: "status", status: 500, body: { errors: [{ code: "X", message: `echo ${PASSWORD}` }] } }, { times: 5 });
    await collect(client().getArtifact("acme", "app", "v1"));

    expect(errors).toHaveLength(5);
    expect(errors.every((e) => e instanceof HarborApiError)).toBe(true);
    const text = [...errors.map((e) => `${String(e)} ${JSON.stringify(e)} ${(e as Error).stack ?? ""}`), captured.text()].join("\n");
    for (const form of secretForms) expect(text).not.toContain(form);
    expect(text).toContain("echo ***");
  });

  it("refuses credentials in the URL and a username Basic auth cannot carry", () => {
    expect(() => new HarborClient({ url: "https://u:p@harbor.example.com", username: ROBOT, password: PASSWORD, log: captured.log })).toThrow(
      "Harbor URL (BERTH_HARBOR_URL) must not contain credentials; use BERTH_HARBOR_USERNAME / BERTH_HARBOR_PASSWORD",
    );
    expect(() => new HarborClient({ url: fake.url, username: "a:b", password: PASSWORD, log: captured.log })).toThrow("must not contain ':'");
  });
});
