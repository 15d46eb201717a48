/**
 * Local HTTP fakes of the four chat webhooks, on one port. Each checks what the real one checks
 * (the robot's token or key, the signature and its one-hour timestamp window, the request shape
 * and size limits) and answers with the vendor's real bodies, errors under HTTP 200 included:
 *
 * - DingTalk `POST /robot/send?access_token=…[&timestamp=…&sign=…]` → `{errcode, errmsg}`
 *   (310000 sign not match, 130101 send too fast, 300001 token invalid, 40035 missing parameter);
 * - Feishu `POST /open-apis/bot/v2/hook/<id>` with `timestamp`/`sign` in the body → `{code, msg, data}`
 *   (19021 sign match fail, 9499 bad request, 19001 param invalid);
 * - WeCom `POST /cgi-bin/webhook/send?key=…` → `{errcode, errmsg}` (93000 invalid webhook url,
 *   45009 freq out of limit, 40058 content too long);
 * - Slack `POST /services/T…/B…/<token>` → `ok`, or `invalid_payload` / `no_text` / `invalid_blocks`
 *   with 400, `no_service` with 404, `rate_limited` with 429 and Retry-After.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export type FakeVendor = "dingtalk" | "feishu" | "wecom" | "slack";

/** A trouble the next requests of a vendor meet instead of being processed. */
export type Trouble = "rate-limit" | "server-error" | "drop";

