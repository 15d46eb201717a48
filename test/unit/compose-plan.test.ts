/**
 * Compose files → berth's plan: checked against the Compose Specification's schema, then against
 * what a preview may do; every refusal names its field.
 */
import { describe, expect, it } from "vitest";
import { planCompose, repoRelative, splitWords } from "../../src/compose/compose-plan.js";
import { parseEnvFile } from "../../src/stages/compose-stages.js";
import { parseRepoConfig } from "../../src/config/repo-config.js";

const errorsOf = (text: string): string[] => {
  const result = planCompose(text, "deploy/compose.yaml");
  return result.ok ? [] : result.errors;
};

describe("planCompose", () => {
  it("plans services in depends_on order with their builds, env, healthchecks, volumes and aliases", () => {
    const result = planCompose(
      `
services:
  web:
    build: { context: ../web, dockerfile: Dockerfile.prod, args: { MODE: preview } }
    command: sh -c "echo 'hi there'"
    environment: [GREETING=hello, FROM_HOST]
    env_file: web.env
    depends_on: { db: { condition: service_healthy }, cache: { condition: service_started } }
    volumes: ["uploads:/srv/uploads:ro"]
    networks: { default: { aliases: [frontend] } }
  cache:
    image: registry.example.com/cache:7
  db:
    image: postgres:16
    healthcheck: { test: "pg_isready", interval: 1m30s, retries: 5 }
volumes: { uploads: {} }
`,
      "deploy/compose.yaml",
    );
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    const names = result.plan.services.map((s) => s.name);
    expect(names.indexOf("web")).toBeGreaterThan(names.indexOf("db"));
    expect(names.indexOf("web")).toBeGreaterThan(names.indexOf("cache"));
    const web = result.plan.services.find((s) => s.name === "web")!;
    expect(web.build).toEqual({ context: "web", dockerfile: "Dockerfile.prod", args: { MODE: "preview" } });
    expect(web.command).toEqual(["sh", "-c", "echo 'hi there'"]);
    // `FROM_HOST` alone would take berth's own environment: never passed.
    expect(web.environment).toEqual({ GREETING: "hello" });
    expect(web.envFiles).toEqual(["deploy/web.env"]);
    expect(web.volumes).toEqual([{ volume: "uploads", target: "/srv/uploads", readOnly: true }]);
    expect(web.aliases).toEqual(["frontend"]);
    expect(result.plan.services.find((s) => s.name === "db")!.healthcheck).toEqual({ test: ["CMD-SHELL", "pg_isready"], intervalMs: 90_000, timeoutMs: 30_000, retries: 5, startPeriodMs: 0 });
  });

  it("refuses what reaches the host, naming the field", () => {
    const errors = errorsOf(`
services:
  web:
    image: nginx
    privileged: true
    network_mode: host
    pid: host
    cap_add: [SYS_ADMIN]
    devices: ["/dev/kvm:/dev/kvm"]
    ports: ["80:80"]
    volumes_from: [other]
    volumes:
      - /var/run/docker.sock:/var/run/docker.sock
      - ./src:/src
      - type: bind
        source: /etc
        target: /host-etc
`);
    expect(errors).toEqual(
      expect.arrayContaining([
        "deploy/compose.yaml: services.web.privileged: refused, a privileged container controls the host",
        "deploy/compose.yaml: services.web.network_mode: refused, previews run on their PR's network only",
        "deploy/compose.yaml: services.web.pid: refused, the host's (or another container's) process namespace is not shared",
        "deploy/compose.yaml: services.web.cap_add: refused, added capabilities reach the host kernel",
        "deploy/compose.yaml: services.web.devices: refused, host devices are not given to previews",
        "deploy/compose.yaml: services.web.ports: refused, previews publish no host ports (berth's gateway serves them)",
        "deploy/compose.yaml: services.web.volumes_from: refused, volumes of other containers are not shared",
        "deploy/compose.yaml: services.web.volumes.0: '/var/run/docker.sock' is a bind mount of a host path, refused: only named volumes",
        "deploy/compose.yaml: services.web.volumes.1: './src' is a bind mount of a host path, refused: only named volumes",
        "deploy/compose.yaml: services.web.volumes.2.type: bind mounts are refused (a bind mount reaches the host's files)",
      ]),
    );
  });

  it("refuses paths out of the repository, external and driver-option volumes, and host-file secrets", () => {
    const errors = errorsOf(`
services:
  web:
    build: { context: ../../.. }
    env_file: /etc/passwd
    volumes: ["data:/data"]
secrets:
  key: { file: /root/.ssh/id_rsa }
volumes:
  data: { driver_opts: { type: none, o: bind, device: /etc } }
  other: { external: true }
`);
    expect(errors).toEqual(
      expect.arrayContaining([
        "deploy/compose.yaml: services.web.build.context: must be a folder inside the repository",
        "deploy/compose.yaml: services.web.env_file: must be a file inside the repository",
        "deploy/compose.yaml: volumes.data.driver_opts: driver options can mount host paths",
        "deploy/compose.yaml: volumes.other.external: external volumes are not used; each PR gets its own",
        "deploy/compose.yaml: secrets: secrets from host files are not mounted (use environment or env_file)",
      ]),
    );
  });

  it("reports what the Compose schema refuses, and berth's own limits", () => {
    expect(errorsOf("services:\n  web:\n    imagex: nginx\n")).toContain("deploy/compose.yaml: services.web: unknown field 'imagex'");
    expect(errorsOf("services:\n  web:\n    image: x\n    healthcheck: { interval: 5 seconds }\n")).toContain('deploy/compose.yaml: services.web.healthcheck.interval: must match format "duration"');
    expect(errorsOf("services:\n  web:\n    image: x\n    stdin_open: true\n")).toEqual(["deploy/compose.yaml: services.web.stdin_open: not supported in berth previews"]);
    expect(errorsOf("services:\n  a: { image: x, depends_on: [b] }\n  b: { image: x, depends_on: [a] }\n")[0]).toMatch(/depends_on forms a cycle/);
    expect(errorsOf("services:\n  a: { image: x, depends_on: [nope] }\n")).toContain("deploy/compose.yaml: services.a.depends_on: no service nope");
    expect(errorsOf("services: {}\n")).toEqual(["deploy/compose.yaml: needs at least one service"]);
    expect(errorsOf("services:\n  web: [\n")[0]).toMatch(/^deploy\/compose\.yaml: /);
  });
});

