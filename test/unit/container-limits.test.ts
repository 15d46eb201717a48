import { describe, expect, it } from "vitest";
import { buildLimits, hostConfigLimits, swarmResources } from "../../src/adapters/docker/engine-limits.js";
import { DEFAULT_CONTAINER_LIMITS, parseContainerLimits } from "../../src/config/container-limits.js";
import { readSettings } from "../../src/config/settings.js";

describe("container limits (BERTH_CONTAINER_LIMITS)", () => {
  it("defaults to 2 GiB, 2 CPUs and 1024 processes; off means none", () => {
    expect(parseContainerLimits(undefined)).toEqual({ ok: true, value: { memoryBytes: 2147483648, nanoCpus: 2e9, pids: 1024 } });
    expect(parseContainerLimits("off")).toEqual({ ok: true, value: null });
    const settings = readSettings({});
    expect(settings.ok && settings.settings.containerLimits).toEqual(DEFAULT_CONTAINER_LIMITS);
    const off = readSettings({ BERTH_CONTAINER_LIMITS: "off" });
    expect(off.ok && off.settings.containerLimits).toBeUndefined();
  });

  it("reads Docker-style sizes and CPU counts", () => {
    expect(parseContainerLimits("memory=512m, cpus=1.5")).toEqual({ ok: true, value: { memoryBytes: 536870912, nanoCpus: 1.5e9 } });
    expect(parseContainerLimits("memory=1.5Gi,pids=64")).toEqual({ ok: true, value: { memoryBytes: 1610612736, pids: 64 } });
  });

  it("refuses what the engine would refuse, naming the problem", () => {
    expect(parseContainerLimits("memory=4m")).toEqual({ ok: false, error: 'memory "4m" is not a size of at least 6m (e.g. 512m, 2g)' });
    expect(parseContainerLimits("memory=lots")).toEqual({ ok: false, error: 'memory "lots" is not a size of at least 6m (e.g. 512m, 2g)' });
    expect(parseContainerLimits("cpus=0")).toEqual({ ok: false, error: 'cpus "0" is not a number of CPUs of at least 0.01 (e.g. 1.5)' });
    expect(parseContainerLimits("pids=1.5")).toEqual({ ok: false, error: 'pids "1.5" is not a whole number of at least 16' });
    expect(parseContainerLimits("swap=1g")).toEqual({ ok: false, error: '"swap=1g" is not memory=…, cpus=… or pids=…' });
    expect(readSettings({ BERTH_CONTAINER_LIMITS: "cpus=many" })).toEqual({ ok: false, error: 'BERTH_CONTAINER_LIMITS: cpus "many" is not a number of CPUs of at least 0.01 (e.g. 1.5)' });
  });

  it("maps to a container's HostConfig (no swap on top, no setuid privilege gain) and a Swarm task's Resources", () => {
    expect(hostConfigLimits({ memoryBytes: 268435456, nanoCpus: 5e8, pids: 128 })).toEqual({
      SecurityOpt: ["no-new-privileges"],
      Memory: 268435456,
      MemorySwap: 268435456,
      NanoCpus: 5e8,
      PidsLimit: 128,
    });
    expect(hostConfigLimits(undefined)).toEqual({ SecurityOpt: ["no-new-privileges"] });
    expect(swarmResources({ memoryBytes: 268435456, nanoCpus: 5e8, pids: 128 })).toEqual({ Limits: { MemoryBytes: 268435456, NanoCPUs: 5e8, Pids: 128 } });
    expect(swarmResources(undefined)).toBeUndefined();
    expect(swarmResources({})).toBeUndefined();
    expect(buildLimits({ memoryBytes: 268435456, nanoCpus: 5e8 })).toEqual({ memory: 268435456, memswap: 268435456, cpuperiod: 100000, cpuquota: 50000 });
    expect(buildLimits(undefined)).toEqual({});
  });

  it("bounds builds separately: 4 GiB and 2 CPUs by default, no process limit", () => {
    const settings = readSettings({});
    expect(settings.ok && settings.settings.buildLimits).toEqual({ memoryBytes: 4294967296, nanoCpus: 2e9 });
    const custom = readSettings({ BERTH_BUILD_LIMITS: "memory=8g" });
    expect(custom.ok && custom.settings.buildLimits).toEqual({ memoryBytes: 8589934592 });
    expect(readSettings({ BERTH_BUILD_LIMITS: "pids=100" })).toEqual({ ok: false, error: "BERTH_BUILD_LIMITS: pids cannot be limited for image builds (memory and cpus can)" });
  });
});
