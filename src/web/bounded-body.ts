/**
 * Reading request bodies before anything authenticates them: bounded in size (declared and
 * streamed) and in how many are read at once, so an unsigned sender cannot fill berth's memory.
 */
import type { IncomingMessage } from "node:http";

/** GitHub's documented webhook payload maximum (larger payloads are never sent). */
export const WEBHOOK_MAX_BODY_BYTES = 25 * 1024 * 1024;

/** Why a body was not read. */
export type BodyRefusal = "too-large" | "busy" | "unreadable";

export class BodyRefusedError extends Error {
  constructor(
    readonly reason: BodyRefusal,
    message: string,
  ) {
    super(message);
    this.name = "BodyRefusedError";
  }
}

/** HTTP status that answers a refusal. */
export function refusalStatus(reason: BodyRefusal): number {
  return reason === "too-large" ? 413 : reason === "busy" ? 503 : 400;
}

/**
 * Read a whole body of at most `limit` bytes. A `content-length` above it is refused before a byte
 * is read; a body that grows past it while streaming is refused at once and the rest discarded.
 */
export function readBoundedBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers["content-length"]);
    if (Number.isFinite(declared) && declared > limit) {
      req.resume();
      reject(new BodyRefusedError("too-large", `body of ${declared} bytes is over the limit of ${limit}`));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const fail = (error: BodyRefusedError): void => {
      if (done) return;
      done = true;
      chunks.length = 0;
      reject(error);
    };
    req.on("data", (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      if (size > limit) {
        fail(new BodyRefusedError("too-large", `body is over the limit of ${limit} bytes`));
        // Keep draining (and dropping) so the socket can answer 413; nothing more is kept.
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => {
      if (done) return;
      done = true;
      resolve(Buffer.concat(chunks, size));
    });
    req.on("error", (error) => fail(new BodyRefusedError("unreadable", error.message)));
    req.on("aborted", () => fail(new BodyRefusedError("unreadable", "request aborted")));
  });
}

/**
 * At most `max` bodies read at once across the routes that share this gate; one more is refused
 * (503) instead of queued, so slow senders cannot pile up buffers.
 */
export class BodyGate {
  private reading = 0;

  constructor(private readonly max: number) {}

  /** Bodies being read now. */
  get active(): number {
    return this.reading;
  }

  /** Read `req`'s body under the gate's bound and `limit`. */
  async read(req: IncomingMessage, limit: number): Promise<Buffer> {
    if (this.reading >= this.max) {
      req.resume();
      throw new BodyRefusedError("busy", `${this.reading} request bodies are being read already`);
    }
    this.reading++;
    try {
      return await readBoundedBody(req, limit);
    } finally {
      this.reading--;
    }
  }
}
