/**
 * A repository's Compose file → what berth runs for a multi-service preview. Pure: the file is
 * checked against the Compose Specification's schema first, then against what a preview may do.
 * berth supports a subset (listed in SUPPORTED) and refuses, naming the field, everything that
 * would let a PR reach the host (bind mounts, privileged, host namespaces, devices, capabilities,
 * host ports, external volumes or networks, driver options, secrets and configs from files) or
 * that berth does not run (any other field), instead of quietly ignoring it.
 */
import { parseDocument } from "yaml";
import { parseDuration } from "../domain/duration.js";
import { composeSchemaErrors } from "./compose-schema.js";

/** Bytes of a Compose file read at most. */
export const MAX_COMPOSE_BYTES = 256 * 1024;

export interface ComposeHealthcheck {
  /** `CMD`/`CMD-SHELL`/`NONE` form, as the engine takes it. */
  test: string[];
  intervalMs: number;
  timeoutMs: number;
  retries: number;
  startPeriodMs: number;
}

export interface ComposeService {
  name: string;
  /** Image to run as written (a service without `build`). */
  image?: string;
  /** Build from the repository: paths relative to the repository root. */
  build?: { context: string; dockerfile: string; args: Record<string, string> };
  environment: Record<string, string>;
  /** `env_file`s, relative to the repository root (read from the commit). */
  envFiles: string[];
  command?: string[];
  entrypoint?: string[];
  workingDir?: string;
  user?: string;
  dependsOn: Array<{ service: string; condition: "service_started" | "service_healthy" }>;
  /** Undefined: the image's own; `disabled`: none. */
  healthcheck?: ComposeHealthcheck | "disabled";
  /** Named volumes (one per PR each) and where they are mounted. */
  volumes: Array<{ volume: string; target: string; readOnly: boolean }>;
  /** Names on the PR's network besides the service name (network `aliases`). */
  aliases: string[];
}

export interface ComposePlan {
  /** In start order: every service after those it depends on. */
  services: ComposeService[];
  /** Named volumes declared at the top level. */
  volumes: string[];
}

export type ComposePlanResult = { ok: true; plan: ComposePlan } | { ok: false; errors: string[] };

/** Service fields berth runs; anything else is refused by name. */
const SUPPORTED = new Set(["image", "build", "environment", "env_file", "command", "entrypoint", "depends_on", "healthcheck", "expose", "volumes", "networks", "working_dir", "user", "labels", "restart", "stop_grace_period", "init"]);

/** Fields refused because they reach the host, with why. */
const HOST_ACCESS: Record<string, string> = {
  privileged: "a privileged container controls the host",
  network_mode: "previews run on their PR's network only",
  pid: "the host's (or another container's) process namespace is not shared",
  ipc: "the host's (or another container's) IPC namespace is not shared",
  userns_mode: "the host's user namespace is not shared",
  uts: "the host's UTS namespace is not shared",
  devices: "host devices are not given to previews",
  device_cgroup_rules: "host devices are not given to previews",
  cap_add: "added capabilities reach the host kernel",
  security_opt: "security options (seccomp, AppArmor) stay as berth sets them",
  sysctls: "kernel parameters stay as berth sets them",
  cgroup_parent: "previews run in berth's cgroups",
  ports: "previews publish no host ports (berth's gateway serves them)",
  volumes_from: "volumes of other containers are not shared",
  external_links: "containers outside the preview are not reachable",
  container_name: "berth names the containers (one preview per PR)",
  runtime: "the container runtime stays the engine's default",
  isolation: "the isolation stays the engine's default",
  secrets: "secrets from host files are not mounted (use environment or env_file)",
  configs: "configs from host files are not mounted",
  extends: "services from other files are not read",
};

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

/** A path inside the repository from one relative to the Compose file's folder; undefined when it leaves the repository. */
export function repoRelative(composeDir: string, path: string): string | undefined {
  if (path.startsWith("/") || path.includes("\\") || /^[a-z]+:\/\//i.test(path) || path.startsWith("~")) return undefined;
  const parts: string[] = composeDir === "." || composeDir === "" ? [] : composeDir.split("/");
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") {
      if (parts.length === 0) return undefined;
      parts.pop();
    } else parts.push(part);
  }
  return parts.length ? parts.join("/") : ".";
}

/** Compose's string form of `command`/`entrypoint`, split like a shell would split words (quotes, no expansion). */
export function splitWords(text: string): string[] {
  const words: string[] = [];
  let current = "";
  let quote: '"' | "'" | undefined;
  let inWord = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote) {
      if (c === quote) quote = undefined;
      else if (c === "\\" && quote === '"' && i + 1 < text.length) current += text[++i];
      else current += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(current);
      current = "";
      inWord = false;
    } else {
      current += c === "\\" && i + 1 < text.length ? text[++i] : c;
      inWord = true;
    }
  }
  if (inWord) words.push(current);
  return words;
}

