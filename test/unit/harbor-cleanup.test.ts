import { describe, expect, it } from "vitest";
import { HarborApiError } from "../../src/adapters/harbor/harbor-client.js";
import { cleanUpPullRequest, executePrCleanup, prTagQuery, type HarborCleanupPort } from "../../src/adapters/harbor/harbor-cleanup.js";
import { artifactsFromTags, isPrTag, planPrCleanup, type CleanupArtifact } from "../../src/domain/pr-image-cleanup.js";
import { captureLogger } from "../helpers/capture-log.js";

const D1 = `sha256:${"1".repeat(64)}`;
const D2 = `sha256:${"2".repeat(64)}`;
const D3 = `sha256:${"3".repeat(64)}`;
const D4 = `sha256:${"4".repeat(64)}`;
const TARGET = { project: "acme", repository: "team/app" };

/** An in-memory repository behind the port, recording every call. */
function memoryPort(initial: CleanupArtifact[]): HarborCleanupPort & { artifacts: Map<string, string[]>; calls: string[]; failOn: Set<string> } {
  const artifacts = new Map(initial.map((a) => [a.digest, [...a.tags]]));
  const calls: string[] = [];
  const failOn = new Set<string>();
  const maybeFail = (call: string): void => {
    calls.push(call);
    if (failOn.has(call)) throw new HarborApiError(`Harbor API failed for ${call}`, { method: "DELETE", path: "/x", status: 500 });
  };
  return {
    artifacts,
    calls,
    failOn,
    listArtifacts: async (_project, _repository, { q }) => {
      calls.push(`list ${q ?? ""}`);
      return [...artifacts].map(([digest, tags]) => ({ digest, tags }));
    },
    findArtifact: async (_project, _repository, reference) => {
      calls.push(`find ${reference}`);
      const tags = artifacts.get(reference);
      return tags ? { digest: reference, tags } : null;
    },
    deleteTag: async (_project, _repository, reference, tag) => {
      maybeFail(`deleteTag ${tag}`);
      const tags = artifacts.get(reference) ?? [];
      artifacts.set(reference, tags.filter((t) => t !== tag));
      return tags.includes(tag);
    },
    deleteArtifact: async (_project, _repository, reference) => {
      maybeFail(`deleteArtifact ${reference}`);
      return artifacts.delete(reference);
    },
  };
}

describe("isPrTag / prTagQuery", () => {
  it("matches pr-<n>-* exactly, never another PR's tags", () => {
    expect(isPrTag("pr-12-abc1234", 12)).toBe(true);
    expect(isPrTag("pr-12-", 12)).toBe(false);
    expect(isPrTag("pr-1-abc1234", 12)).toBe(false);
    expect(isPrTag("pr-123-abc1234", 12)).toBe(false);
    expect(isPrTag("pr-12-abc", 1)).toBe(false);
    expect(isPrTag("xpr-12-abc", 12)).toBe(false);
    expect(isPrTag("release-pr-12-abc", 12)).toBe(false);
    expect(prTagQuery(12)).toBe("tags=~pr-12-");
    expect(() => prTagQuery(0)).toThrow("invalid pull request number 0");
  });
});

describe("planPrCleanup", () => {
  it("removes the PR's tags and deletes only artifacts no other tag points at", () => {
    const plan = planPrCleanup(
      [
        { digest: D1, tags: ["pr-12-aaaaaaa"] },
        { digest: D2, tags: ["pr-12-bbbbbbb", "release-1.0.0", "pr-12-ccccccc"] },
        { digest: D3, tags: ["pr-13-ddddddd", "pr-1-eeeeeee"] },
        { digest: D4, tags: [] },
      ],
      12,
    );
    expect(plan).toEqual({
      prNumber: 12,
      steps: [
        { digest: D1, prTags: ["pr-12-aaaaaaa"], otherTags: [], deleteArtifact: true },
        { digest: D2, prTags: ["pr-12-bbbbbbb", "pr-12-ccccccc"], otherTags: ["release-1.0.0"], deleteArtifact: false },
      ],
    });
  });

  it("plans nothing when no artifact carries the PR's tags", () => {
    expect(planPrCleanup([{ digest: D3, tags: ["pr-120-x", "main"] }], 12)).toEqual({ prNumber: 12, steps: [] });
  });

  it("groups a plain registry's tag → digest pairs into artifacts", () => {
    const pairs = new Map([
      ["pr-12-aaaaaaa", D1],
      ["release-1.0.0", D2],
      ["pr-12-bbbbbbb", D2],
      ["pr-12-ccccccc", D1],
    ]);
    expect(artifactsFromTags(pairs)).toEqual([
      { digest: D1, tags: ["pr-12-aaaaaaa", "pr-12-ccccccc"] },
      { digest: D2, tags: ["release-1.0.0", "pr-12-bbbbbbb"] },
    ]);
    expect(planPrCleanup(artifactsFromTags(pairs), 12).steps.map((s) => s.deleteArtifact)).toEqual([true, false]);
  });
});

