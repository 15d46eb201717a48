/**
 * The chat vendors' formats, pure: signatures against values computed outside berth with each
 * vendor's documented algorithm (the Python samples of DingTalk's 加签 and Feishu's 签名校验 docs),
 * escaping of repository text for each markup, length bounds, and reading of answers (HTTP 200
 * with an error code is a failure).
 */
import { describe, expect, it } from "vitest";
import type { ChatMessage, VendorAnswer } from "../../src/notify/channel.js";
import { markdownText, slackText } from "../../src/notify/chat-text.js";
import { dingtalk, dingtalkSign } from "../../src/notify/dingtalk.js";
import { feishu, feishuSign } from "../../src/notify/feishu.js";
import { slack } from "../../src/notify/slack.js";
import { wecom, WECOM_MAX_BYTES } from "../../src/notify/wecom.js";

function message(extra: Partial<ChatMessage> = {}): ChatMessage {
  return {
    event: "failed",
    repo: "acme/shop",
    repoUrl: "https://github.com/acme/shop",
    pr: { number: 12, url: "https://github.com/acme/shop/pull/12", title: "Add cart", branch: "feature/cart" },
    sha: "1234567890abcdef1234567890abcdef12345678",
    headline: "Pipeline failed at test",
    previewUrl: "http://127.0.0.1:41000/",
    reportUrl: "https://berth.example.com/reports/abc",
    tests: { passed: 3, failed: 1, skipped: 0 },
    failingTests: [{ name: "cart › adds", message: "expected 2, got 1" }],
    ...extra,
  };
}

function answer(status: number, text: string, headers: Record<string, string> = {}): VendorAnswer {
  return { status, text, header: (name) => headers[name.toLowerCase()] };
}

const HOSTILE = "**bold** [x](https://evil.example) <!channel> <@U123> <at id=all></at> <font color=\"red\">x</font> @alice `code` # heading\n> quote & more";

describe("DingTalk", () => {
  it("signs as the 加签 doc's algorithm does (HMAC-SHA256 keyed with the secret over `timestamp\\nsecret`, base64)", () => {
    // python3: base64.b64encode(hmac.new(b"SECthis is secret", b"1700000000000\nSECthis is secret", hashlib.sha256).digest())
    expect(dingtalkSign("SECthis is secret", 1_700_000_000_000)).toBe("Rtm2YK4Eu5oP8gxZgn2C87ziY6Py5sJyH4pcuwAafMU=");
  });

  it("puts timestamp (ms) and sign in the query, URL-encoded on the wire as the doc's quote_plus does", () => {
    const request = dingtalk.request(message(), { secret: "SECthis is secret", now: 1_700_000_000_000 });
    expect(request.query).toEqual({ timestamp: "1700000000000", sign: "Rtm2YK4Eu5oP8gxZgn2C87ziY6Py5sJyH4pcuwAafMU=" });
    expect(new URLSearchParams(request.query).toString()).toBe("timestamp=1700000000000&sign=Rtm2YK4Eu5oP8gxZgn2C87ziY6Py5sJyH4pcuwAafMU%3D");
    expect(dingtalk.request(message(), { now: 1 }).query).toBeUndefined();
  });

  it("sends markdown with repository, PR, outcome, links and the failing tests", () => {
    const body = dingtalk.request(message(), { now: 1 }).body as { msgtype: string; markdown: { title: string; text: string } };
    expect(body.msgtype).toBe("markdown");
    expect(body.markdown.title).toBe("Pipeline failed at test · acme/shop");
    expect(body.markdown.text).toBe(
      [
        "### Pipeline failed at test · acme/shop",
        "",
        "**#12 Add cart**",
        "",
        "branch feature/cart · commit 1234567",
        "",
        "Tests: 3 passed, 1 failed, 0 skipped",
        "",
        "[PR #12](https://github.com/acme/shop/pull/12) · [Preview](http://127.0.0.1:41000/) · [Test report](https://berth.example.com/reports/abc)",
        "",
        "Failing tests:",
        "- cart › adds: expected 2, got 1",
      ].join("\n"),
    );
  });

  it("reads errcode under HTTP 200: 0 sent, 130101 rate-limited, 310000 refused", () => {
    expect(dingtalk.read(answer(200, '{"errcode":0,"errmsg":"ok"}'))).toEqual({ ok: true });
    expect(dingtalk.read(answer(200, '{"errcode":130101,"errmsg":"send too fast"}'))).toMatchObject({ ok: false, transient: true, rateLimited: true });
    expect(dingtalk.read(answer(200, '{"errcode":310000,"errmsg":"sign not match"}'))).toEqual({ ok: false, transient: false, summary: "errcode 310000: sign not match" });
    expect(dingtalk.read(answer(200, "<html>"))).toMatchObject({ ok: false, transient: false });
    expect(dingtalk.read(answer(503, ""))).toMatchObject({ ok: false, transient: true });
  });
});

