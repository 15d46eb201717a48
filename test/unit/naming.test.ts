import { describe, expect, it } from "vitest";
import { dnsLabel, environmentName, imageRepository, isCommitSha, prImageTag, previewName, repoSlug } from "../../src/domain/naming.js";
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

  it("names images and previews of a PR: a readable part plus a hash of instance, host and full name", () => {
    const repo = { host: "github", owner: "Codertocat", name: "Hello-World" };
    const slug = repoSlug(repo);
    expect(slug).toMatch(/^codertocat-hello-world-[0-9a-f]{8}$/);
    expect(imageRepository("127.0.0.1:5000/previews/", repo)).toBe(`127.0.0.1:5000/previews/${slug}`);
    expect(prImageTag(12, "0123456789abcdef0123456789abcdef01234567")).toBe("pr-12-0123456");
    expect(previewName(repo, 12)).toBe(`${slug}-pr-12`);
    expect(previewName({ host: "github", owner: "o".repeat(60), name: "r".repeat(60) }, 12).length).toBeLessThanOrEqual(63);
    expect(environmentName(repo, "production")).toBe(`${slug}-env-production`);
    expect(isCommitSha("0123456789abcdef0123456789abcdef01234567")).toBe(true);
    expect(isCommitSha("main; rm -rf /")).toBe(false);
  });

  it("never gives two repositories, two hosts or two berth instances the same names", () => {
    const dash = { host: "github", owner: "owner", name: "x-app" };
    const dot = { host: "github", owner: "owner", name: "x.app" };
    const underscore = { host: "github", owner: "owner", name: "x_app" };
    const gitee = { host: "gitee", owner: "owner", name: "x-app" };
    const slugs = [repoSlug(dash), repoSlug(dot), repoSlug(underscore), repoSlug(gitee), repoSlug(dash, "staging")];
    expect(new Set(slugs).size).toBe(slugs.length);
    expect(previewName(dash, 1)).not.toBe(previewName(dot, 1));
    expect(imageRepository("r.example/p", dash)).not.toBe(imageRepository("r.example/p", dot));
    // A long name cut to fit keeps its hash: two long names sharing a prefix still differ.
    const long1 = { host: "github", owner: "org", name: `${"a".repeat(50)}-one` };
    const long2 = { host: "github", owner: "org", name: `${"a".repeat(50)}-two` };
    expect(repoSlug(long1)).not.toBe(repoSlug(long2));
    expect(repoSlug(long1).length).toBeLessThanOrEqual(40);
    // GitHub and Gitee names are case-insensitive: one repository, one slug.
    expect(repoSlug({ host: "github", owner: "Owner", name: "X-App" })).toBe(repoSlug(dash));
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
