/**
 * Reading the JSON-lines progress streams of `/build`, `/images/create` and `/images/{name}/push`.
 * The engine answers 200 first and reports failure later inside the stream, so every message
 * is inspected for `error` / `errorDetail`.
 */
import type { Readable } from "node:stream";
import { LineSplitter } from "./log-lines.js";

/** One message of a progress stream (only the fields berth reads). */
export interface ProgressMessage {
  stream?: string;
  status?: string;
  id?: string;
  progress?: string;
  progressDetail?: Record<string, unknown>;
  error?: string;
  errorDetail?: { message?: string; code?: number };
  aux?: { ID?: string; Tag?: string; Digest?: string; Size?: number };
}

/** The error a message carries, if any. */
export function messageError(message: ProgressMessage): string | undefined {
  const text = message.errorDetail?.message ?? message.error;
  return typeof text === "string" && text.trim() !== "" ? text.trim() : undefined;
}

/**
 * Yield each message of a progress stream. A line that is not JSON (a proxy's error page, a
 * truncated write) is yielded as `{ stream: line }` so it still reaches the log instead of
 * breaking the reader.
 */
export async function* readProgress(stream: Readable): AsyncGenerator<ProgressMessage> {
  const lines: string[] = [];
  // JSON lines are never cut (a cut line would not parse); the log lines inside them are, later.
  const splitter = new LineSplitter((line) => lines.push(line), 16 * 1024 * 1024);
  const drain = function* (): Generator<ProgressMessage> {
    while (lines.length) {
      const line = (lines.shift() ?? "").trim();
      if (line === "") continue;
      let parsed: unknown;
      try {
        parsed = JSON.parse(line);
      } catch {
        parsed = undefined;
      }
      yield typeof parsed === "object" && parsed !== null ? (parsed as ProgressMessage) : { stream: `${line}\n` };
    }
  };
  for await (const chunk of stream) {
    splitter.write(chunk as Buffer);
    yield* drain();
  }
  splitter.end();
  yield* drain();
}
