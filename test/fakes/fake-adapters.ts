/**
 * In-process ImageBuilder and PreviewTarget for front-door tests (the real ones are covered by
 * integration tests against Docker). They record what they were asked and can be held or failed.
 */
import type { BuildOutcome, BuildRequest, DeployRequest, DeployResult, ImageBuilder, PreviewKey, PreviewTarget, TestRequest, TestRunResult } from "../../src/domain/ports.js";
import { CancelledError } from "../../src/domain/ports.js";
import { prKeyOf } from "../../src/domain/records.js";

/** A promise that tests release by hand. */
export function deferred(): { promise: Promise<void>; release: () => void } {
  let release = () => {};
  const promise = new Promise<void>((resolve) => {
    release = resolve;
  });
  return { promise, release };
}

export class FakeBuilder implements ImageBuilder {
  readonly builds: BuildRequest[] = [];
  readonly pushes: string[] = [];
  /** Set to make the next builds fail like a broken Dockerfile step. */
  failWith?: { error: string; failingStep: string };
  /** Set to hold builds until released. */
  gate?: Promise<void>;

  async build(req: BuildRequest): Promise<BuildOutcome> {
    this.builds.push(req);
    req.onLog?.("Step 1/3 : FROM scratch");
    if (this.gate) {
      await Promise.race([
        this.gate,
        new Promise((_, reject) => req.signal.addEventListener("abort", () => reject(new CancelledError("aborted")), { once: true })),
      ]);
    }
    if (this.failWith) return { ok: false, error: this.failWith.error, failingStep: this.failWith.failingStep, logTail: ["Step 2/3 : RUN false", "The command '/bin/sh -c false' returned a non-zero code: 1"] };
    return { ok: true, imageId: `sha256:${"1".repeat(64)}`, logTail: ["Successfully built 111111111111"] };
  }

  async push(tag: string): Promise<{ digest: string }> {
    this.pushes.push(tag);
    return { digest: `sha256:${"a".repeat(64)}` };
  }

  async hasImage(tag: string): Promise<boolean> {
    return this.pushes.includes(tag) || this.tags.some((t) => t.target === tag);
  }

  readonly tags: Array<{ source: string; target: string }> = [];

  async tag(source: string, target: string): Promise<void> {
    if (!(await this.hasImage(source))) throw new Error(`no such image: ${source}`);
    this.tags.push({ source, target });
  }

  readonly imageRemovals: Array<{ repository: string; prNumber: number }> = [];

  async removePullRequestImages(repository: string, prNumber: number): Promise<{ removed: string[]; kept: string[]; foreign: string[] }> {
    this.imageRemovals.push({ repository, prNumber });
    const removed = this.pushes.filter((ref) => ref.startsWith(`${repository}:pr-${prNumber}-`));
    return { removed, kept: [], foreign: [] };
  }
}

export class FakeTarget implements PreviewTarget {
  readonly kind = "docker" as const;
  readonly deploys: DeployRequest[] = [];
  readonly tests: TestRequest[] = [];
  readonly removed: PreviewKey[] = [];
  /** Previews this "engine" runs, by their PR's `prKeyOf` text. */
  readonly live = new Map<string, { key: PreviewKey; sha: string }>();
  /** What the test command "prints" as JUnit. */
  junit = `<testsuite name="smoke"><testcase name="home page answers" time="0.1"/><testcase name="login" time="0.2"><failure message="expected 200, got 500">stack</failure></testcase><testcase name="later"><skipped/></testcase></testsuite>`;
  exitCode = 1;
  /** Report files the "container" had but did not hand over (over the size limits). */
  reportsNotRead: string[] = [];

  async deploy(req: DeployRequest): Promise<DeployResult> {
    this.deploys.push(req);
    this.hold(req.key, req.sha);
    return { url: `http://127.0.0.1:41000/`, internalUrl: `http://preview-${req.key.pr}:${req.preview.port}`, upstream: "http://127.0.0.1:41000" };
  }

  async runTests(req: TestRequest): Promise<TestRunResult> {
    this.tests.push(req);
    const output = ["running smoke tests", "1 failing"];
    for (const line of output) req.onLog?.(line);
    return {
      exitCode: this.exitCode,
      timedOut: false,
      logTail: output,
      reports: [{ path: "/reports/junit.xml", content: this.junit }],
      ...(this.reportsNotRead.length ? { reportsNotRead: this.reportsNotRead } : {}),
    };
  }

  async remove(key: PreviewKey): Promise<{ removed: number }> {
    this.removed.push(key);
    return { removed: this.live.delete(prKeyOf(key, key.pr)) ? 1 : 0 };
  }

  async list(): Promise<PreviewKey[]> {
    return [...this.live.values()].map((p) => p.key);
  }

  /** Previews put to sleep, and woken, in order. */
  readonly slept: PreviewKey[] = [];
  readonly woken: PreviewKey[] = [];
  /** Waking fails with this message (a preview that cannot start again). */
  wakeFailure?: string;
  /** Port the "engine" publishes after a wake (it changes, as host ports do). */
  private wakePort = 42000;

  async sleep(key: PreviewKey): Promise<{ stopped: number }> {
    this.slept.push(key);
    return { stopped: this.live.has(prKeyOf(key, key.pr)) ? 1 : 0 };
  }

  async wake(key: PreviewKey): Promise<{ upstream: string; url: string }> {
    this.woken.push(key);
    if (this.wakeFailure) throw new Error(this.wakeFailure);
    const port = this.wakePort++;
    return { upstream: `http://127.0.0.1:${port}`, url: `http://127.0.0.1:${port}/` };
  }

  /** Make the "engine" run a preview of `key` at `sha` (a preview berth may have no record of). */
  hold(key: PreviewKey, sha: string): void {
    this.live.set(prKeyOf(key, key.pr), { key, sha });
  }
}
