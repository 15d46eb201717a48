/**
 * Every line logged while a run executes carries its `runId`, `prKey` and (inside a stage) `stage`:
 * the executor's and the stages' own lines through child loggers, and lines of adapters whose
 * loggers were made at start (a target, the image builder) through the root logger's mixin. Driven
 * through the front door: a signed webhook over real HTTP, lines captured as JSON.
 */
import { createHmac } from "node:crypto";
import type { Logger } from "pino";
import nock from "nock";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { BuildRequest, DeployRequest, TestRequest } from "../../src/domain/ports.js";
import { FakeBuilder, FakeTarget } from "../fakes/fake-adapters.js";
import { captureLogger } from "../helpers/capture-log.js";
import { mockGitHub } from "../helpers/github-nock.js";
import { pullRequestPayload } from "../helpers/github-payloads.js";
import { startHttpBerth, type HttpBerth } from "../helpers/http-berth.js";

const SECRET = "webhook-secret-for-log-tests";

/** A builder that logs through its own logger, made before any run (as main.ts makes them). */
class LoggingBuilder extends FakeBuilder {
  constructor(private readonly log: Logger) {
    super();
  }
  override async build(req: BuildRequest) {
    this.log.info({ tag: req.tag }, "fake build started");
    return super.build(req);
  }
}

class LoggingTarget extends FakeTarget {
  constructor(private readonly log: Logger) {
    super();
  }
  override async deploy(req: DeployRequest) {
    this.log.info({ port: req.preview.port }, "fake deploy");
    return super.deploy(req);
  }
  override async runTests(req: TestRequest) {
    // Work the stage does not await directly still belongs to it.
    await new Promise((resolve) => setTimeout(resolve, 5));
    this.log.warn("fake tests ran after a timer");
    return super.runTests(req);
  }
}

const captured = captureLogger();
let berth: HttpBerth;

beforeAll(async () => {
  nock.disableNetConnect();
  nock.enableNetConnect("127.0.0.1");
  berth = await startHttpBerth(SECRET, {
    builder: new LoggingBuilder(captured.log.child({ name: "builder" })),
    targets: { docker: new LoggingTarget(captured.log.child({ name: "docker-target" })) },
    log: captured.log.child({ name: "berth" }),
  });
});

afterAll(async () => {
  await berth.close();
  nock.cleanAll();
  nock.enableNetConnect();
});

it("puts runId, prKey and stage on every line of a running stage, whoever logs it, each key once", async () => {
  mockGitHub({ config: "test:\n  command: [x]\n" });
  const body = JSON.stringify(pullRequestPayload({ action: "opened", headSha: "9".repeat(40) }));
  const res = await fetch(`${berth.origin}/api/github/webhooks`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-github-event": "pull_request", "x-github-delivery": "log-1", "x-hub-signature-256": `sha256=${createHmac("sha256", SECRET).update(body).digest("hex")}` },
    body,
  });
  expect(res.status).toBe(200);
  await berth.engine.drained(60_000);

  const [run] = await berth.store.latestPipelineRuns("github:Codertocat/Hello-World#2", 1);
  expect(run?.status).toBe("failed");
  const lines = captured.lines.map((line) => ({ raw: line, json: JSON.parse(line) as Record<string, unknown> }));
  const byMessage = (msg: string) => lines.filter((l) => l.json.msg === msg);
  const expected = (stage: string) => ({ runId: run!.id, prKey: run!.prKey, stage });

  expect(byMessage("fake build started").map((l) => l.json)).toEqual([expect.objectContaining({ name: "builder", ...expected("build") })]);
  expect(byMessage("fake deploy").map((l) => l.json)).toEqual([expect.objectContaining({ name: "docker-target", ...expected("deploy") })]);
  expect(byMessage("fake tests ran after a timer").map((l) => l.json)).toEqual([expect.objectContaining({ name: "docker-target", ...expected("test") })]);
  expect(byMessage("stage finished").map((l) => l.json)).toEqual(["build", "deploy", "test"].map((stage) => expect.objectContaining(expected(stage))));

  // Every line that names the run names its PR; none names a stage without its run.
  const ofRun = lines.filter((l) => l.json.runId === run!.id);
  expect(ofRun.length).toBeGreaterThanOrEqual(6);
  for (const line of ofRun) expect(line.json.prKey, line.raw).toBe(run!.prKey);
  for (const line of lines.filter((l) => "stage" in l.json)) expect(line.json.runId, line.raw).toBeDefined();
  // A key bound by a child logger is not written again by the mixin.
  for (const line of byMessage("stage finished")) expect(line.raw.match(/"runId":/g), line.raw).toHaveLength(1);
  for (const line of byMessage("fake deploy")) expect(line.raw.match(/"stage":/g), line.raw).toHaveLength(1);
  // Nothing carries the run's fields outside it: the webhook's own lines do not.
  expect(lines.filter((l) => l.json.msg === "run queued").every((l) => l.json.stage === undefined)).toBe(true);
});
