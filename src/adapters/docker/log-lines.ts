/**
 * Turning engine byte streams into log lines: UTF-8-safe line splitting, the 8-byte-header
 * multiplexing of container logs, and a bounded tail.
 */
import { StringDecoder } from "node:string_decoder";
import { safeCut, type Redactor } from "../../domain/redact.js";

/** Longest line kept; longer ones are cut (a minified bundle printed to stdout must not fill a comment). */
export const MAX_LINE_CHARS = 2000;

/** ANSI escape sequences (colours, cursor moves): the classic builder paints stderr red, test runners paint everything. */
const ANSI = /\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]/g;

/** A log line without terminal escape codes (they would garble comments and reports). */
export function stripAnsi(line: string): string {
  return line.replace(ANSI, "");
}

function clip(line: string, max: number): string {
  return line.length > max ? `${line.slice(0, max)}…` : line;
}

/** The last `max` lines pushed into it. */
export class LineTail {
  private readonly kept: string[] = [];
  constructor(private readonly max: number) {}

  push(line: string): void {
    this.kept.push(line);
    if (this.kept.length > this.max) this.kept.shift();
  }

  lines(): string[] {
    return [...this.kept];
  }
}

/**
 * Splits chunks into lines (`\n`, `\r\n`, and the `\r` of progress bars), decoding UTF-8 across
 * chunk edges. With a redactor, each line is redacted whole before it is clipped to `maxChars`, and
 * a line that never ends is handed on in pieces that keep a secret's possible start back for the
 * next piece, so no cut ever splits a secret into parts that pass redaction.
 */
export class LineSplitter {
  private readonly decoder = new StringDecoder("utf8");
  private pending = "";

  constructor(
    private readonly onLine: (line: string) => void,
    private readonly maxChars = MAX_LINE_CHARS,
    private readonly redact?: Redactor,
  ) {}

  write(chunk: Buffer | string): void {
    this.pending += typeof chunk === "string" ? chunk : this.decoder.write(chunk);
    // A `\r` at the very end may be the first half of `\r\n`: leave it pending.
    const parts = this.pending.split(/\r\n|\n|\r(?!$)/);
    this.pending = parts.pop() ?? "";
    for (const part of parts) this.emit(part);
    // A line that never ends must not grow without bound.
    if (this.pending.length > this.maxChars * 4) {
      if (!this.redact) {
        this.emit(this.pending);
        this.pending = "";
        return;
      }
      const clean = this.redact(this.pending);
      const cut = safeCut(clean, this.redact);
      this.onLine(clip(clean.slice(0, cut), this.maxChars));
      this.pending = clean.slice(cut);
    }
  }

  end(): void {
    this.pending = (this.pending + this.decoder.end()).replace(/\r$/, "");
    if (this.pending !== "") this.emit(this.pending);
    this.pending = "";
  }

  private emit(line: string): void {
    this.onLine(clip(this.redact ? this.redact(line) : line, this.maxChars));
  }
}

/**
 * Demultiplexes the container log/attach stream of a container without a TTY: frames of
 * `[stream, 0, 0, 0, size (uint32 BE)]` + payload, stream 1 = stdout, 2 = stderr.
 */
export class LogDemuxer {
  private buffer: Buffer = Buffer.alloc(0);
  private readonly out: LineSplitter;
  private readonly err: LineSplitter;

  constructor(onLine: (line: string, stream: "stdout" | "stderr") => void, redact?: Redactor) {
    this.out = new LineSplitter((line) => onLine(stripAnsi(line), "stdout"), MAX_LINE_CHARS, redact);
    this.err = new LineSplitter((line) => onLine(stripAnsi(line), "stderr"), MAX_LINE_CHARS, redact);
  }

  write(chunk: Buffer): void {
    this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : chunk;
    while (this.buffer.length >= 8) {
      const type = this.buffer[0];
      const size = this.buffer.readUInt32BE(4);
      if (this.buffer.length < 8 + size) return;
      const payload = this.buffer.subarray(8, 8 + size);
      this.buffer = this.buffer.subarray(8 + size);
      (type === 2 ? this.err : this.out).write(payload);
    }
  }

  end(): void {
    this.out.end();
    this.err.end();
  }
}

/** Lines of a complete multiplexed log buffer (the answer of a non-follow `logs` call). */
export function demuxLogBuffer(data: Buffer, redact?: Redactor): string[] {
  const lines: string[] = [];
  const demuxer = new LogDemuxer((line) => lines.push(line), redact);
  demuxer.write(data);
  demuxer.end();
  return lines;
}
