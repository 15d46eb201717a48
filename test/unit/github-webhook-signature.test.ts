import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { signatureMatches } from "../../src/ingress/github-webhook.js";

describe("GitHub webhook signature", () => {
  const body = Buffer.from('{"action":"opened"}');
  const good = `sha256=${createHmac("sha256", "s3cret").update(body).digest("hex")}`;

  it("accepts the HMAC-SHA256 of the body with the App's secret", () => {
    expect(signatureMatches("s3cret", body, good)).toBe(true);
  });

  it("refuses another secret, another body, a truncated or missing signature", () => {
    expect(signatureMatches("other", body, good)).toBe(false);
    expect(signatureMatches("s3cret", Buffer.from('{"action":"closed"}'), good)).toBe(false);
    expect(signatureMatches("s3cret", body, good.slice(0, -1))).toBe(false);
    expect(signatureMatches("s3cret", body, "")).toBe(false);
    expect(signatureMatches("s3cret", body, good.replace("sha256=", "sha1="))).toBe(false);
  });
});
