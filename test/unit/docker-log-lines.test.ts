import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { demuxLogBuffer, LineSplitter, LineTail, LogDemuxer, stripAnsi } from "../../src/adapters/docker/log-lines.js";
import { messageError, readProgress } from "../../src/adapters/docker/progress-stream.js";
import { createRedactor } from "../../src/domain/redact.js";

function frame(stream: 1 | 2, text: string | Buffer): Buffer {
  const payload = typeof text === "string" ? Buffer.from(text) : text;
  const header = Buffer.alloc(8);
  header[0] = stream;
  header.writeUInt32BE(payload.length, 4);
  return Buffer.concat([header, payload]);
}

describe("LogDemuxer", () => {
  it("splits frames and lines even when chunks cut through headers, lines and UTF-8 characters", () => {
    const euro = Buffer.from("€"); // 3 bytes
    const data = Buffer.concat([
      frame(1, "one\ntw"),
      frame(2, "err line\n"),
      frame(1, Buffer.concat([Buffer.from("o "), euro.subarray(0, 1)])),
      frame(1, Buffer.concat([euro.subarray(1), Buffer.from("\r\nlast without newline")])),
    ]);
    const seen: Array<[string, string]> = [];
    const demuxer = new LogDemuxer((line, stream) => seen.push([stream, line]));
    for (let i = 0; i < data.length; i += 3) demuxer.write(data.subarray(i, i + 3));
    demuxer.end();
    expect(seen).toEqual([
      ["stdout", "one"],
      ["stderr", "err line"],
      ["stdout", "two €"],
      ["stdout", "last without newline"],
    ]);
  });

  it("strips terminal colours from container output", () => {
    expect(demuxLogBuffer(frame(2, "\u001b[91mred error\u001b[0m\n"))).toEqual(["red error"]);
    expect(stripAnsi("\u001b[1;32m✓\u001b[22m ok\u001b[39m")).toBe("✓ ok");
  });
});

describe("LineSplitter and LineTail", () => {
  it("treats a lone CR as a line end but keeps CRLF as one", () => {
    const lines: string[] = [];
    const splitter = new LineSplitter((l) => lines.push(l));
    splitter.write("10%\r20%\r");
    splitter.write("\ndone\n");
    splitter.end();
    expect(lines).toEqual(["10%", "20%", "done"]);
  });

  it("keeps only the last lines", () => {
    const tail = new LineTail(2);
    for (const line of ["a", "b", "c"]) tail.push(line);
    expect(tail.lines()).toEqual(["b", "c"]);
  });
});

describe("readProgress", () => {
  it("yields JSON messages across chunk edges, keeps non-JSON lines, and finds stream errors", async () => {
    const body = '{"stream":"Step 1/2 : FROM scratch\\n"}\n{"errorDetail":{"message":"boom"},"error":"boom"}\nnot json\n';
    const chunks = [body.slice(0, 10), body.slice(10, 40), body.slice(40)].map((c) => Buffer.from(c));
    const messages = [];
    for await (const message of readProgress(Readable.from(chunks))) messages.push(message);
    expect(messages).toEqual([
      { stream: "Step 1/2 : FROM scratch\n" },
      { errorDetail: { message: "boom" }, error: "boom" },
      { stream: "not json\n" },
    ]);
    expect(messages.map(messageError)).toEqual([undefined, "boom", undefined]);
  });
});

describe("redaction before lines are cut", () => {
  const secret = "s3cr3t-registry-password-0123456789";
  const redact = createRedactor([secret]);

  it("redacts a long line whole before clipping it, so the cut never splits a secret", () => {
    const lines: string[] = [];
    const splitter = new LineSplitter((line) => lines.push(line), 2000, redact);
    // The secret straddles the 2000-character cut.
    splitter.write(`${"x".repeat(1990)}${secret}${"y".repeat(500)}\n`);
    splitter.end();
    expect(lines).toHaveLength(1);
    expect(lines[0]).not.toContain(secret.slice(0, 10));
    expect(lines[0]?.startsWith("x".repeat(1990))).toBe(true);
  });

  it("keeps a secret's start back when a line that never ends is handed on in pieces", () => {
    const lines: string[] = [];
    const splitter = new LineSplitter((line) => lines.push(line), 100, redact);
    // No newline ever: pieces go out at 400 characters; the secret lands across that edge.
    splitter.write("a".repeat(390));
    splitter.write(secret.slice(0, 20));
    splitter.write(`${secret.slice(20)}${"b".repeat(50)}`);
    splitter.end();
    const all = lines.join("");
    for (let n = 6; n <= secret.length; n++) expect(all).not.toContain(secret.slice(0, n));
    expect(all).not.toContain(secret.slice(-10));
  });

  it("redacts container log frames (deploy failures, test output)", () => {
    const lines = demuxLogBuffer(Buffer.concat([frame(1, `token ${secret} done\n`)]), redact);
    expect(lines).toEqual(["token *** done"]);
  });
});
