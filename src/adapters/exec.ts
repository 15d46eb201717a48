/**
 * The one way berth runs a child process: an argv array (never a shell string), a timeout,
 * cancellation through an AbortSignal, bounded output and secret redaction.
 */
import { spawn } from "node:child_process";
import { StringDecoder } from "node:string_decoder";
import { CancelledError, type LogSink } from "../domain/ports.js";
import { safeCut, type Redactor } from "../domain/redact.js";

/** Options of {@link runCommand}. */
export interface RunCommandOptions {
  /** Hard limit; the process gets SIGTERM, then SIGKILL after {@link RunCommandOptions.killGraceMs}. */
  timeoutMs: number;
  /** Aborting kills the process and makes the call reject with a `CancelledError`. */
  signal?: AbortSignal;
  /** Added to (or, with `undefined`, removed from) the inherited environment. */
  env?: Record<string, string | undefined>;
  /** Do not inherit `process.env`; only `env` (plus PATH and HOME) is passed. */
  cleanEnv?: boolean;
  cwd?: string;
  /** Applied to argv in messages, to the returned output and to every streamed line. */
  redact?: Redactor;
  /** Bytes kept per stream; the oldest output is dropped first (the tail explains failures). Default 4 MiB. */
  maxOutputBytes?: number;
  /** Written to stdin, which is then closed. stdin is closed immediately otherwise. */
  input?: string;
  /** Receives each complete output line (stdout and stderr), redacted. */
  onLine?: LogSink;
  /** Exit codes that count as success (default `[0]`). */
  okExitCodes?: readonly number[];
  /** Time between SIGTERM and SIGKILL. Default 5 s. */
  killGraceMs?: number;
}

/** Output of a finished command. */
export interface CommandResult {
  exitCode: number;
  stdout: string;
  stderr: string;
  /** True when some output was dropped to stay under `maxOutputBytes`. */
  truncated: boolean;
}

/** Lines of output quoted in a {@link CommandError} message. */
const ERROR_TAIL_LINES = 20;

/** A command that failed to start, exited non-zero, or ran past its timeout. Message and fields are redacted. */
export class CommandError extends Error {
  /** null when the process did not exit by itself (timeout, signal, spawn failure). */
  readonly exitCode: number | null;
  readonly timedOut: boolean;
  readonly stdout: string;
  readonly stderr: string;

  constructor(message: string, details: { exitCode: number | null; timedOut: boolean; stdout: string; stderr: string }) {
    super(message);
    this.name = "CommandError";
    this.exitCode = details.exitCode;
    this.timedOut = details.timedOut;
    this.stdout = details.stdout;
    this.stderr = details.stderr;
  }
}

/** Last `n` non-empty lines of a text. */
export function tailLines(text: string, n: number): string[] {
  const lines = text.split(/\r?\n/).filter((line) => line.trim() !== "");
  return lines.slice(-n);
}

/** Keeps at most `limit` bytes of a stream, dropping the oldest chunks first. */
class TailBuffer {
  private chunks: Buffer[] = [];
  private size = 0;
  truncated = false;

  constructor(private readonly limit: number) {}

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.size > this.limit && this.chunks.length > 0) {
      const first = this.chunks[0]!;
      const excess = this.size - this.limit;
      this.truncated = true;
      if (first.length <= excess) {
        this.chunks.shift();
        this.size -= first.length;
      } else {
        this.chunks[0] = first.subarray(excess);
        this.size -= excess;
      }
    }
  }

  text(): string {
    const text = Buffer.concat(this.chunks).toString("utf8");
    if (!this.truncated) return text;
    // The first line was cut somewhere inside: its start (maybe the start of a secret) is gone, so
    // redaction could not recognise what is left of it. Drop it.
    const newline = text.indexOf("\n");
    return newline >= 0 ? text.slice(newline + 1) : "";
  }
}

/** Longest unterminated line handed on whole; longer ones go on in pieces. */
const MAX_PENDING_LINE = 64 * 1024;

/** Splits a byte stream into redacted lines for a line callback (UTF-8 decoded across chunk edges). */
function lineSplitter(redact: Redactor, onLine: (line: string) => void): { push(chunk: Buffer): void; flush(): void } {
  const decoder = new StringDecoder("utf8");
  let pending = "";
  return {
    push(chunk) {
      pending += decoder.write(chunk);
      const parts = pending.split(/\r?\n/);
      pending = parts.pop() ?? "";
      for (const part of parts) onLine(redact(part));
      // A single unterminated line must not grow without bound; it goes on in pieces, but the tail that
      // could be the start of a secret (a secret split over two writes) is kept, redacted, for the next piece.
      if (pending.length > MAX_PENDING_LINE) {
        const clean = redact(pending);
        const cut = safeCut(clean, redact);
        if (cut > 0) onLine(clean.slice(0, cut));
        pending = clean.slice(cut);
      }
    },
    flush() {
      pending += decoder.end();
      if (pending !== "") onLine(redact(pending));
      pending = "";
    },
  };
}

