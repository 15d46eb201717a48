import type { IncomingMessage, ServerResponse } from "node:http";
import { describe, expect, it } from "vitest";
import type { Store, StoredLog } from "../../src/pipeline/store.js";
import { createWebRoutes, LOG_PAGE_LIMITS } from "../../src/web/routes.js";

const ID = "0123456789abcdef";

function routesFor(text: string, limits?: { lines: number; chars: number }) {
  const log: StoredLog = { id: ID, runId: "run-1", stage: "build", createdAt: 0, text };
  const store = { getLog: (id: string) => (id === ID ? log : undefined), getRun: () => undefined } as unknown as Store;
  const handler = createWebRoutes(store, "https://berth.example.com/reports", limits);
  return async (path: string) => {
    let status = 0;
    let body = "";
    const res = { writeHead: (s: number) => void (status = s), end: (b: string) => void (body = b) } as unknown as ServerResponse;
    await handler({ method: "GET", url: path } as IncomingMessage, res);
    return { status, body };
  };
}

const HEADER = "berth · build log · run run-1 · 1970-01-01T00:00:00.000Z";

describe("log pages", () => {
  it("serves a short log whole, as before", async () => {
    const get = routesFor("step 1\nstep 2\n");
    expect(await get(`/reports/logs/${ID}`)).toEqual({ status: 200, body: `${HEADER}\n\nstep 1\nstep 2\n` });
    expect((await get(`/reports/logs/${ID}?page=1`)).status).toBe(200);
  });

  it("splits a long log into pages of at most 2000 lines, newest page by default", async () => {
    const lines = Array.from({ length: 4500 }, (_, i) => `line ${i + 1}`);
    const get = routesFor(`${lines.join("\n")}\n`);
    const last = await get(`/reports/logs/${ID}`);
    expect(last.body.startsWith(`${HEADER} · page 3 of 3 (earlier: ?page=2 · first: ?page=1 · last: ?page=3)\n\nline 4001\n`)).toBe(true);
    expect(last.body.endsWith("line 4500\n")).toBe(true);
    const first = await get(`/reports/logs/${ID}?page=1`);
    expect(first.body).toBe(`${HEADER} · page 1 of 3 (later: ?page=2 · first: ?page=1 · last: ?page=3)\n\n${lines.slice(0, LOG_PAGE_LIMITS.lines).join("\n")}\n`);
    const middle = await get(`/reports/logs/${ID}?page=2`);
    expect(middle.body).toContain("\n\nline 2001\n");
    expect(middle.body.endsWith("line 4000\n")).toBe(true);
  });

  it("bounds a page by characters too, cutting a single overlong line", async () => {
    const text = `short\n${"x".repeat(25)}\ntail\n`;
    const get = routesFor(text, { lines: 100, chars: 10 });
    const bodies: string[] = [];
    for (let page = 1; ; page++) {
      const r = await get(`/reports/logs/${ID}?page=${page}`);
      if (r.status !== 200) break;
      bodies.push(r.body.slice(r.body.indexOf("\n\n") + 2));
    }
    expect(bodies).toEqual(["short\n", "xxxxxxxxxx", "xxxxxxxxxx", "xxxxx\n", "tail\n"]);
    expect(bodies.every((b) => b.length <= 10)).toBe(true);
    expect(bodies.join("")).toBe(text);
  });

  it("answers 404 for a page that does not exist", async () => {
    const get = routesFor("a\n");
    for (const page of ["0", "2", "-1", "x", "1e3", "99999999999"]) {
      expect(await get(`/reports/logs/${ID}?page=${page}`)).toEqual({ status: 404, body: "no such page of this log: it has 1 page(s), ?page=1 to ?page=1\n" });
    }
  });
});
