/**
 * Container limits (BERTH_CONTAINER_LIMITS) and hardening in the Docker engine's terms: the
 * HostConfig of a plain container, the Resources of a Swarm task.
 */
import type Docker from "dockerode";
import type { ContainerLimits } from "../../config/container-limits.js";

/** HostConfig fields of a preview or test container: limits, and no privilege gain through setuid. */
export function hostConfigLimits(limits: ContainerLimits | undefined): Partial<Docker.HostConfig> {
  const config: Partial<Docker.HostConfig> = { SecurityOpt: ["no-new-privileges"] };
  if (limits?.memoryBytes !== undefined) {
    config.Memory = limits.memoryBytes;
    // Equal to Memory: no swap on top of the limit.
    config.MemorySwap = limits.memoryBytes;
  }
  if (limits?.nanoCpus !== undefined) config.NanoCpus = limits.nanoCpus;
  if (limits?.pids !== undefined) config.PidsLimit = limits.pids;
  return config;
}

/** CFS period the CPU limit of build steps is expressed in (the engine's default, 100 ms). */
const CPU_PERIOD_US = 100_000;

/** Options of an image build that bound its `RUN` steps (the build API has no process limit). */
export function buildLimits(limits: ContainerLimits | undefined): Pick<Docker.ImageBuildOptions, "memory" | "memswap" | "cpuperiod" | "cpuquota"> {
  const options: Pick<Docker.ImageBuildOptions, "memory" | "memswap" | "cpuperiod" | "cpuquota"> = {};
  if (limits?.memoryBytes !== undefined) {
    options.memory = limits.memoryBytes;
    options.memswap = limits.memoryBytes;
  }
  if (limits?.nanoCpus !== undefined) {
    options.cpuperiod = CPU_PERIOD_US;
    options.cpuquota = Math.max(1000, Math.round((limits.nanoCpus / 1e9) * CPU_PERIOD_US));
  }
  return options;
}

/** `TaskTemplate.Resources` of a Swarm service; undefined without limits. */
export function swarmResources(limits: ContainerLimits | undefined): Docker.ResourceRequirements | undefined {
  if (!limits || (limits.memoryBytes === undefined && limits.nanoCpus === undefined && limits.pids === undefined)) return undefined;
  const Limits: Docker.ResourceRequirements["Limits"] & { Pids?: number } = {};
  if (limits.memoryBytes !== undefined) Limits.MemoryBytes = limits.memoryBytes;
  if (limits.nanoCpus !== undefined) Limits.NanoCPUs = limits.nanoCpus;
  if (limits.pids !== undefined) Limits.Pids = limits.pids;
  return { Limits };
}
