import { describe, expect, it } from "vitest";
import { createDockerClient, parseDockerHost } from "../../src/adapters/docker/docker-client.js";

describe("parseDockerHost", () => {
  it("uses the local socket when DOCKER_HOST is unset or empty", () => {
    expect(parseDockerHost(undefined, {})).toEqual({ socketPath: "/var/run/docker.sock" });
    expect(parseDockerHost("  ", {})).toEqual({ socketPath: "/var/run/docker.sock" });
  });

  it("reads unix:// and npipe:// sockets", () => {
    expect(parseDockerHost("unix:///work/.tmp/docker.sock", {})).toEqual({ socketPath: "/work/.tmp/docker.sock" });
    expect(parseDockerHost("unix://", {})).toEqual({ socketPath: "/var/run/docker.sock" });
    expect(parseDockerHost("npipe:////./pipe/docker_engine", {})).toEqual({ socketPath: "//./pipe/docker_engine" });
  });

  it("speaks plain HTTP to tcp:// and http:// hosts, with Docker's default port", () => {
    expect(parseDockerHost("tcp://10.0.0.5:2375", {})).toEqual({ protocol: "http", host: "10.0.0.5", port: 2375 });
    expect(parseDockerHost("tcp://docker.internal", {})).toEqual({ protocol: "http", host: "docker.internal", port: 2375 });
    expect(parseDockerHost("http://127.0.0.1:12375", {})).toEqual({ protocol: "http", host: "127.0.0.1", port: 12375 });
    expect(parseDockerHost("localhost:2375", {})).toEqual({ protocol: "http", host: "localhost", port: 2375 });
    expect(parseDockerHost("tcp://[::1]:2375", {})).toEqual({ protocol: "http", host: "::1", port: 2375 });
  });

  it("switches tcp:// to TLS on DOCKER_TLS_VERIFY, default port 2376", () => {
    const connection = parseDockerHost("tcp://docker.internal", { DOCKER_TLS_VERIFY: "1", DOCKER_CERT_PATH: "/nonexistent" });
    expect(connection).toEqual({ protocol: "https", host: "docker.internal", port: 2376 });
    expect(parseDockerHost("https://docker.internal:3376", { DOCKER_CERT_PATH: "/nonexistent" })).toMatchObject({ protocol: "https", port: 3376 });
  });

  it("refuses schemes and forms it cannot serve", () => {
    expect(() => parseDockerHost("ssh://me@host", {})).toThrow("DOCKER_HOST scheme 'ssh://' is not supported");
    expect(() => parseDockerHost("tcp://host:2375/prefix", {})).toThrow(/base paths are not supported/);
  });
});

describe("createDockerClient", () => {
  it("prefers the explicit address over DOCKER_HOST in the environment", () => {
    const saved = process.env.DOCKER_HOST;
    process.env.DOCKER_HOST = "tcp://from-env.invalid:2375";
    try {
      const client = createDockerClient("unix:///run/explicit.sock");
      const modem = client.modem as { socketPath?: unknown; host?: unknown };
      expect(modem.socketPath).toBe("/run/explicit.sock");
      expect(modem.host).toBeUndefined();
    } finally {
      if (saved === undefined) delete process.env.DOCKER_HOST;
      else process.env.DOCKER_HOST = saved;
    }
  });
});
