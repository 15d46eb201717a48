import { pino } from "pino";
import { describe, expect, it } from "vitest";
import type { PreviewKey, PreviewTarget } from "../../src/domain/ports.js";
import { createRedactor } from "../../src/domain/redact.js";
import type { RunRecord } from "../../src/domain/records.js";
import { deletePreview, deleteStage } from "../../src/stages/delete-stage.js";
import type { StageDeps } from "../../src/stages/stage-context.js";
import { FakeBuilder, FakeTarget } from "../fakes/fake-adapters.js";

const run: RunRecord = {
  id: "run-1",
  prKey: "github:acme/shop#3",
  repo: { host: "github", owner: "acme", name: "shop", defaultBranch: "main", htmlUrl: "https://github.com/acme/shop" },
  prNumber: 3,
  sha: "a".repeat(40),
  kind: "delete",
  plan: [],
  trigger: "close",
  status: "running",
  reuseImage: false,
  attempts: 0,
  createdAt: 0,
};

/** A target that refuses, as the Kubernetes target does for a namespace that is not the repository's. */
class RefusingTarget extends FakeTarget {
  override readonly kind = "docker" as const;
  override async remove(_key: PreviewKey): Promise<{ removed: number }> {
    throw new Error("namespace acme-shop-pr-3 carries another repository's labels; berth leaves it alone");
  }
}

function deps(targets: StageDeps["targets"]): { deps: StageDeps } {
  return {
    deps: {
      lookup: { imagesOf: async () => [], latestConfig: async () => undefined },
      scanFinished: async () => false,
      host: {} as StageDeps["host"],
      builder: new FakeBuilder(),
      targets,
      instance: "default",
      checkoutSource: async () => ({ dir: "/nonexistent", dispose: async () => undefined }),
      redact: createRedactor([]),
      log: pino({ level: "silent" }),
      now: () => 0,
      newId: () => "id",
      background: () => undefined,
    },
  };
}

describe("delete stage", () => {
  it("tries every target even when one refuses, then fails with each refusal and keeps the preview record", async () => {
    const swarm = new FakeTarget() as unknown as PreviewTarget & { removed: PreviewKey[] };
    Object.defineProperty(swarm, "kind", { value: "swarm" });
    const { deps: d } = deps({ kubernetes: new RefusingTarget() as unknown as PreviewTarget, swarm });
    await expect(deletePreview(run, d)).rejects.toThrow("the preview could not be removed from docker: namespace acme-shop-pr-3 carries another repository's labels; berth leaves it alone");
    expect(swarm.removed).toEqual([{ host: "github", owner: "acme", name: "shop", pr: 3 }]);
    // As a stage: failed, the preview record kept (no `previewRemoved`), the refusal shown.
    const outcome = await deleteStage({ run, deps: d });
    expect(outcome.ok).toBe(false);
    expect(outcome.facts?.previewRemoved).toBeUndefined();
    expect(outcome.facts?.notice?.text).toContain("Removing the preview failed: the preview could not be removed from docker");
  });

  it("forgets the preview once every target removed it", async () => {
    const { deps: d } = deps({ docker: new FakeTarget() });
    await expect(deletePreview({ ...run, trigger: "/delete" }, d)).resolves.toEqual({ removed: 0, problems: [] });
    const outcome = await deleteStage({ run: { ...run, trigger: "/delete" }, deps: d });
    expect(outcome).toMatchObject({ ok: true, facts: { previewRemoved: true, notice: { kind: "deleted" } } });
    expect(outcome.facts?.notice?.text).toContain("deleted by `/delete`");
  });
});