function stringList(value: unknown): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === "string") return splitWords(value);
  if (Array.isArray(value)) return value.map(String);
  return undefined;
}

function environmentOf(value: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (Array.isArray(value)) {
    for (const entry of value.map(String)) {
      const eq = entry.indexOf("=");
      // `NAME` alone takes the value from berth's environment in Compose: never in a preview.
      if (eq > 0) out[entry.slice(0, eq)] = entry.slice(eq + 1);
    }
  } else if (isObj(value)) {
    for (const [k, v] of Object.entries(value)) if (v !== null && v !== undefined) out[k] = String(v);
  }
  return out;
}

function duration(value: unknown, fallback: number): number {
  if (typeof value !== "string") return fallback;
  // Go durations (`1m30s`): summed part by part.
  let total = 0;
  for (const [, amount, unit] of value.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) {
    const ms = unit === "ns" || unit === "us" || unit === "µs" ? 0 : parseDuration(`${amount}${unit}`) ?? 0;
    total += ms;
  }
  return total > 0 ? total : fallback;
}

function healthcheckOf(value: unknown): ComposeService["healthcheck"] {
  if (!isObj(value)) return undefined;
  if (value.disable === true) return "disabled";
  const test = typeof value.test === "string" ? ["CMD-SHELL", value.test] : Array.isArray(value.test) ? value.test.map(String) : undefined;
  if (!test) return undefined;
  return {
    test,
    intervalMs: duration(value.interval, 30_000),
    timeoutMs: duration(value.timeout, 30_000),
    retries: typeof value.retries === "number" ? value.retries : 3,
    startPeriodMs: duration(value.start_period, 0),
  };
}

