import { describe, expect, it } from "vitest";
import { dnsLabel, imageRepository, isCommitSha, prImageTag, previewName, repoSlug } from "../../src/domain/naming.js";
import { createRedactor } from "../../src/domain/redact.js";
import { formatDuration, parseDuration } from "../../src/domain/duration.js";

describe("naming", () => {
  it("makes DNS-1123 labels from anything", () => {
    expect(dnsLabel("Hello_World!!")).toBe("hello-world");
    expect(dnsLabel("--$(rm -rf /)--")).toBe("rm-rf");
    expect(dnsLabel("")).toBe("x");
    const long = dnsLabel("a".repeat(100));
    expect(long).toHaveLength(63);
    expect(long).toMatch(/^a+-[0-9a-f]{8}$/);
    expect(dnsLabel("b".repeat(100))).not.toBe(dnsLabel("b".repeat(101)));
  });

  it("names images and previews of a PR", () => {
    expect(repoSlug("Codertocat", "Hello-World")).toBe("codertocat-hello-world");
    expect(imageRepository("127.0.0.1:5000/previews/", "Codertocat", "Hello.World")).toBe("127.0.0.1:5000/previews/codertocat-hello-world");
    expect(prImageTag(12, "0123456789abcdef0123456789abcdef01234567")).toBe("pr-12-0123456");
    expect(previewName("Codertocat", "Hello-World", 12)).toBe("codertocat-hello-world-pr-12");
    expect(previewName("o".repeat(60), "r".repeat(60), 12).length).toBeLessThanOrEqual(63);
    expect(isCommitSha("0123456789abcdef0123456789abcdef01234567")).toBe(true);
    expect(isCommitSha("main; rm -rf /")).toBe(false);
  });
});

describe("redaction", () => {
  it("removes secrets in plain, URL-encoded and base64 form, and URL credentials", () => {
    const redact = createRedactor(["robot$proj+berth", "s3cr3t-pass", "ab"]);
    expect(redact("login robot$proj+berth with s3cr3t-pass")).toBe("login *** with ***");
    expect(redact(`u=${encodeURIComponent("robot$proj+berth")}`)).toBe("u=***");
    expect(redact(Buffer.from("s3cr3t-pass").toString("base64"))).toBe("***");
    expect(redact("https://user:pw@registry.example.com/v2/")).toBe("https://***@registry.example.com/v2/");
    expect(redact("ab stays")).toBe("ab stays");
  });
});

describe("durations", () => {
  it("parses and formats", () => {
    expect(parseDuration("10m")).toBe(600_000);
    expect(parseDuration("90s")).toBe(90_000);
    expect(parseDuration("1500ms")).toBe(1500);
    expect(parseDuration(30)).toBe(30_000);
    expect(parseDuration("1h")).toBe(3_600_000);
    expect(parseDuration("-5s")).toBeNull();
    expect(parseDuration("0")).toBeNull();
    expect(formatDuration(850)).toBe("850ms");
    expect(formatDuration(12_400)).toBe("12s");
    expect(formatDuration(184_000)).toBe("3m 04s");
    expect(formatDuration(3_720_000)).toBe("1h 02m");
  });
});