describe("Compose helpers", () => {
  it("resolves paths against the Compose file's folder, never out of the repository", () => {
    expect(repoRelative("deploy", "../web")).toBe("web");
    expect(repoRelative("deploy", ".")).toBe("deploy");
    expect(repoRelative(".", "./a/b")).toBe("a/b");
    expect(repoRelative("deploy", "../..")).toBeUndefined();
    expect(repoRelative(".", "/abs")).toBeUndefined();
    expect(repoRelative(".", "https://example.com/repo.git")).toBeUndefined();
  });

  it("splits command strings like a shell, without expanding anything", () => {
    expect(splitWords(`sh -c "echo \\"a b\\" $HOME" 'x y'`)).toEqual(["sh", "-c", 'echo "a b" $HOME', "x y"]);
    expect(splitWords("  ")).toEqual([]);
  });

  it("reads env files", () => {
    expect(parseEnvFile("# c\nexport A=1\nB='two words'\nC=\"x\"\n\nbad line\n")).toEqual({ A: "1", B: "two words", C: "x" });
  });

  it("berth.yml needs preview.service with preview.compose, on the docker or swarm target", () => {
    const missing = parseRepoConfig("preview:\n  compose: compose.yaml\n");
    expect(!missing.ok && missing.error).toContain("preview.service");
    const kube = parseRepoConfig("preview:\n  compose: compose.yaml\n  service: web\n  target: kubernetes\n");
    expect(!kube.ok && kube.error).toContain("Compose previews run on the docker and swarm targets");
    expect(parseRepoConfig("preview:\n  compose: compose.yaml\n  service: web\n  target: swarm\n").ok).toBe(true);
    expect(parseRepoConfig("preview:\n  compose: compose.yaml\n  service: web\n  seed: { command: [make, seed] }\n").ok).toBe(true);
  });
});
