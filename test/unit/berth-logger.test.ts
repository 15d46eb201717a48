/**
 * berth's root logger: JSON lines when not on a terminal or with LOG_FORMAT=json, readable
 * pino-pretty lines on a terminal or with LOG_FORMAT=pretty, secrets at the redact paths censored in
 * both, and the run's fields added inside a run context.
 */
import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { createBerthLogger } from "../../src/logging/berth-logger.js";
import { withRunLogContext } from "../../src/logging/run-log-context.js";

/** A stream standing in for stdout, a terminal or not. */
function sink(isTTY: boolean): { lines: string[]; destination: Writable & { isTTY: boolean } } {
  const lines: string[] = [];
  const destination = Object.assign(
    new Writable({
      write(chunk: Buffer | string, _encoding, done) {
        lines.push(chunk.toString());
        done();
      },
    }),
    { isTTY },
  );
  return { lines, destination };
}

describe("createBerthLogger", () => {
  it("writes JSON lines off a terminal, with secrets censored", () => {
    const out = sink(false);
    const log = createBerthLogger({ destination: out.destination });
    log.info({ registry: { password: "hunter2-secret" }, req: { headers: { authorization: "Bearer abc", "x-gitee-token": "gitee-secret" } } }, "hello");
    expect(out.lines).toHaveLength(1);
    const line = JSON.parse(out.lines[0]!);
    expect(line).toMatchObject({ level: 30, msg: "hello", registry: { password: "***" }, req: { headers: { authorization: "***", "x-gitee-token": "***" } } });
    expect(out.lines[0]).not.toMatch(/hunter2|gitee-secret|Bearer abc/);
  });

  it("writes readable lines on a terminal, and JSON there when LOG_FORMAT=json", () => {
    const tty = sink(true);
    createBerthLogger({ destination: tty.destination }).warn({ deliveryId: "d-1", gitee: { token: "t0ps3cret" } }, "webhook refused");
    const text = tty.lines.join("");
    expect(() => JSON.parse(text)).toThrow();
    expect(text).toMatch(/WARN/);
    expect(text).toContain("webhook refused");
    expect(text).toContain("d-1");
    expect(text).not.toContain("t0ps3cret");

    const forced = sink(true);
    createBerthLogger({ destination: forced.destination, format: "json" }).info("plain");
    expect(JSON.parse(forced.lines.join(""))).toMatchObject({ msg: "plain" });

    const pretty = sink(false);
    createBerthLogger({ destination: pretty.destination, format: "pretty", level: "debug" }).debug("readable");
    expect(pretty.lines.join("")).toMatch(/DEBUG.*readable/);
  });

  it("adds the run's fields inside a run context, not outside", async () => {
    const out = sink(false);
    const log = createBerthLogger({ destination: out.destination }).child({ name: "docker-target" });
    await withRunLogContext({ runId: "r-1", prKey: "github:a/b#1" }, async () => {
      await withRunLogContext({ runId: "r-1", prKey: "github:a/b#1", stage: "deploy" }, async () => {
        await new Promise((resolve) => setImmediate(resolve));
        log.info("inside");
      });
    });
    log.info("outside");
    const [inside, outside] = out.lines.map((line) => JSON.parse(line));
    expect(inside).toMatchObject({ name: "docker-target", runId: "r-1", prKey: "github:a/b#1", stage: "deploy", msg: "inside" });
    expect(outside.runId).toBeUndefined();
    expect(outside.stage).toBeUndefined();
  });
});
