import { describe, expect, it } from "vitest";
import { CommandError, runCommand, tailLines } from "../../src/adapters/exec.js";
import { CancelledError } from "../../src/domain/ports.js";
import { createRedactor } from "../../src/domain/redact.js";

const node = process.execPath;

/** Run a small node script as the child. */
function script(code: string): string[] {
  return ["-e", code];
}

describe("runCommand", () => {
  it("returns exit code and both streams", async () => {
    const result = await runCommand(node, script("process.stdout.write('out'); process.stderr.write('err')"), { timeoutMs: 10_000 });
    expect(result).toEqual({ exitCode: 0, stdout: "out", stderr: "err", truncated: false });
  });

  it("passes arguments verbatim, without a shell", async () => {
    const tricky = ["$(touch /tmp/pwned)", "a b", "'quoted'", "; rm -rf /", "`id`"];
    const result = await runCommand(node, [...script("console.log(JSON.stringify(process.argv.slice(1)))"), ...tricky], { timeoutMs: 10_000 });
    expect(JSON.parse(result.stdout)).toEqual(tricky);
  });

  it("merges env over the inherited environment and can remove keys", async () => {
    process.env.BERTH_EXEC_TEST_REMOVE = "present";
    try {
      const result = await runCommand(node, script("console.log(process.env.BERTH_X + '|' + process.env.BERTH_EXEC_TEST_REMOVE)"), {
        timeoutMs: 10_000,
        env: { BERTH_X: "1", BERTH_EXEC_TEST_REMOVE: undefined },
      });
      expect(result.stdout.trim()).toBe("1|undefined");
    } finally {
      delete process.env.BERTH_EXEC_TEST_REMOVE;
    }
  });

  it("throws a CommandError with exit code and a redacted output tail", async () => {
    const redact = createRedactor(["s3cr3t-token"]);
    const code = "for (let i = 0; i < 50; i++) console.error('line ' + i); console.error('token=s3cr3t-token'); process.exit(3)";
    const error = await runCommand(node, [...script(code), "--", "--password", "s3cr3t-token"], { timeoutMs: 10_000, redact }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CommandError);
    const err = error as CommandError;
    expect(err.exitCode).toBe(3);
    expect(err.message).toContain("exited with code 3");
    expect(err.message).toContain("token=***");
    expect(err.message).toContain("line 49");
    expect(err.message).not.toContain("line 10\n");
    expect(err.message).not.toContain("s3cr3t-token");
    expect(err.stderr).not.toContain("s3cr3t-token");
  });

  it("accepts extra ok exit codes", async () => {
    const result = await runCommand(node, script("process.exit(2)"), { timeoutMs: 10_000, okExitCodes: [0, 2] });
    expect(result.exitCode).toBe(2);
  });

  it("kills the process on timeout", async () => {
    const started = Date.now();
    const error = await runCommand(node, script("setInterval(() => {}, 1000)"), { timeoutMs: 300 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CommandError);
    expect((error as CommandError).timedOut).toBe(true);
    expect((error as CommandError).message).toContain("timed out");
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it("escalates to SIGKILL when SIGTERM is ignored", async () => {
    const code = "process.on('SIGTERM', () => {}); console.log('ready'); setInterval(() => {}, 1000)";
    const error = await runCommand(node, script(code), { timeoutMs: 500, killGraceMs: 200 }).catch((e: unknown) => e);
    expect((error as CommandError).timedOut).toBe(true);
  });

  it("rejects with CancelledError when the signal aborts", async () => {
    const controller = new AbortController();
    const pending = runCommand(node, script("setInterval(() => {}, 1000)"), { timeoutMs: 10_000, signal: controller.signal });
    setTimeout(() => controller.abort(), 100);
    await expect(pending).rejects.toBeInstanceOf(CancelledError);
  });

  it("rejects at once when the signal is already aborted", async () => {
    const controller = new AbortController();
    controller.abort();
    await expect(runCommand(node, script(""), { timeoutMs: 10_000, signal: controller.signal })).rejects.toBeInstanceOf(CancelledError);
  });

  it("keeps only the tail of large output", async () => {
    const code = "for (let i = 0; i < 20000; i++) console.log('row ' + i)";
    const result = await runCommand(node, script(code), { timeoutMs: 10_000, maxOutputBytes: 1000 });
    expect(result.truncated).toBe(true);
    expect(Buffer.byteLength(result.stdout)).toBeLessThanOrEqual(1000);
    expect(result.stdout.trimEnd().endsWith("row 19999")).toBe(true);
  });

  it("streams redacted lines and feeds stdin", async () => {
    const lines: string[] = [];
    const redact = createRedactor(["hunter22"]);
    await runCommand(node, script("process.stdin.on('data', d => process.stdout.write(String(d).toUpperCase() + '\\nhunter22\\n'))"), {
      timeoutMs: 10_000,
      input: "hello",
      redact,
      onLine: (line) => lines.push(line),
    });
    expect(lines).toEqual(["HELLO", "***"]);
  });

  it("redacts a secret split over two writes of one very long line", async () => {
    const lines: string[] = [];
    const redact = createRedactor(["TOPSECRETVALUE42"]);
    const code = "process.stdout.write('x'.repeat(70000) + 'TOPSECRET'); setTimeout(() => process.stdout.write('VALUE42 tail\\n'), 100)";
    const result = await runCommand(node, script(code), { timeoutMs: 10_000, redact, onLine: (line) => lines.push(line) });
    const streamed = lines.join("");
    expect(streamed).toBe(`${"x".repeat(70000)}*** tail`);
    for (const line of lines) expect(line).not.toMatch(/TOPSECRET|VALUE42/);
    expect(result.stdout).toBe(`${"x".repeat(70000)}*** tail\n`);
  });

  it("decodes characters split over two writes", async () => {
    const lines: string[] = [];
    const code = "const b = Buffer.from('h\u00e9llo\\n'); process.stdout.write(b.subarray(0, 2)); setTimeout(() => process.stdout.write(b.subarray(2)), 100)";
    await runCommand(node, script(code), { timeoutMs: 10_000, onLine: (line) => lines.push(line) });
    expect(lines).toEqual(["h\u00e9llo"]);
  });

  it("drops the cut first line of a truncated output, where a secret's start is gone", async () => {
    const redact = createRedactor(["ABCDEFGHSECRET99"]);
    // 17-byte lines; the last 1000 bytes start 14 bytes before the end of a line, inside the secret.
    const code = "for (let i = 0; i < 1000; i++) console.log('ABCDEFGHSECRET99')";
    const result = await runCommand(node, script(code), { timeoutMs: 10_000, maxOutputBytes: 1000, redact });
    expect(result.truncated).toBe(true);
    expect(result.stdout.replace(/\*\*\*/g, "")).not.toMatch(/[A-Z0-9]/);
    expect(result.stdout.startsWith("***\n")).toBe(true);
  });

  it("reports a missing program clearly", async () => {
    const error = await runCommand("/nonexistent/berth-helm", ["version"], { timeoutMs: 10_000 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CommandError);
    expect((error as Error).message).toMatch(/was not found/);
  });
});

describe("tailLines", () => {
  it("keeps the last non-empty lines", () => {
    expect(tailLines("a\n\nb\nc\n", 2)).toEqual(["b", "c"]);
  });
});