describe("executePrCleanup", () => {
  it("deletes tag by tag, then the artifact only when it is untagged", async () => {
    const port = memoryPort([
      { digest: D1, tags: ["pr-12-aaaaaaa", "pr-12-bbbbbbb"] },
      { digest: D2, tags: ["pr-12-ccccccc", "beta-2"] },
      { digest: D3, tags: ["pr-7-ddddddd"] },
    ]);
    const { log } = captureLogger();
    const result = await cleanUpPullRequest(port, TARGET, 12, log);

    expect(port.calls).toEqual([
      "list tags=~pr-12-",
      "deleteTag pr-12-aaaaaaa",
      "deleteTag pr-12-bbbbbbb",
      `find ${D1}`,
      `deleteArtifact ${D1}`,
      "deleteTag pr-12-ccccccc",
    ]);
    expect(result).toEqual({
      removedTags: [
        { digest: D1, tag: "pr-12-aaaaaaa" },
        { digest: D1, tag: "pr-12-bbbbbbb" },
        { digest: D2, tag: "pr-12-ccccccc" },
      ],
      deletedArtifacts: [D1],
      keptArtifacts: [{ digest: D2, tags: ["beta-2"] }],
      failures: [],
    });
    expect([...port.artifacts]).toEqual([
      [D2, ["beta-2"]],
      [D3, ["pr-7-ddddddd"]],
    ]);
  });

  it("keeps an artifact that gained a tag after planning (a promotion racing the clean-up)", async () => {
    const port = memoryPort([{ digest: D1, tags: ["pr-12-aaaaaaa"] }]);
    const plan = planPrCleanup([{ digest: D1, tags: ["pr-12-aaaaaaa"] }], 12);
    port.artifacts.set(D1, ["pr-12-aaaaaaa", "release-1.0.0"]);
    const result = await executePrCleanup(port, TARGET, plan, captureLogger().log);
    expect(result.deletedArtifacts).toEqual([]);
    expect(result.keptArtifacts).toEqual([{ digest: D1, tags: ["release-1.0.0"] }]);
    expect(port.artifacts.get(D1)).toEqual(["release-1.0.0"]);
  });

  it("does not delete an artifact whose PR tag could not be removed, and goes on with the rest", async () => {
    const port = memoryPort([
      { digest: D1, tags: ["pr-12-aaaaaaa"] },
      { digest: D2, tags: ["pr-12-bbbbbbb"] },
    ]);
    port.failOn.add("deleteTag pr-12-aaaaaaa");
    const captured = captureLogger();
    const result = await cleanUpPullRequest(port, TARGET, 12, captured.log);
    expect(result.failures).toEqual([{ digest: D1, tag: "pr-12-aaaaaaa", error: "Harbor API failed for deleteTag pr-12-aaaaaaa" }]);
    expect(result.deletedArtifacts).toEqual([D2]);
    expect(port.artifacts.has(D1)).toBe(true);
    expect(captured.text()).toContain("harbor clean-up could not remove a tag");
  });

  it("treats a missing repository as nothing to clean, and rethrows other listing errors", async () => {
    const missing: HarborCleanupPort = {
      ...memoryPort([]),
      listArtifacts: async () => {
        throw new HarborApiError("Harbor API GET /projects/acme/repositories/app/artifacts answered 404", { method: "GET", path: "/x", status: 404, code: "NOT_FOUND" });
      },
    };
    await expect(cleanUpPullRequest(missing, TARGET, 12, captureLogger().log)).resolves.toEqual({ removedTags: [], deletedArtifacts: [], keptArtifacts: [], failures: [] });
    const forbidden: HarborCleanupPort = {
      ...memoryPort([]),
      listArtifacts: async () => {
        throw new HarborApiError("denied", { method: "GET", path: "/x", status: 403, code: "FORBIDDEN" });
      },
    };
    await expect(cleanUpPullRequest(forbidden, TARGET, 12, captureLogger().log)).rejects.toThrow("denied");
  });
});