const HOUR_MS = 3_600_000;

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export class FakeChatVendors {
  private server?: Server;
  /** Bodies accepted (said in the chat), per vendor, in order. */
  readonly said: Record<FakeVendor, unknown[]> = { dingtalk: [], feishu: [], wecom: [], slack: [] };
  /** Every request that reached a vendor, accepted or not. */
  readonly requests: Array<{ vendor: FakeVendor; url: string; body: string }> = [];
  private readonly troubles: Record<FakeVendor, Trouble[]> = { dingtalk: [], feishu: [], wecom: [], slack: [] };
  /** The robots: DingTalk tokens and WeCom keys with their secrets; Feishu hook ids with theirs; Slack paths. */
  readonly robots = {
    dingtalk: new Map<string, string | undefined>(),
    feishu: new Map<string, string | undefined>(),
    wecom: new Set<string>(),
    slack: new Set<string>(),
  };
  /** Answer Feishu success the old way (`StatusCode`). */
  feishuLegacy = false;
  /** Clock of the signature window (tests may shift it). */
  now: () => number = Date.now;

  async start(): Promise<string> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    return this.baseUrl;
  }

  get baseUrl(): string {
    const { port } = this.server!.address() as AddressInfo;
    return `http://127.0.0.1:${port}`;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  /** The next `count` requests to `vendor` meet `trouble`. */
  trouble(vendor: FakeVendor, trouble: Trouble, count = 1): void {
    for (let i = 0; i < count; i++) this.troubles[vendor].push(trouble);
  }

  dingtalkUrl(token: string, secret?: string): string {
    this.robots.dingtalk.set(token, secret);
    return `${this.baseUrl}/robot/send?access_token=${token}`;
  }

  feishuUrl(hook: string, secret?: string): string {
    this.robots.feishu.set(hook, secret);
    return `${this.baseUrl}/open-apis/bot/v2/hook/${hook}`;
  }

  wecomUrl(key: string): string {
    this.robots.wecom.add(key);
    return `${this.baseUrl}/cgi-bin/webhook/send?key=${key}`;
  }

  slackUrl(token: string): string {
    const path = `/services/T0001/B0001/${token}`;
    this.robots.slack.add(path);
    return `${this.baseUrl}${path}`;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString("utf8");
    const url = new URL(req.url ?? "/", this.baseUrl);
    const vendor: FakeVendor | undefined = url.pathname === "/robot/send" ? "dingtalk" : url.pathname.startsWith("/open-apis/bot/v2/hook/") ? "feishu" : url.pathname === "/cgi-bin/webhook/send" ? "wecom" : url.pathname.startsWith("/services/") ? "slack" : undefined;
    if (!vendor || req.method !== "POST") {
      res.writeHead(404).end("not found");
      return;
    }
    this.requests.push({ vendor, url: url.toString(), body });
    const trouble = this.troubles[vendor].shift();
    if (trouble === "drop") {
      req.socket.destroy();
      return;
    }
    if (trouble === "server-error") {
      res.writeHead(502, { "content-type": "text/html" }).end("<html>502 Bad Gateway</html>");
      return;
    }
    const answer = this[vendor](url, body, trouble === "rate-limit");
    res.writeHead(answer.status, { "content-type": answer.json ? "application/json" : "text/plain", ...(answer.headers ?? {}) }).end(answer.json ? JSON.stringify(answer.json) : answer.text);
  }

  private accepted(vendor: FakeVendor, json: unknown): void {
    this.said[vendor].push(json);
  }

  private dingtalk(url: URL, text: string, limited: boolean): Answer {
    const token = url.searchParams.get("access_token") ?? "";
    if (!this.robots.dingtalk.has(token)) return ok200({ errcode: 300001, errmsg: "token is not exist" });
    const secret = this.robots.dingtalk.get(token);
    if (secret !== undefined) {
      const timestamp = Number(url.searchParams.get("timestamp"));
      const sign = url.searchParams.get("sign") ?? "";
      const expected = createHmac("sha256", secret).update(`${timestamp}\n${secret}`).digest("base64");
      if (!Number.isInteger(timestamp) || Math.abs(this.now() - timestamp) > HOUR_MS || !sameText(sign, expected)) {
        return ok200({ errcode: 310000, errmsg: "sign not match, more: [https://ding-doc.dingtalk.com/doc#/serverapi2/qf2nxq]" });
      }
    }
    if (limited) return ok200({ errcode: 130101, errmsg: "send too fast, exceed 20 times per minute" });
    const json = parse(text) as { msgtype?: unknown; markdown?: { title?: unknown; text?: unknown } } | undefined;
    if (!json || json.msgtype !== "markdown" || typeof json.markdown?.title !== "string" || typeof json.markdown.text !== "string" || json.markdown.text === "") {
      return ok200({ errcode: 40035, errmsg: "缺少参数 json" });
    }
    if (Buffer.byteLength(json.markdown.text) > 20_000) return ok200({ errcode: 460101, errmsg: "message too long, exceed 20000 bytes" });
    this.accepted("dingtalk", json);
    return ok200({ errcode: 0, errmsg: "ok" });
  }

  private feishu(url: URL, text: string, limited: boolean): Answer {
    const hook = url.pathname.split("/").pop() ?? "";
    if (!this.robots.feishu.has(hook)) return ok200({ code: 19001, msg: "param invalid: incoming webhook access token invalid", data: {} });
    const json = parse(text) as { timestamp?: unknown; sign?: unknown; msg_type?: unknown; card?: { header?: unknown; elements?: unknown } } | undefined;
    if (!json) return { status: 400, json: { code: 9499, msg: "Bad Request", data: {} } };
    const secret = this.robots.feishu.get(hook);
    if (secret !== undefined) {
      const timestamp = Number(json.timestamp);
      const expected = createHmac("sha256", `${timestamp}\n${secret}`).update("").digest("base64");
      if (typeof json.timestamp !== "string" || !Number.isInteger(timestamp) || Math.abs(this.now() / 1000 - timestamp) > 3600 || typeof json.sign !== "string" || !sameText(json.sign, expected)) {
        return ok200({ code: 19021, msg: "sign match fail or timestamp is not within one hour from current time", data: {} });
      }
    }
    if (limited) return ok200({ code: 11232, msg: "frequency limited psm[lark.oapi.app_platform_runtime]appID[1]", data: {} });
    if (json.msg_type !== "interactive" || typeof json.card !== "object" || json.card === null || !Array.isArray(json.card.elements) || typeof json.card.header !== "object") {
      return ok200({ code: 9499, msg: "Bad Request", data: {} });
    }
    if (Buffer.byteLength(text) > 20 * 1024) return ok200({ code: 9499, msg: "request body too large", data: {} });
    this.accepted("feishu", json);
    return ok200(this.feishuLegacy ? { Extra: null, StatusCode: 0, StatusMessage: "success" } : { code: 0, data: {}, msg: "success" });
  }

  private wecom(url: URL, text: string, limited: boolean): Answer {
    if (!this.robots.wecom.has(url.searchParams.get("key") ?? "")) return ok200({ errcode: 93000, errmsg: "invalid webhook url, hint: [1700000000_1_abc], from ip: 127.0.0.1" });
    if (limited) return ok200({ errcode: 45009, errmsg: "api freq out of limit, hint: [1700000000_1_abc]" });
    const json = parse(text) as { msgtype?: unknown; markdown?: { content?: unknown } } | undefined;
    if (!json) return ok200({ errcode: 40037, errmsg: "invalid json, hint: [1700000000_1_abc]" });
    if (json.msgtype !== "markdown" || typeof json.markdown?.content !== "string") return ok200({ errcode: 40008, errmsg: "invalid message type, hint: [1700000000_1_abc]" });
    if (Buffer.byteLength(json.markdown.content) > 4096) return ok200({ errcode: 40058, errmsg: "markdown.content exceed max length 4096. invalid Request Parameter" });
    this.accepted("wecom", json);
    return ok200({ errcode: 0, errmsg: "ok" });
  }

  private slack(url: URL, text: string, limited: boolean): Answer {
    if (!this.robots.slack.has(url.pathname)) return { status: 404, text: "no_service" };
    if (limited) return { status: 429, text: "rate_limited", headers: { "retry-after": "1" } };
    const json = parse(text) as { text?: unknown; blocks?: unknown } | undefined;
    if (!json) return { status: 400, text: "invalid_payload" };
    if ((typeof json.text !== "string" || json.text === "") && !Array.isArray(json.blocks)) return { status: 400, text: "no_text" };
    if (json.blocks !== undefined && !validBlocks(json.blocks)) return { status: 400, text: "invalid_blocks" };
    this.accepted("slack", json);
    return { status: 200, text: "ok" };
  }
}

type Answer = { status: number; json?: unknown; text?: string; headers?: Record<string, string> };

function ok200(json: unknown): Answer {
  return { status: 200, json };
}

function parse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

type TextObject = { type?: unknown; text?: unknown };

function textObject(value: unknown, max: number, plainOnly = false): boolean {
  const t = value as TextObject | undefined;
  return typeof t === "object" && t !== null && (t.type === "plain_text" || (!plainOnly && t.type === "mrkdwn")) && typeof t.text === "string" && t.text.length >= 1 && t.text.length <= max;
}

/** The Block Kit rules berth's blocks meet: at most 50; header plain_text ≤ 150; section text ≤ 3000; context elements ≤ 10. */
function validBlocks(blocks: unknown): boolean {
  if (!Array.isArray(blocks) || blocks.length > 50) return false;
  return blocks.every((block: { type?: unknown; text?: unknown; elements?: unknown }) => {
    if (block.type === "header") return textObject(block.text, 150, true);
    if (block.type === "section") return textObject(block.text, 3000);
    if (block.type === "context") return Array.isArray(block.elements) && block.elements.length >= 1 && block.elements.length <= 10 && block.elements.every((e) => textObject(e, 2000));
    if (block.type === "divider") return true;
    return false;
  });
}
