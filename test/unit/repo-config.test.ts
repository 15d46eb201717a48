import { describe, expect, it } from "vitest";
import { parseRepoConfig } from "../../src/config/repo-config.js";

describe("parseRepoConfig", () => {
  it("fills every default from an empty file", () => {
    const result = parseRepoConfig("");
    expect(result).toEqual({
      ok: true,
      config: {
        build: { dockerfile: "Dockerfile", context: ".", args: {}, scan: {} },
        preview: { target: "docker", port: 8080, healthPath: "/", auto: true, timeout: 120_000, env: {}, values: {}, valuesFiles: [], publishMode: "host", sleepAfter: 7_200_000, expiresAfter: 604_800_000 },
        tags: [],
        environments: {},
        cleanup: { registry: true },
        notify: [],
      },
    });
  });

  it("reads notify rules and names the field of a bad one", () => {
    const good = parseRepoConfig("notify:\n  - channel: team\n    on: [failed, preview-ready, environment-deployed, preview-removed]\n");
    expect(good.ok && good.config.notify).toEqual([{ channel: "team", on: ["failed", "preview-ready", "environment-deployed", "preview-removed"] }]);
    expect(parseRepoConfig("notify:\n  - channel: team\n    on: [merged]\n")).toMatchObject({ ok: false, error: expect.stringContaining("`notify.0.on.0`") });
    expect(parseRepoConfig("notify:\n  - channel: team\n    on: []\n")).toEqual({ ok: false, error: "`notify.0.on`: needs at least one event" });
    expect(parseRepoConfig("notify:\n  - channel: Team-Chat\n    on: [failed]\n")).toEqual({ ok: false, error: "`notify.0.channel`: channel names are lowercase letters, digits and _, at most 32" });
    // A webhook never comes from the repository.
    expect(parseRepoConfig("notify:\n  - channel: team\n    on: [failed]\n    url: https://evil.example/hook\n")).toMatchObject({ ok: false, error: expect.stringContaining("url") });
  });

  it("reads the documented example", () => {
    const result = parseRepoConfig(`
build:
  dockerfile: docker/app.Dockerfile
  context: app
  args: { VERSION: 1.2, DEBUG: true }
preview:
  target: docker
  port: 3000
  healthPath: /healthz
  auto: false
test:
  image: preview
  command: ["sh", "-c", "npm test"]
  reports: /reports
  timeout: 10m
`);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.config.build).toEqual({ dockerfile: "docker/app.Dockerfile", context: "app", args: { VERSION: "1.2", DEBUG: "true" }, scan: {} });
    expect(result.config.preview.port).toBe(3000);
    expect(result.config.preview.auto).toBe(false);
    expect(result.config.test).toEqual({ image: "preview", command: ["sh", "-c", "npm test"], reports: "/reports", timeout: 600_000 });
  });

  it.each([
    ["preview:\n  port: 99999\n", "`preview.port`"],
    ["build:\n  context: ../outside\n", "`build.context`: must be a relative path inside the repository without '..'"],
    ["build:\n  dockerfile: /etc/passwd\n", "`build.dockerfile`"],
    ["test:\n  command: []\n", "`test.command`: needs at least the program to run"],
    ["test:\n  command: [x]\n  timeout: soon\n", "`test.timeout`: 'soon' is not a duration like 90s, 10m, 2h or 7d"],
    ["preview:\n  healthPath: health\n", "`preview.healthPath`: must start with /"],
    ["preview:\n  target: nomad\n", "`preview.target`"],
    ["previwe:\n  port: 1\n", "`(root)`"],
    ["- a\n- b\n", "the file must be a YAML mapping"],
    ["build: [\n", "YAML syntax error"],
    ["build:\n  args:\n    'bad name': x\n", "`build.args.bad name`"],
    ["build:\n  scan:\n    failOn: low\n", "`build.scan.failOn`"],
    ["tags:\n  - match: 'alpha-*'\n    environment: Dev!\n", "`tags.0.environment`"],
    ["environments:\n  production:\n    permission: god\n", "`environments.production.permission`"],
  ])("rejects %j with %j", (text, message) => {
    const result = parseRepoConfig(text);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error).toContain(message);
  });
});

describe("tag flow config", () => {
  it("reads tag rules and environments", () => {
    const result = parseRepoConfig(`
build:
  scan:
    failOn: high
tags:
  - match: "alpha-*"
    environment: dev
  - match: "release-*"
    environment: production
environments:
  production: { target: kubernetes, namespace: myapp-prod, values: { replicas: 3 } }
cleanup:
  registry: false
`);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.config.build.scan).toEqual({ failOn: "high" });
    expect(result.config.tags).toEqual([
      { match: "alpha-*", environment: "dev" },
      { match: "release-*", environment: "production" },
    ]);
    expect(result.config.environments.production).toEqual({ target: "kubernetes", namespace: "myapp-prod", values: { replicas: 3 } });
    expect(result.config.cleanup).toEqual({ registry: false });
  });
});