function buildEnv(options: RunCommandOptions): NodeJS.ProcessEnv {
  const base: NodeJS.ProcessEnv = options.cleanEnv
    ? { PATH: process.env.PATH, HOME: process.env.HOME }
    : { ...process.env };
  for (const [key, value] of Object.entries(options.env ?? {})) {
    if (value === undefined) delete base[key];
    else base[key] = value;
  }
  return base;
}

/**
 * Run `file` with `args` and wait for it to exit.
 *
 * Uses `spawn` with `shell: false` (the primitive under `execFile`) rather than `execFile` itself:
 * `execFile` kills the child once `maxBuffer` is exceeded and keeps the head of the output, while
 * berth wants the process to finish and keeps the tail, which is where tools explain failures.
 *
 * @throws CommandError on a non-zero exit, a timeout or a spawn failure (redacted message with output tail).
 * @throws CancelledError when `signal` aborts.
 */
export function runCommand(file: string, args: readonly string[], options: RunCommandOptions): Promise<CommandResult> {
  const redact: Redactor = options.redact ?? ((text) => text);
  const limit = options.maxOutputBytes ?? 4 * 1024 * 1024;
  const okCodes = options.okExitCodes ?? [0];
  const display = redact([file, ...args].map((a) => (/[\s"'\\]/.test(a) ? JSON.stringify(a) : a)).join(" "));
  const shortName = redact([file.split("/").pop() ?? file, args[0] ?? ""].join(" ").trim());

  if (options.signal?.aborted) {
    return Promise.reject(new CancelledError(`${shortName} was cancelled before it started`));
  }

  return new Promise<CommandResult>((resolve, reject) => {
    const stdout = new TailBuffer(limit);
    const stderr = new TailBuffer(limit);
    const onLine = options.onLine;
    const lines = onLine ? lineSplitter(redact, onLine) : undefined;
    const errLines = onLine ? lineSplitter(redact, onLine) : undefined;

    let timedOut = false;
    let cancelled = false;
    let settled = false;
    let killTimer: NodeJS.Timeout | undefined;

    const child = spawn(file, [...args], {
      cwd: options.cwd,
      env: buildEnv(options),
      shell: false,
      windowsHide: true,
      // Own process group so a kill also reaches grandchildren (helm plugins, wrappers).
      detached: process.platform !== "win32",
      stdio: ["pipe", "pipe", "pipe"],
    });

    const kill = (): void => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      signalTree("SIGTERM");
      killTimer = setTimeout(() => signalTree("SIGKILL"), options.killGraceMs ?? 5000);
      killTimer.unref();
    };
    const signalTree = (sig: NodeJS.Signals): void => {
      try {
        if (child.pid !== undefined && process.platform !== "win32") process.kill(-child.pid, sig);
        else child.kill(sig);
      } catch {
        // Already gone.
      }
    };

    const timer = setTimeout(() => {
      timedOut = true;
      kill();
    }, options.timeoutMs);
    timer.unref();

    const onAbort = (): void => {
      cancelled = true;
      kill();
    };
    options.signal?.addEventListener("abort", onAbort, { once: true });

    const finish = (outcome: { ok: true; value: CommandResult } | { ok: false; error: Error }): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (killTimer) clearTimeout(killTimer);
      options.signal?.removeEventListener("abort", onAbort);
      if (outcome.ok) resolve(outcome.value);
      else reject(outcome.error);
    };

    child.stdout.on("data", (chunk: Buffer) => {
      stdout.push(chunk);
      lines?.push(chunk);
    });
    child.stderr.on("data", (chunk: Buffer) => {
      stderr.push(chunk);
      errLines?.push(chunk);
    });
    // A child that exits before reading its stdin makes writes fail with EPIPE; that is not our error.
    child.stdin.on("error", () => undefined);
    child.stdin.end(options.input ?? undefined);

    child.on("error", (err: NodeJS.ErrnoException) => {
      const reason = err.code === "ENOENT" ? `${redact(file)} was not found (is it installed and on PATH?)` : redact(err.message);
      finish({
        ok: false,
        error: new CommandError(`could not start ${shortName}: ${reason}`, { exitCode: null, timedOut: false, stdout: "", stderr: "" }),
      });
    });

    child.on("close", (code, sig) => {
      lines?.flush();
      errLines?.flush();
      const out = redact(stdout.text());
      const err = redact(stderr.text());
      const truncated = stdout.truncated || stderr.truncated;
      if (cancelled) {
        finish({ ok: false, error: new CancelledError(`${shortName} was cancelled`) });
        return;
      }
      if (!timedOut && code !== null && okCodes.includes(code)) {
        finish({ ok: true, value: { exitCode: code, stdout: out, stderr: err, truncated } });
        return;
      }
      const tail = tailLines(err.trim() !== "" ? err : out, ERROR_TAIL_LINES);
      const why = timedOut
        ? `timed out after ${Math.round(options.timeoutMs / 1000)}s`
        : code !== null
          ? `exited with code ${code}`
          : `was killed by ${sig ?? "a signal"}`;
      const message = [`${display} ${why}`, ...tail.map((line) => `  ${line}`)].join("\n");
      finish({ ok: false, error: new CommandError(message, { exitCode: timedOut ? null : code, timedOut, stdout: out, stderr: err }) });
    });
  });
}