describe("Feishu", () => {
  it("signs as the 签名校验 doc's algorithm does (HMAC-SHA256 keyed with `timestamp\\nsecret` over an empty message, base64)", () => {
    // python3: base64.b64encode(hmac.new(b"1700000000\nlark secret", b"", hashlib.sha256).digest())
    expect(feishuSign("lark secret", 1_700_000_000)).toBe("QctefnXbpICOFUE0chqqGLhKNiTfqmWkVtmnnadnOP8=");
  });

  it("puts timestamp (seconds, a string) and sign in the body of an interactive card", () => {
    const body = feishu.request(message(), { secret: "lark secret", now: 1_700_000_000_999 }).body as Record<string, unknown>;
    expect(body.timestamp).toBe("1700000000");
    expect(body.sign).toBe("QctefnXbpICOFUE0chqqGLhKNiTfqmWkVtmnnadnOP8=");
    expect(body.msg_type).toBe("interactive");
    expect(feishu.request(message(), { now: 1 }).body).not.toHaveProperty("sign");
  });

  it("keeps repository text in plain_text elements; lark_md holds only berth's labels and encoded URLs", () => {
    const body = feishu.request(message({ pr: { number: 12, url: "https://github.com/acme/shop/pull/12", title: HOSTILE }, previewUrl: "http://x/a b)(" }), { now: 1 }).body as {
      card: { header: { title: { tag: string } }; elements: Array<{ tag: string; text?: { tag: string; content: string } }> };
    };
    expect(body.card.header.title.tag).toBe("plain_text");
    const texts = body.card.elements.filter((e) => e.text);
    const markdown = texts.filter((e) => e.text!.tag === "lark_md");
    expect(markdown).toHaveLength(1);
    expect(markdown[0]!.text!.content).toBe("[PR #12](https://github.com/acme/shop/pull/12) · [Preview](http://x/a%20b%29%28) · [Test report](https://berth.example.com/reports/abc)");
    const title = texts.find((e) => e.text!.content.includes("bold"))!;
    expect(title.text!.tag).toBe("plain_text");
    expect(title.text!.content).not.toContain("\n");
  });

  it("reads code (and the older StatusCode) under HTTP 200: 19021 refused, 11232 rate-limited", () => {
    expect(feishu.read(answer(200, '{"code":0,"data":{},"msg":"success"}'))).toEqual({ ok: true });
    expect(feishu.read(answer(200, '{"Extra":null,"StatusCode":0,"StatusMessage":"success"}'))).toEqual({ ok: true });
    expect(feishu.read(answer(200, '{"code":19021,"data":{},"msg":"sign match fail or timestamp is not within one hour from current time"}'))).toEqual({
      ok: false,
      transient: false,
      summary: "code 19021: sign match fail or timestamp is not within one hour from current time",
    });
    expect(feishu.read(answer(200, '{"code":11232,"msg":"frequency limited"}'))).toMatchObject({ ok: false, transient: true, rateLimited: true });
  });
});

