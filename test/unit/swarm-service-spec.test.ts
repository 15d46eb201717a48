import { describe, expect, it } from "vitest";
import { swarmRollbackSpec, swarmServiceSpec, type SwarmServiceSpecInput } from "../../src/adapters/docker/swarm-service-spec.js";
import type { SwarmService } from "../../src/adapters/docker/swarm-services.js";

const labels = { "berth.managed": "true", "berth.run": "run-1" };

function input(overrides: Partial<SwarmServiceSpecInput> = {}): SwarmServiceSpecInput {
  return {
    name: "acme-shop-pr-7",
    labels,
    image: "registry.test/acme/shop:abc@sha256:0123",
    env: { A: "1", B: "x=y" },
    network: "berth-swarm-github-acme-shop-pr-7",
    targetPort: 8080,
    publishMode: "host",
    forceUpdate: 0,
    stopGraceMs: 10_000,
    logOptions: { "max-size": "10m", "max-file": "3" },
    constraints: [],
    ...overrides,
  };
}

describe("swarmServiceSpec", () => {
  it("builds a host-mode service: stop-first updates, dnsrr endpoints, the port left to Docker", () => {
    expect(swarmServiceSpec(input())).toEqual({
      Name: "acme-shop-pr-7",
      Labels: labels,
      TaskTemplate: {
        ContainerSpec: {
          Image: "registry.test/acme/shop:abc@sha256:0123",
          Env: ["A=1", "B=x=y"],
          Labels: labels,
          StopGracePeriod: 10_000_000_000,
        },
        RestartPolicy: { Condition: "any", Delay: 5_000_000_000, MaxAttempts: 0 },
        Networks: [{ Target: "berth-swarm-github-acme-shop-pr-7" }],
        LogDriver: { Name: "json-file", Options: { "max-size": "10m", "max-file": "3" } },
        ForceUpdate: 0,
      },
      Mode: { Replicated: { Replicas: 1 } },
      UpdateConfig: { Parallelism: 1, Order: "stop-first", FailureAction: "pause", Monitor: 5_000_000_000 },
      EndpointSpec: { Mode: "dnsrr", Ports: [{ Protocol: "tcp", TargetPort: 8080, PublishMode: "host" }] },
    });
  });

  it("builds an ingress service: start-first updates, a virtual IP, the kept published port", () => {
    const spec = swarmServiceSpec(input({ publishMode: "ingress", publishedPort: 30001, forceUpdate: 3 }));
    expect(spec.UpdateConfig?.Order).toBe("start-first");
    expect(spec.EndpointSpec).toEqual({ Mode: "vip", Ports: [{ Protocol: "tcp", TargetPort: 8080, PublishMode: "ingress", PublishedPort: 30001 }] });
    expect(spec.TaskTemplate.ForceUpdate).toBe(3);
  });

  it("adds resources and placement only when given", () => {
    const resources = { Limits: { MemoryBytes: 256 * 1024 * 1024 } };
    const spec = swarmServiceSpec(input({ resources, constraints: ["node.hostname==edge-1"] }));
    expect(spec.TaskTemplate.Resources).toEqual(resources);
    expect(spec.TaskTemplate.Placement).toEqual({ Constraints: ["node.hostname==edge-1"] });
    const bare = swarmServiceSpec(input());
    expect("Resources" in bare.TaskTemplate).toBe(false);
    expect("Placement" in bare.TaskTemplate).toBe(false);
  });

  it("keys its JSON the way the engine has always been sent it", () => {
    expect(Object.keys(swarmServiceSpec(input()))).toEqual(["Name", "Labels", "TaskTemplate", "Mode", "UpdateConfig", "EndpointSpec"]);
    expect(Object.keys(swarmServiceSpec(input({ resources: { Limits: {} }, constraints: ["a==b"] })).TaskTemplate)).toEqual([
      "ContainerSpec",
      "RestartPolicy",
      "Networks",
      "LogDriver",
      "Resources",
      "Placement",
      "ForceUpdate",
    ]);
  });
});

describe("swarmRollbackSpec", () => {
  function service(spec: SwarmService["Spec"]): SwarmService {
    return { ID: "svc1", Version: { Index: 9 }, Spec: spec };
  }

  it("puts the previous spec back with a ForceUpdate past the current one and the port the service has now", () => {
    const previous = swarmServiceSpec(input({ publishMode: "ingress", forceUpdate: 2 }));
    const current = service(swarmServiceSpec(input({ publishMode: "ingress", publishedPort: 30001, forceUpdate: 3, image: "new:tag" })));
    const before = structuredClone(previous);
    const rollback = swarmRollbackSpec(previous, current);
    expect(rollback.forceUpdate).toBe(4);
    expect(rollback.image).toBe("registry.test/acme/shop:abc@sha256:0123");
    expect(rollback.spec.TaskTemplate?.ForceUpdate).toBe(4);
    expect(rollback.spec.EndpointSpec?.Ports).toEqual([{ Protocol: "tcp", TargetPort: 8080, PublishMode: "ingress", PublishedPort: 30001 }]);
    expect(previous).toEqual(before);
  });

  it("keeps a published port the previous spec names, and takes none of another mode", () => {
    const previous = swarmServiceSpec(input({ publishMode: "ingress", publishedPort: 30005 }));
    const current = service(swarmServiceSpec(input({ publishMode: "ingress", publishedPort: 30001 })));
    expect(swarmRollbackSpec(previous, current).spec.EndpointSpec?.Ports?.[0]?.PublishedPort).toBe(30005);
    const hostPrevious = swarmServiceSpec(input({ publishMode: "host" }));
    expect(swarmRollbackSpec(hostPrevious, current).spec.EndpointSpec?.Ports?.[0]?.PublishedPort).toBeUndefined();
  });

  it("starts at ForceUpdate 1 and an empty image when the specs name neither", () => {
    const rollback = swarmRollbackSpec({ Name: "x" }, service({ Name: "x" }));
    expect(rollback).toEqual({ spec: { Name: "x", TaskTemplate: { ForceUpdate: 1 } }, forceUpdate: 1, image: "" });
  });
});
