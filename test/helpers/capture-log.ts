/**
 * A pino logger whose lines are kept in memory, so tests can assert what was (not) logged.
 */
import { pino, type Logger } from "pino";
import { runLogMixin } from "../../src/logging/run-log-context.js";

/** A logger and what it wrote. */
export interface CapturedLog {
  log: Logger;
  /** Every line written, as JSON text. */
  lines: string[];
  /** All lines joined, for "never contains" checks. */
  text(): string;
}

/** A trace-level pino logger writing into memory, with berth's run fields mixin (as in production). */
export function captureLogger(): CapturedLog {
  const lines: string[] = [];
  const log = pino({ level: "trace", mixin: runLogMixin }, { write: (line: string) => void lines.push(line) });
  return { log, lines, text: () => lines.join("") };
}