/** Parse, validate and plan a Compose file found at `composePath` in the repository. */
export function planCompose(text: string, composePath: string): ComposePlanResult {
  if (Buffer.byteLength(text) > MAX_COMPOSE_BYTES) return { ok: false, errors: [`${composePath} is larger than ${MAX_COMPOSE_BYTES / 1024} KiB`] };
  const doc = parseDocument(text);
  if (doc.errors.length) return { ok: false, errors: doc.errors.slice(0, 3).map((e) => `${composePath}: ${e.message.split("\n")[0]}`) };
  const data: unknown = doc.toJS({ maxAliasCount: 50 });
  const schemaErrors = composeSchemaErrors(data);
  if (schemaErrors.length) return { ok: false, errors: schemaErrors.map((e) => `${composePath}: ${e}`) };
  if (!isObj(data) || !isObj(data.services) || Object.keys(data.services).length === 0) return { ok: false, errors: [`${composePath}: needs at least one service`] };

  const errors: string[] = [];
  const composeDir = composePath.includes("/") ? composePath.slice(0, composePath.lastIndexOf("/")) : ".";
  const topVolumes = isObj(data.volumes) ? data.volumes : {};
  for (const [name, volume] of Object.entries(topVolumes)) {
    if (!isObj(volume)) continue;
    if (volume.external) errors.push(`volumes.${name}.external: external volumes are not used; each PR gets its own`);
    if (volume.driver && volume.driver !== "local") errors.push(`volumes.${name}.driver: only the engine's local driver`);
    if (volume.driver_opts) errors.push(`volumes.${name}.driver_opts: driver options can mount host paths`);
  }
  for (const [name, network] of Object.entries(isObj(data.networks) ? data.networks : {})) {
    if (isObj(network) && network.external) errors.push(`networks.${name}.external: previews join only their PR's network`);
  }
  for (const key of ["secrets", "configs"]) if (data[key] !== undefined) errors.push(`${key}: ${HOST_ACCESS[key]}`);

  const services: ComposeService[] = [];
  for (const [name, raw] of Object.entries(data.services)) {
    if (!isObj(raw)) continue;
    const at = `services.${name}`;
    for (const field of Object.keys(raw)) {
      if (HOST_ACCESS[field]) errors.push(`${at}.${field}: refused, ${HOST_ACCESS[field]}`);
      else if (!SUPPORTED.has(field)) errors.push(`${at}.${field}: not supported in berth previews`);
    }
    const service: ComposeService = { name, environment: environmentOf(raw.environment), envFiles: [], dependsOn: [], volumes: [], aliases: [] };
    if (typeof raw.image === "string") service.image = raw.image;
    if (raw.build !== undefined) {
      const build = typeof raw.build === "string" ? { context: raw.build } : isObj(raw.build) ? raw.build : {};
      const context = repoRelative(composeDir, String(build.context ?? "."));
      if (!context) errors.push(`${at}.build.context: must be a folder inside the repository`);
      const dockerfile = String(build.dockerfile ?? "Dockerfile");
      if (dockerfile.startsWith("/") || dockerfile.split("/").includes("..")) errors.push(`${at}.build.dockerfile: must be a path inside the build context`);
      for (const field of ["ssh", "secrets", "network", "extra_hosts", "additional_contexts"]) if (build[field] !== undefined) errors.push(`${at}.build.${field}: refused, it reaches outside the build context`);
      service.build = { context: context ?? ".", dockerfile, args: environmentOf(build.args) };
    }
    if (!service.image && !service.build) errors.push(`${at}: needs image or build`);
    for (const file of typeof raw.env_file === "string" ? [raw.env_file] : Array.isArray(raw.env_file) ? raw.env_file : []) {
      const path = repoRelative(composeDir, String(isObj(file) ? file.path : file));
      if (!path) errors.push(`${at}.env_file: must be a file inside the repository`);
      else service.envFiles.push(path);
    }
    const command = stringList(raw.command);
    if (command) service.command = command;
    const entrypoint = stringList(raw.entrypoint);
    if (entrypoint) service.entrypoint = entrypoint;
    if (typeof raw.working_dir === "string") service.workingDir = raw.working_dir;
    if (typeof raw.user === "string") service.user = raw.user;
    const dependsOn = Array.isArray(raw.depends_on) ? Object.fromEntries(raw.depends_on.map((d) => [String(d), {}])) : isObj(raw.depends_on) ? raw.depends_on : {};
    for (const [other, spec] of Object.entries(dependsOn)) {
      const condition = isObj(spec) && typeof spec.condition === "string" ? spec.condition : "service_started";
      if (condition !== "service_started" && condition !== "service_healthy") errors.push(`${at}.depends_on.${other}.condition: ${condition} is not supported (service_started, service_healthy)`);
      else service.dependsOn.push({ service: other, condition });
      if (!isObj(data.services[other] as unknown)) errors.push(`${at}.depends_on: no service ${other}`);
    }
    const healthcheck = healthcheckOf(raw.healthcheck);
    if (healthcheck) service.healthcheck = healthcheck;
    for (const [i, mount] of (Array.isArray(raw.volumes) ? raw.volumes : []).entries()) {
      const where = `${at}.volumes.${i}`;
      let source: string | undefined;
      let target: string | undefined;
      let readOnly = false;
      if (typeof mount === "string") {
        const parts = mount.split(":");
        if (parts.length === 1) errors.push(`${where}: anonymous volumes are not supported; name the volume`);
        [source, target] = parts;
        readOnly = parts[2]?.split(",").includes("ro") ?? false;
      } else if (isObj(mount)) {
        if (mount.type !== undefined && mount.type !== "volume") {
          errors.push(`${where}.type: ${String(mount.type)} mounts are refused (${mount.type === "bind" ? "a bind mount reaches the host's files" : "only named volumes"})`);
          continue;
        }
        source = typeof mount.source === "string" ? mount.source : undefined;
        target = typeof mount.target === "string" ? mount.target : undefined;
        readOnly = mount.read_only === true;
      }
      if (!source || !target) continue;
      if (/^[./~]/.test(source) || source.includes("/")) {
        errors.push(`${where}: '${source}' is a bind mount of a host path, refused: only named volumes`);
        continue;
      }
      if (!(source in topVolumes)) errors.push(`${where}: volume '${source}' is not declared under the top-level volumes`);
      service.volumes.push({ volume: source, target, readOnly });
    }
    if (isObj(raw.networks)) {
      for (const network of Object.values(raw.networks)) {
        if (isObj(network) && Array.isArray(network.aliases)) service.aliases.push(...network.aliases.map(String));
        if (isObj(network) && (network.ipv4_address || network.ipv6_address)) errors.push(`${at}.networks: fixed addresses are not supported`);
      }
    }
    services.push(service);
  }
  const ordered = startOrder(services, errors);
  if (errors.length) return { ok: false, errors: errors.map((e) => `${composePath}: ${e}`) };
  return { ok: true, plan: { services: ordered, volumes: Object.keys(topVolumes) } };
}

/** Services in an order that starts each after its dependencies; a cycle is an error. */
function startOrder(services: ComposeService[], errors: string[]): ComposeService[] {
  const byName = new Map(services.map((s) => [s.name, s]));
  const done = new Set<string>();
  const visiting = new Set<string>();
  const out: ComposeService[] = [];
  const visit = (service: ComposeService, path: string[]): void => {
    if (done.has(service.name)) return;
    if (visiting.has(service.name)) {
      errors.push(`services: depends_on forms a cycle (${[...path, service.name].join(" → ")})`);
      return;
    }
    visiting.add(service.name);
    for (const dep of service.dependsOn) {
      const other = byName.get(dep.service);
      if (other) visit(other, [...path, service.name]);
    }
    visiting.delete(service.name);
    done.add(service.name);
    out.push(service);
  };
  for (const service of services) visit(service, []);
  return out;
}