describe("WeCom", () => {
  it("sends markdown within 4096 bytes, dropping failing tests first", () => {
    const many = Array.from({ length: 5 }, (_, i) => ({ name: `测试 ${i} ${"名".repeat(150)}`, message: "失".repeat(190) }));
    const body = wecom.request(message({ failingTests: many, tests: { passed: 0, failed: 40, skipped: 0 } }), { now: 1 }).body as { msgtype: string; markdown: { content: string } };
    expect(body.msgtype).toBe("markdown");
    expect(Buffer.byteLength(body.markdown.content)).toBeLessThanOrEqual(WECOM_MAX_BYTES);
    expect(body.markdown.content).toContain("Failing tests:");
    expect(body.markdown.content).toContain("more in the report");
    expect(body.markdown.content.startsWith('<font color="warning">Pipeline failed at test · acme/shop</font>')).toBe(true);
  });

  it("reads errcode under HTTP 200: 45009 rate-limited, 93000 refused", () => {
    expect(wecom.read(answer(200, '{"errcode":0,"errmsg":"ok"}'))).toEqual({ ok: true });
    expect(wecom.read(answer(200, '{"errcode":45009,"errmsg":"api freq out of limit"}'))).toMatchObject({ ok: false, transient: true, rateLimited: true });
    expect(wecom.read(answer(200, '{"errcode":93000,"errmsg":"invalid webhook url"}'))).toMatchObject({ ok: false, transient: false, summary: "errcode 93000: invalid webhook url" });
  });
});

describe("Slack", () => {
  it("sends blocks with a text fallback; repository text lands in plain_text and an escaped fallback", () => {
    const body = slack.request(message({ pr: { number: 12, url: "https://github.com/acme/shop/pull/12", title: HOSTILE } }), { now: 1 }).body as {
      text: string;
      blocks: Array<{ type: string; text?: { type: string; text: string } }>;
    };
    expect(body.text).toContain("&lt;!channel&gt;");
    expect(body.text).not.toMatch(/<[!@]/);
    expect(body.blocks[0]).toEqual({ type: "header", text: { type: "plain_text", text: "Pipeline failed at test · acme/shop", emoji: false } });
    const mrkdwn = body.blocks.filter((b) => b.text?.type === "mrkdwn");
    expect(mrkdwn.map((b) => b.text!.text)).toEqual(["<https://github.com/acme/shop/pull/12|PR #12> · <http://127.0.0.1:41000/|Preview> · <https://berth.example.com/reports/abc|Test report>"]);
    expect(body.blocks.find((b) => b.text?.text.includes("bold"))!.text!.type).toBe("plain_text");
  });

  it("bounds the header at 150 characters", () => {
    const body = slack.request(message({ repo: "a".repeat(400) }), { now: 1 }).body as { blocks: Array<{ type: string; text: { text: string } }> };
    expect(body.blocks[0]!.text.text.length).toBeLessThanOrEqual(150);
  });

  it("reads `ok`, 4xx error words as refusals, 429 with Retry-After as a rate limit", () => {
    expect(slack.read(answer(200, "ok"))).toEqual({ ok: true });
    expect(slack.read(answer(400, "invalid_payload"))).toEqual({ ok: false, transient: false, summary: "HTTP 400: invalid_payload" });
    expect(slack.read(answer(404, "no_service"))).toMatchObject({ ok: false, transient: false });
    expect(slack.read(answer(429, "rate_limited", { "retry-after": "30" }))).toEqual({ ok: false, transient: true, rateLimited: true, retryAfterMs: 30_000, summary: "HTTP 429: rate_limited" });
  });
});

describe("escaping", () => {
  it("markdown: no emphasis, link, code, heading, quote, tag or mention survives, on one bounded line", () => {
    const out = markdownText(HOSTILE, 1000);
    expect(out).not.toContain("\n");
    expect(out).not.toMatch(/(?<!\\)[*[\]()`#<>]/);
    expect(out).toContain("@\u200balice");
    expect(markdownText("x".repeat(500), 100)).toHaveLength(100);
  });

  it("Slack: &, <, > become entities (no <!channel>, <@user> or <url|link>)", () => {
    expect(slackText("<!channel> & <@U1> <http://x|y>", 100)).toBe("&lt;!channel&gt; &amp; &lt;@U1&gt; &lt;http://x|y&gt;");
  });
});
