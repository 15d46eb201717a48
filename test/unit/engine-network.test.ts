import type Docker from "dockerode";
import { describe, expect, it } from "vitest";
import type { PreviewKey } from "../../src/domain/ports.js";
import { DeployFailure } from "../../src/targets/engine-deploy.js";
import { keyLabels, type EngineScope } from "../../src/targets/engine-labels.js";
import { EngineNetworks, type NetworkKind } from "../../src/targets/engine-network.js";

const key: PreviewKey = { host: "github", owner: "acme", name: "shop", pr: 7 };
const scope: EngineScope = { target: "swarm", instance: "default" };
const silent = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

function engineError(statusCode: number, message: string): Error {
  return Object.assign(new Error(message), { statusCode, json: { message } });
}

/** A network endpoint of an engine: `inspect` answers from `present` (404 when undefined), `create` as told. */
function fakeDocker(present: Array<Record<string, unknown> | undefined>, create: () => Promise<unknown>): { docker: Docker; created: unknown[] } {
  const created: unknown[] = [];
  let inspections = 0;
  const docker = {
    getNetwork: () => ({
      inspect: async () => {
        const info = present[Math.min(inspections++, present.length - 1)];
        if (!info) throw engineError(404, "network not found");
        return info;
      },
    }),
    createNetwork: async (options: unknown) => {
      created.push(options);
      return create();
    },
  } as unknown as Docker;
  return { docker, created };
}

function networks(docker: Docker, kind: NetworkKind = { driver: "overlay", attachable: true }): EngineNetworks {
  return new EngineNetworks({ docker, scope, kind, log: silent, callMs: 1000 });
}

const signal = new AbortController().signal;
const own = { Labels: keyLabels(scope, key, "network"), Driver: "overlay", Attachable: true };
const foreign = { Labels: { "berth.managed": "true", "berth.repo": "acme/other" }, Driver: "overlay", Attachable: true };

describe("EngineNetworks.ensure", () => {
  it("creates a missing network with the key's labels and the target's kind", async () => {
    const { docker, created } = fakeDocker([undefined], async () => ({}));
    await expect(networks(docker).ensure("net", key, signal)).resolves.toEqual({ name: "net", created: true });
    expect(created).toEqual([
      expect.objectContaining({ Name: "net", Driver: "overlay", Attachable: true, CheckDuplicate: true, Labels: keyLabels(scope, key, "network") }),
    ]);
  });

  it("creates a bridge without the attachable flag", async () => {
    const { docker, created } = fakeDocker([undefined], async () => ({}));
    await networks(docker, { driver: "bridge" }).ensure("net", key, signal);
    expect(created[0]).toEqual(expect.objectContaining({ Driver: "bridge" }));
    expect(created[0]).not.toHaveProperty("Attachable");
  });

  it("reuses the key's own network", async () => {
    const { docker, created } = fakeDocker([own], async () => ({}));
    await expect(networks(docker).ensure("net", key, signal)).resolves.toEqual({ name: "net", created: false });
    expect(created).toEqual([]);
  });

  it("refuses a network of that name with other labels, also when it appeared during the create", async () => {
    const refused = /a network named net exists but does not belong to acme\/shop#7 on this berth/;
    await expect(networks(fakeDocker([foreign], async () => ({})).docker).ensure("net", key, signal)).rejects.toThrow(refused);
    const raced = fakeDocker([undefined, foreign], async () => Promise.reject(engineError(409, "network with name net already exists")));
    await expect(networks(raced.docker).ensure("net", key, signal)).rejects.toThrow(refused);
  });

  it("takes the key's network another call created meanwhile", async () => {
    const raced = fakeDocker([undefined, own], async () => Promise.reject(engineError(409, "network with name net already exists")));
    await expect(networks(raced.docker).ensure("net", key, signal)).resolves.toEqual({ name: "net", created: false });
  });

  it("fails a deploy on an own network that is not an attachable overlay", async () => {
    const bridge = { ...own, Driver: "bridge", Attachable: false };
    const ensured = networks(fakeDocker([bridge], async () => ({})).docker).ensure("net", key, signal);
    await expect(ensured).rejects.toThrow(DeployFailure);
    await expect(networks(fakeDocker([bridge], async () => ({})).docker).ensure("net", key, signal)).rejects.toThrow(
      "network net exists but is not an attachable overlay network (driver bridge)",
    );
  });
});
