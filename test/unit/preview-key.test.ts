import { pino } from "pino";
import { describe, expect, it } from "vitest";
import type { RepoRef } from "../../src/domain/types.js";
import { environmentPreviewKeyOf, parsePreviewKey, previewKeyOf, previewKeyText, repoPathOf } from "../../src/domain/preview-key.js";
import { prKeyOf } from "../../src/domain/records.js";
import { DOCKER_LABELS, keyLabels, previewKeysOf } from "../../src/targets/engine-labels.js";

const REPO: RepoRef = { host: "github", owner: "Codertocat", name: "Hello-World", installationId: 7, defaultBranch: "main", htmlUrl: "https://github.com/Codertocat/Hello-World" };

describe("preview keys", () => {
  it("are built from a repository with only its host, owner and name", () => {
    expect(previewKeyOf(REPO, 3)).toEqual({ host: "github", owner: "Codertocat", name: "Hello-World", pr: 3 });
    expect(environmentPreviewKeyOf(REPO, "production", "acme-prod")).toEqual({ host: "github", owner: "Codertocat", name: "Hello-World", pr: 0, environment: "production", namespace: "acme-prod" });
    expect(environmentPreviewKeyOf(REPO, "dev")).toEqual({ host: "github", owner: "Codertocat", name: "Hello-World", pr: 0, environment: "dev" });
  });

  it("render the repository as owner/name, exactly as on the host", () => {
    expect(repoPathOf(previewKeyOf(REPO, 3))).toBe("Codertocat/Hello-World");
    expect(previewKeyText(previewKeyOf(REPO, 3))).toBe("Codertocat/Hello-World#3");
    expect(previewKeyText(environmentPreviewKeyOf(REPO, "dev"))).toBe("Codertocat/Hello-World (dev)");
  });

  it("name the same pull request in the store as the repository does", () => {
    expect(prKeyOf(previewKeyOf(REPO, 3), 3)).toBe(prKeyOf(REPO, 3));
  });

  it("come back unchanged from the text written on objects", () => {
    for (const key of [previewKeyOf(REPO, 3), previewKeyOf({ host: "gitee", owner: "kit101", name: "drone-yml-test" }, 12), previewKeyOf({ host: "github", owner: "owner", name: "x.app_2" }, 1)]) {
      expect(parsePreviewKey({ host: key.host, repo: repoPathOf(key), pr: String(key.pr) })).toEqual({ ok: true, key });
    }
  });

  it("refuse repository text that is not exactly owner/name", () => {
    for (const repo of [undefined, "", "Codertocat", "/Hello-World", "Codertocat/", "/", "a/b/c", "Codertocat//Hello-World", "Codertocat/Hello World", "Codertocat/Hello-World\n", "../Hello-World", "Codertocat/..", "Codertocat/.", "Codertocat\\Hello-World"]) {
      const parsed = parsePreviewKey({ host: "github", repo, pr: "3" });
      expect(parsed.ok, JSON.stringify(repo)).toBe(false);
    }
    expect(parsePreviewKey({ host: "github", repo: "a/b/c", pr: "3" })).toEqual({ ok: false, reason: "repository is not owner/name" });
  });

  it("refuse unknown hosts and PR numbers that are not positive integers", () => {
    expect(parsePreviewKey({ host: "gitlab", repo: "a/b", pr: "3" })).toEqual({ ok: false, reason: "unknown host" });
    expect(parsePreviewKey({ host: undefined, repo: "a/b", pr: "3" })).toEqual({ ok: false, reason: "unknown host" });
    for (const pr of [undefined, "", "0", "-1", "1.5", "01", "3 ", "1e3", "99999999999"]) {
      expect(parsePreviewKey({ host: "github", repo: "a/b", pr }).ok, JSON.stringify(pr)).toBe(false);
    }
  });
});

describe("keys read back from Docker labels", () => {
  const scope = { target: "docker", instance: "default" } as const;
  const key = previewKeyOf(REPO, 3);

  it("writes the repository label as owner/name", () => {
    expect(keyLabels(scope, key, "preview")).toEqual({
      "berth.managed": "true",
      "berth.target": "docker",
      "berth.instance": "default",
      "berth.host": "github",
      "berth.repo": "Codertocat/Hello-World",
      "berth.pr": "3",
      "berth.role": "preview",
    });
  });

  it("lists each PR once, skips environments silently and malformed labels with a warning", () => {
    const warnings: Array<Record<string, unknown>> = [];
    const log = pino({ level: "warn", base: null, timestamp: false }, { write: (line: string) => void warnings.push(JSON.parse(line)) });
    const environment = keyLabels(scope, environmentPreviewKeyOf(REPO, "dev"), "preview");
    const malformed = { ...keyLabels(scope, previewKeyOf(REPO, 4), "preview"), [DOCKER_LABELS.repo]: "Codertocat" };
    const keys = previewKeysOf([keyLabels(scope, key, "preview"), keyLabels(scope, key, "network"), environment, malformed, undefined], log);
    expect(keys).toEqual([key]);
    expect(warnings).toEqual([{ level: 40, labels: { host: "github", repo: "Codertocat", pr: "4" }, reason: "repository is not owner/name", msg: "berth object with malformed labels skipped" }]);
  });
});
