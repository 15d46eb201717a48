import { describe, expect, it } from "vitest";
import { imageTagOfGitTag, matchTagRule, requiredPermission } from "../../src/domain/tag-rules.js";

const RULES = [
  { match: "alpha-*", environment: "dev" },
  { match: "beta-*", environment: "staging" },
  { match: "release-?.*", environment: "production" },
];

describe("tag rules", () => {
  it("matches whole tags by glob, first rule wins", () => {
    expect(matchTagRule(RULES, "alpha-1.0.0")?.environment).toBe("dev");
    expect(matchTagRule(RULES, "beta-2")?.environment).toBe("staging");
    expect(matchTagRule(RULES, "release-1.0.0")?.environment).toBe("production");
    expect(matchTagRule(RULES, "release-10.0")).toBeUndefined();
    expect(matchTagRule(RULES, "v1.0.0")).toBeUndefined();
    expect(matchTagRule(RULES, "xalpha-1")).toBeUndefined();
    expect(matchTagRule([{ match: "a.b", environment: "x" }], "aXb")).toBeUndefined();
  });

  it("asks admin for production and write elsewhere unless configured", () => {
    expect(requiredPermission("production", undefined)).toBe("admin");
    expect(requiredPermission("dev", undefined)).toBe("write");
    expect(requiredPermission("dev", { permission: "maintain" })).toBe("maintain");
  });

  it("turns any git tag into a safe, distinct image tag", () => {
    expect(imageTagOfGitTag("release-1.0.0")).toBe("release-1.0.0");
    const evil = imageTagOfGitTag("release-$(touch /tmp/pwned);`id`");
    expect(evil).toMatch(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/);
    expect(evil).not.toBe(imageTagOfGitTag("release-$(touch /tmp/pwned);`ie`"));
    expect(imageTagOfGitTag("a".repeat(300))).toHaveLength(128);
    expect(imageTagOfGitTag(".hidden")).toMatch(/^hidden-[0-9a-f]{8}$/);
  });
});
