/**
 * Resource limits of the containers berth starts on Docker and Swarm (previews and test runs), from
 * `BERTH_CONTAINER_LIMITS`: `memory=2g,cpus=2,pids=1024`, or `off`. A runaway PR must not take the
 * engine's host down with it. `BERTH_BUILD_LIMITS` bounds the `RUN` steps of image builds the same
 * way (memory and cpus only).
 */
import { parseListSetting, type Parsed } from "./parsed-setting.js";

export interface ContainerLimits {
  /** Memory limit in bytes (no swap beyond it). */
  memoryBytes?: number;
  /** CPU limit in billionths of a CPU (Docker's NanoCpus). */
  nanoCpus?: number;
  /** Most processes and threads at once. */
  pids?: number;
}

export const DEFAULT_CONTAINER_LIMITS: ContainerLimits = { memoryBytes: 2 * 1024 ** 3, nanoCpus: 2e9, pids: 1024 };
/** Builds (compilers, bundlers) get more memory by default; the build API cannot limit processes. */
export const DEFAULT_BUILD_LIMITS: ContainerLimits = { memoryBytes: 4 * 1024 ** 3, nanoCpus: 2e9 };

const MEMORY = /^(\d+(?:\.\d+)?)\s*(b|k|kb|ki|m|mb|mi|g|gb|gi)?$/i;
const MEMORY_UNITS: Record<string, number> = { b: 1, k: 1024, kb: 1024, ki: 1024, m: 1024 ** 2, mb: 1024 ** 2, mi: 1024 ** 2, g: 1024 ** 3, gb: 1024 ** 3, gi: 1024 ** 3 };
/** Docker refuses less than 6 MiB. */
const MIN_MEMORY = 6 * 1024 ** 2;

/** `undefined` → the defaults; `off` → no limits; otherwise the listed ones only. */
export function parseContainerLimits(text: string | undefined, fallback: ContainerLimits = DEFAULT_CONTAINER_LIMITS): Parsed<ContainerLimits> {
  return parseListSetting(text, fallback, "value", (pairs) => {
    const limits: ContainerLimits = {};
    for (const [name, value] of pairs) {
      if (name === "memory") {
        const match = MEMORY.exec(value);
        const bytes = match ? Math.floor(Number(match[1]) * MEMORY_UNITS[(match[2] ?? "b").toLowerCase()]!) : NaN;
        if (!Number.isSafeInteger(bytes) || bytes < MIN_MEMORY) return { ok: false, error: `memory "${value}" is not a size of at least 6m (e.g. 512m, 2g)` };
        limits.memoryBytes = bytes;
      } else if (name === "cpus") {
        const cpus = Number(value);
        if (value === "" || !Number.isFinite(cpus) || cpus < 0.01) return { ok: false, error: `cpus "${value}" is not a number of CPUs of at least 0.01 (e.g. 1.5)` };
        limits.nanoCpus = Math.round(cpus * 1e9);
      } else if (name === "pids") {
        const pids = Number(value);
        if (!Number.isSafeInteger(pids) || pids < 16) return { ok: false, error: `pids "${value}" is not a whole number of at least 16` };
        limits.pids = pids;
      } else {
        return { ok: false, error: `"${name}=${value}" is not memory=…, cpus=… or pids=…` };
      }
    }
    return { ok: true, value: limits };
  });
}
