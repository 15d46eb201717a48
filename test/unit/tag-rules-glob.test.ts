import { describe, expect, it } from "vitest";
import { globMatches, matchTagRule } from "../../src/domain/tag-rules.js";

/** The old definition, kept as the reference for small inputs only. */
function viaRegExp(glob: string, text: string): boolean {
  const body = glob.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".");
  return new RegExp(`^${body}$`, "s").test(text);
}

describe("globMatches", () => {
  it("answers an adversarial pattern against a long tag (a backtracking regex never returns)", () => {
    const tag = "a".repeat(5000);
    expect(globMatches("*a*a*a*a*a*a*a*a*b", tag)).toBe(false);
    expect(matchTagRule([{ match: "*a*a*a*a*a*a*a*a*b", environment: "x" }], tag)).toBeUndefined();
    expect(globMatches("*a*a*a*a*a*a*a*a*a", tag)).toBe(true);
    expect(globMatches("*?*?*?*?*?*?*?*?*?*?*b", tag)).toBe(false);
  });

  it("agrees with the glob-as-regex definition on every small case", () => {
    const globs = ["", "*", "?", "a", "a*", "*a", "a?c", "*a*", "a*b*c", "**", "?*?", "*.*", "a.b", "release-?.*", "*b*a*"];
    const texts = ["", "a", "b", "ab", "abc", "aXc", "a.b", "aXb", "acb", "ba", "bab", "release-1.0", "release-10.0", "aaab", "b.a"];
    for (const glob of globs) {
      for (const text of texts) expect(globMatches(glob, text), `${glob} ~ ${text}`).toBe(viaRegExp(glob, text));
    }
  });
});
