import { describe, expect, it } from "vitest";
import { credentialsFor, engineAuthFor, isOnRegistry, registryOfReference } from "../../src/adapters/docker/registry-credentials.js";

const own = { username: "robot$previews+berth", password: "s3cret", registry: "harbor.example.com" };

describe("registry credentials go only to their own registry", () => {
  it("reads the registry host of a reference as Docker does", () => {
    expect(registryOfReference("harbor.example.com/previews/app:1")).toBe("harbor.example.com");
    expect(registryOfReference("127.0.0.1:5000/app")).toBe("127.0.0.1:5000");
    expect(registryOfReference("localhost/app")).toBe("localhost");
    expect(registryOfReference("node:20")).toBe("docker.io");
    expect(registryOfReference("library/node:20")).toBe("docker.io");
  });

  it("sends them for images on their registry", () => {
    expect(credentialsFor("harbor.example.com/previews/app:pr-1-abc", own)).toBe(own);
    expect(credentialsFor("HARBOR.example.com/previews/app:1", own)).toBe(own);
    expect(engineAuthFor("harbor.example.com/p/app:1", own)).toEqual({ username: own.username, password: own.password, serveraddress: "harbor.example.com" });
  });

  it("never sends them to a host a repository names", () => {
    for (const ref of [
      "evil.example.com/x:1",
      "harbor.example.com.evil.example/x:1",
      "harbor.example.com:444/x:1",
      "evil.example.com/harbor.example.com/x:1",
      "node:20",
      "docker.io/library/node:20",
    ]) {
      expect(credentialsFor(ref, own), ref).toBeUndefined();
      expect(engineAuthFor(ref, own), ref).toBeUndefined();
    }
  });

  it("treats Docker Hub's aliases as one registry", () => {
    const hub = { ...own, registry: "index.docker.io" };
    expect(isOnRegistry("node:20", hub.registry)).toBe(true);
    expect(credentialsFor("docker.io/library/node:20", hub)).toBe(hub);
    expect(credentialsFor("ghcr.io/x/y:1", hub)).toBeUndefined();
  });

  it("sends nothing without credentials", () => {
    expect(credentialsFor("harbor.example.com/p/app:1", undefined)).toBeUndefined();
  });
});
