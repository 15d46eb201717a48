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

/** `TaskTemplate.Resources` of a Swarm service; undefined without limits. */
export function swarmResources(limits: ContainerLimits | undefined): Docker.ResourceRequirements | undefined {
  if (!limits || (limits.memoryBytes === undefined && limits.nanoCpus === undefined && limits.pids === undefined)) return undefined;
  const Limits: Docker.ResourceRequirements["Limits"] & { Pids?: number } = {};
  if (limits.memoryBytes !== undefined) Limits.MemoryBytes = limits.memoryBytes;
  if (limits.nanoCpus !== undefined) Limits.NanoCPUs = limits.nanoCpus;
  if (limits.pids !== undefined) Limits.Pids = limits.pids;
  return { Limits };
}
