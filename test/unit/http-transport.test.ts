import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { z } from "zod";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { HttpApiError, HttpTransport, type HttpTransportOptions } from "../../src/adapters/http-transport.js";
import { captureLogger } from "../helpers/capture-log.js";

const SECRET = "s3cret-T0ken-value";

/** What the server does with the next requests, in order; the last one repeats. */
type Step = (req: IncomingMessage, res: ServerResponse) => void;

let server: Server;
let baseUrl: string;
let steps: Step[];
let calls: { method: string; url: string; headers: IncomingMessage["headers"] }[];

beforeAll(async () => {
  server = createServer((req, res) => {
    calls.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers });
    const step = steps.length > 1 ? steps.shift()! : steps[0]!;
    step(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});
beforeEach(() => {
  steps = [];
  calls = [];
});

function json(status: number, body: unknown, headers: Record<string, string> = {}): Step {
  return (_req, res) => {
    res.writeHead(status, { "Content-Type": "application/json", ...headers });
    res.end(JSON.stringify(body));
  };
}
const reset: Step = (req) => req.socket.destroy();
const hang: Step = () => undefined;

function transport(overrides: Partial<HttpTransportOptions> = {}): { http: HttpTransport; sleeps: number[] } {
  const sleeps: number[] = [];
  const http = new HttpTransport({
    name: "test",
    label: "Test API",
    baseUrl,
    log: captureLogger().log,
    secrets: [SECRET],
    timeoutMs: 2_000,
    retries: 2,
    backoffMs: 100,
    headers: { Authorization: `Bearer ${SECRET}` },
    sleep: async (ms) => void sleeps.push(ms),
    ...overrides,
  });
  return { http, sleeps };
}

const okSchema = z.object({ ok: z.literal(true) });

describe("HttpTransport", () => {
  it("sends query, JSON body and headers, and parses the answer with zod", async () => {
    steps = [json(200, { ok: true })];
    const { http } = transport();
    expect(await http.request({ method: "POST", path: "/things", query: { page: 2, skip: undefined }, body: { name: "x" }, schema: okSchema })).toEqual({ ok: true });
    expect(calls).toHaveLength(1);
    expect(calls[0]).toMatchObject({ method: "POST", url: "/api/things?page=2" });
    expect(calls[0]!.headers["content-type"]).toBe("application/json");
    expect(calls[0]!.headers.authorization).toBe(`Bearer ${SECRET}`);
  });

  it("gives each attempt a deadline and retries a request that timed out", async () => {
    steps = [hang, json(200, { ok: true })];
    const { http, sleeps } = transport({ timeoutMs: 150 });
    expect(await http.request({ method: "GET", path: "/slow", schema: okSchema })).toEqual({ ok: true });
    expect(calls).toHaveLength(2);
    expect(sleeps).toHaveLength(1);
  });

  it("does not repeat a non-idempotent request that timed out", async () => {
    steps = [hang];
    const { http } = transport({ timeoutMs: 150 });
    const error = await http.send({ method: "POST", path: "/comments", body: {}, idempotent: false }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HttpApiError);
    expect((error as HttpApiError).code).toBe("ETIMEDOUT");
    expect((error as Error).message).toBe("Test API POST /comments failed: ETIMEDOUT");
    expect(calls).toHaveLength(1);
  });

  it("retries 5xx with exponential backoff and jitter", async () => {
    steps = [json(503, {}), json(502, {}), json(200, { ok: true })];
    const { http, sleeps } = transport();
    expect(await http.request({ method: "GET", path: "/x", schema: okSchema })).toEqual({ ok: true });
    expect(sleeps).toHaveLength(2);
    expect(sleeps[0]).toBeGreaterThanOrEqual(100);
    expect(sleeps[0]).toBeLessThanOrEqual(125);
    expect(sleeps[1]).toBeGreaterThanOrEqual(200);
    expect(sleeps[1]).toBeLessThanOrEqual(250);
  });

  it("waits as long as a 429's Retry-After asks (seconds or HTTP date), capped", async () => {
    const inTwentySeconds = new Date(Date.now() + 20_000).toUTCString();
    steps = [json(429, {}, { "Retry-After": "3" }), json(429, {}, { "Retry-After": inTwentySeconds }), json(200, { ok: true })];
    const { http, sleeps } = transport();
    await http.request({ method: "GET", path: "/x", schema: okSchema });
    expect(sleeps[0]).toBe(3000);
    expect(sleeps[1]).toBeGreaterThan(17_000);
    expect(sleeps[1]).toBeLessThanOrEqual(20_000);

    steps = [json(503, {}, { "Retry-After": "3600" }), json(200, { ok: true })];
    const capped = transport({ retryAfterCapMs: 5_000 });
    await capped.http.request({ method: "GET", path: "/x", schema: okSchema });
    expect(capped.sleeps).toEqual([5_000]);
  });

  it("retries a connection reset", async () => {
    steps = [reset, json(200, { ok: true })];
    const { http, sleeps } = transport();
    expect(await http.request({ method: "GET", path: "/x", schema: okSchema })).toEqual({ ok: true });
    expect(calls).toHaveLength(2);
    expect(sleeps).toHaveLength(1);
  });

  it("never retries other 4xx, and reads the server's message through the client's hook", async () => {
    const { http, sleeps } = transport({
      describeError: (text) => {
        const body = JSON.parse(text) as { errors: { code: string; message: string }[] };
        return { code: body.errors[0]!.code, message: body.errors.map((e) => `${e.code}: ${e.message}`).join("; ") };
      },
    });
    for (const status of [400, 401, 403, 404, 409, 422]) {
      steps = [json(status, { errors: [{ code: "NOPE", message: "no" }] })];
      const error = await http.send({ method: "GET", path: "/x" }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(HttpApiError);
      expect(error).toMatchObject({ status, code: "NOPE", method: "GET", path: "/x", serverMessage: "NOPE: no" });
      expect((error as Error).message).toBe(`Test API GET /x answered ${status} (NOPE: no)`);
    }
    expect(calls).toHaveLength(6);
    expect(sleeps).toEqual([]);
  });

  it("returns accepted statuses instead of throwing, without retrying them", async () => {
    steps = [json(404, { message: "gone" })];
    const { http } = transport();
    const res = await http.send({ method: "DELETE", path: "/x", accept: [404] });
    expect(res.status).toBe(404);
    expect(res.header("content-type")).toBe("application/json");
    expect(calls).toHaveLength(1);
  });

  it("gives up after a bounded number of attempts, saying how many", async () => {
    steps = [json(500, { message: "down" })];
    const { http } = transport({ formatDetail: (m) => `: ${m}`, describeError: (t) => ({ message: (JSON.parse(t) as { message: string }).message }) });
    await expect(http.send({ method: "GET", path: "/x" })).rejects.toThrow("Test API GET /x answered 500: down after 3 attempts");
    expect(calls).toHaveLength(3);

    calls = [];
    steps = [reset];
    const error = await transport({ retries: 1 }).http.send({ method: "GET", path: "/x" }).catch((e: unknown) => e);
    expect((error as HttpApiError).code).toBe("ECONNRESET");
    expect((error as Error).message).toBe("Test API GET /x failed: ECONNRESET after 2 attempts");
    expect(calls).toHaveLength(2);
  });

  it("keeps secrets out of error messages, paths and server messages", async () => {
    steps = [json(400, `bad token ${SECRET} (${Buffer.from(SECRET).toString("base64")})`)];
    const { http } = transport();
    const error = (await http.send({ method: "GET", path: `/x/${SECRET}` }).catch((e: unknown) => e)) as HttpApiError;
    expect(error.message).not.toContain(SECRET);
    expect(error.message).not.toContain(Buffer.from(SECRET).toString("base64"));
    expect(error.path).toBe("/x/***");
    expect(error.serverMessage).not.toContain(SECRET);
    expect(JSON.stringify(error)).not.toContain(SECRET);
    expect(Object.keys(error)).not.toContain("config");
  });

  it("turns a body that does not match the schema into a typed error naming the path", async () => {
    steps = [json(200, { ok: "yes", items: [{ id: 1 }, { id: "two" }] })];
    const { http } = transport();
    const schema = z.object({ ok: z.boolean(), items: z.array(z.object({ id: z.number() })) });
    const error = (await http.request({ method: "GET", path: "/items", schema }).catch((e: unknown) => e)) as HttpApiError;
    expect(error).toBeInstanceOf(HttpApiError);
    expect(error.code).toBe("INVALID_RESPONSE");
    expect(error.status).toBe(200);
    expect(error.message).toMatch(/^Test API GET \/items answered 200 with an unexpected body \(ok: .*; items\.1\.id: /);

    steps = [(_req, res) => void res.end("<html>")];
    await expect(http.request({ method: "GET", path: "/items", schema })).rejects.toThrow("Test API GET /items answered 200 with a body that is not JSON");
  });

  it("builds the client's own error type", async () => {
    class ClientError extends HttpApiError {}
    steps = [json(404, {})];
    const { http } = transport({ createError: (message, details) => new ClientError(message, details) });
    await expect(http.send({ method: "GET", path: "/x" })).rejects.toBeInstanceOf(ClientError);
  });

  it("rethrows the caller's abort instead of retrying", async () => {
    steps = [hang];
    const controller = new AbortController();
    const { http } = transport();
    const pending = http.send({ method: "GET", path: "/x", signal: controller.signal });
    setTimeout(() => controller.abort(new Error("run superseded")), 50);
    await expect(pending).rejects.toThrow("run superseded");
    expect(calls).toHaveLength(1);
  });

  it("lets a client wrap each attempt (auth challenges) with extra headers", async () => {
    steps = [json(401, {}, { "WWW-Authenticate": 'Basic realm="r"' }), json(200, { ok: true })];
    const { http } = transport({ headers: {} });
    const res = await http.send({
      method: "GET",
      path: "/x",
      authenticate: async (send) => {
        const first = await send();
        return first.status === 401 ? send({ Authorization: "Basic abc" }) : first;
      },
    });
    expect(res.status).toBe(200);
    expect(calls.map((c) => c.headers.authorization)).toEqual([undefined, "Basic abc"]);
  });
});

describe("binary answers (archives)", () => {
  const bytes = Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0xff, 0x00, 0x10]);
  const binary = (status: number, body: Buffer): Step => (_req, res) => {
    res.writeHead(status, { "Content-Type": "application/octet-stream", "Content-Length": body.length });
    res.end(body);
  };

  it("returns the bytes untouched", async () => {
    steps = [binary(200, bytes)];
    const res = await transport().http.send({ method: "GET", path: "/archive", binary: true });
    expect(res.bytes).toEqual(bytes);
    expect(res.text).toBe("");
  });

  it("reads an error answer of a binary request as text for the message", async () => {
    steps = [json(404, { message: "GetArchive" })];
    await expect(transport({ describeError: (text) => ({ message: (JSON.parse(text) as { message: string }).message }) }).http.send({ method: "GET", path: "/archive", binary: true })).rejects.toThrow(
      "Test API GET /archive answered 404 (GetArchive)",
    );
  });

  it("stops reading an answer over the call's limit, without retrying", async () => {
    steps = [binary(200, Buffer.alloc(64 * 1024, 1))];
    const error = await transport().http.send({ method: "GET", path: "/archive", binary: true, maxResponseBytes: 1024 }).then(() => undefined, (e: unknown) => e as HttpApiError);
    expect(error?.code).toBe("TOO_LARGE");
    expect(error?.message).toBe("Test API GET /archive answered with a body over 1024 bytes");
    expect(calls).toHaveLength(1);
  });

  it("takes a per-call deadline over the transport's (which here outlasts the test)", async () => {
    steps = [hang];
    await expect(transport({ timeoutMs: 600_000, retries: 0 }).http.send({ method: "GET", path: "/slow", timeoutMs: 200 })).rejects.toThrow("failed: ETIMEDOUT");
  });
});
