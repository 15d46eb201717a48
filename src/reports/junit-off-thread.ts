/**
 * JUnit parsing in a worker thread, so a large or hostile report costs the test stage time and
 * never blocks berth's event loop (webhooks, health checks, other runs).
 */
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { JUNIT_LIMITS, type JUnitLimits, type TestSuiteReport } from "./junit.js";

/** Worker entry when running from TypeScript sources (tests, `tsx`); tsx is a dev dependency. */
function tsxBootstrap(entryPath: string): string {
  // tsx's require hook works inside workers on every supported Node (its ESM loader does not on 20).
  const tsx = createRequire(import.meta.url).resolve("tsx/cjs/api");
  return `require(${JSON.stringify(tsx)}).register(); require(${JSON.stringify(entryPath)});`;
}

export interface OffThreadOptions {
  /** Give up after this long. Default 30 s. */
  timeoutMs?: number;
  /** Heap of the worker; a report that needs more fails instead of growing berth. Default 512 MiB. */
  maxHeapMb?: number;
  limits?: JUnitLimits;
}

/**
 * Same result as `parseJUnit`, computed in a worker thread with a timeout and a heap limit. Never
 * rejects: a timeout, a crash or an out-of-memory worker become a parse error of the report, so
 * the test stage fails with a reason.
 */
export function parseJUnitOffThread(files: ReadonlyArray<{ path: string; content: string }>, options: OffThreadOptions = {}): Promise<TestSuiteReport> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const failed = (reason: string): TestSuiteReport => ({ cases: [], files: files.map((f) => f.path), parseErrors: [`JUnit reports not read: ${reason}`] });
  // Compiled, this module sits next to junit-worker.js. From source (tsx, vitest) the worker
  // registers tsx itself before loading the .ts entry.
  const fromSource = import.meta.url.endsWith(".ts");
  const entry = new URL(fromSource ? "./junit-worker.ts" : "./junit-worker.js", import.meta.url);
  return new Promise((resolve) => {
    let worker: Worker;
    try {
      worker = new Worker(fromSource ? tsxBootstrap(fileURLToPath(entry)) : entry, {
        eval: fromSource,
        workerData: { files, limits: options.limits ?? JUNIT_LIMITS },
        resourceLimits: { maxOldGenerationSizeMb: options.maxHeapMb ?? 512 },
        stdout: false,
        stderr: false,
      });
    } catch (err) {
      resolve(failed(`the parser could not start (${err instanceof Error ? err.message : String(err)})`));
      return;
    }
    let settled = false;
    const settle = (report: TestSuiteReport) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      void worker.terminate();
      resolve(report);
    };
    const timer = setTimeout(() => settle(failed(`parsing took longer than ${Math.round(timeoutMs / 1000)}s`)), timeoutMs);
    worker.once("message", (report: TestSuiteReport) => settle(report));
    worker.once("error", (err) => settle(failed(err.message.split("\n")[0] ?? "the parser failed")));
    worker.once("exit", (code) => settle(failed(`the parser stopped (exit code ${code})`)));
  });
}
