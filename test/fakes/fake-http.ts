/**
 * HTTP plumbing of the vendor API fakes (Gitee, Gitea, Harbor): reading a request body and writing
 * an answer (JSON, raw bytes, or none).
 */
import type { IncomingMessage, ServerResponse } from "node:http";

/** The whole request body. */
export function readRequestBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

/** Answer with JSON (or bytes, or no body when `payload` is undefined or the request was a HEAD). */
export function writeAnswer(res: ServerResponse, status: number, payload: unknown, options: { headers?: Record<string, string>; contentType?: string; head?: boolean } = {}): void {
  const headers = options.headers ?? {};
  if (payload === undefined || options.head) {
    res.writeHead(status, headers).end();
    return;
  }
  if (Buffer.isBuffer(payload)) {
    res.writeHead(status, { ...headers, "content-type": "application/octet-stream", "content-length": payload.length }).end(payload);
    return;
  }
  const text = JSON.stringify(payload);
  res.writeHead(status, { ...headers, "content-type": options.contentType ?? "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

/** One call a vendor API fake received (each fake adds what it knows beyond this). */
export interface RecordedApiCall {
  method: string;
  /** Path without query string, as sent. */
  path: string;
  /** Matched spec template, when the path is in the spec. */
  template: string | undefined;
  query: Record<string, string>;
  /** Parsed body, if any. */
  body: unknown;
  status: number;
}
