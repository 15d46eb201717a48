import { describe, expect, it } from "vitest";
import { parseRepoConfig, REPO_CONFIG_LIMITS } from "../../src/config/repo-config.js";

function errorOf(text: string): string {
  const result = parseRepoConfig(text);
  expect(result.ok).toBe(false);
  return result.ok ? "" : result.error;
}

describe("parseRepoConfig limits", () => {
  it("refuses a file over 64 KiB before parsing it, even when it is valid YAML", () => {
    const padded = `preview:\n  port: 3000\n${"# padding\n".repeat(7000)}`;
    expect(Buffer.byteLength(padded)).toBeGreaterThan(REPO_CONFIG_LIMITS.bytes);
    expect(errorOf(padded)).toBe("the file is 69 KiB; berth reads at most 64 KiB");
    // Just under the cap still parses.
    expect(parseRepoConfig(`preview:\n  port: 3000\n${"# padding\n".repeat(6000)}`).ok).toBe(true);
  });

  it("bounds alias expansion (billion laughs)", () => {
    let doc = `x-a: &a [${Array(10).fill('"lol"').join(",")}]\n`;
    for (let i = 1; i < 9; i++) doc += `x-b${i}: &b${i} [${Array(10).fill(i === 1 ? "*a" : `*b${i - 1}`).join(",")}]\n`;
    expect(errorOf(doc)).toMatch(/^YAML syntax error: .*alias/i);
  });

  it("still refuses duplicate keys, naming the key and its line", () => {
    expect(errorOf("preview:\n  port: 1\n  auto: true\n  port: 2\n")).toBe("YAML syntax error: map keys must be unique ('port' appears twice at line 4)");
  });

  it("reads a file of thousands of keys and reports the schema error", () => {
    const keys = Array.from({ length: 5000 }, (_, i) => `    K${i}: v`).join("\n");
    expect(errorOf(`build:\n  args:\n${keys}\n`)).toBe("`build.args`: at most 100 entries");
  });

  it("caps list lengths, map sizes and string lengths in the schema", () => {
    const many = (n: number) => Array.from({ length: n }, (_, i) => `"a${i}"`).join(",");
    expect(errorOf(`test:\n  command: [${many(101)}]\n`)).toBe("`test.command`: at most 100 items");
    expect(parseRepoConfig(`test:\n  command: [${many(100)}]\n`).ok).toBe(true);
    expect(errorOf(`test:\n  command: ["${"x".repeat(8193)}"]\n`)).toBe("`test.command.0`: at most 8192 characters");
    expect(errorOf(`tags: [${Array.from({ length: 101 }, () => "{ match: 'v*', environment: dev }").join(",")}]\n`)).toBe("`tags`: at most 100 items");
    expect(errorOf(`preview:\n  env: {${Array.from({ length: 101 }, (_, i) => `E${i}: x`).join(", ")}}\n`)).toBe("`preview.env`: at most 100 entries");
    expect(errorOf(`build:\n  dockerfile: "${"d/".repeat(600)}Dockerfile"\n`)).toBe("`build.dockerfile`: at most 1024 characters");
    expect(errorOf(`preview:\n  healthPath: "/${"h".repeat(1024)}"\n`)).toBe("`preview.healthPath`: at most 1024 characters");
  });
});
