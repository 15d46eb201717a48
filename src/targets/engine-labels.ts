/**
 * Names and labels of the objects the Docker-engine targets (`docker`, `swarm`) create. Both use
 * the same label keys and differ only in the `berth.target` value, so that each finds its own
 * objects again after a restart without any local state.
 */
import type { Logger } from "pino";
import { environmentName, previewName } from "../domain/naming.js";
import type { PreviewKey } from "../domain/ports.js";
import { parsePreviewKey, previewKeyText, repoPathOf } from "../domain/preview-key.js";

/** Label keys on every object the Docker and Swarm targets create. */
export const DOCKER_LABELS = {
  managed: "berth.managed",
  target: "berth.target",
  host: "berth.host",
  repo: "berth.repo",
  pr: "berth.pr",
  sha: "berth.sha",
  run: "berth.run",
  /** Tag-flow environment (on objects of environments, whose `berth.pr` is 0). */
  environment: "berth.environment",
  /** `preview`, `test` or `network`. */
  role: "berth.role",
  /** The berth installation that made the object (BERTH_INSTANCE); others leave it alone. */
  instance: "berth.instance",
} as const;

/** The `berth.target` value of a Docker-engine target. */
export type EngineTargetKind = "docker" | "swarm";

/** Which objects are a target's own: its kind and the berth installation it serves. */
export interface EngineScope {
  target: EngineTargetKind;
  instance: string;
}

/**
 * `<repo-slug>-pr-<n>` (or `<repo-slug>-env-<environment>`): the base of every name of a key's
 * objects; the slug's hash covers instance, host and the full repository name.
 */
export function prBase(key: PreviewKey, instance: string): string {
  return key.environment ? environmentName(key, key.environment, instance) : previewName(key, key.pr, instance);
}

/** `[::1]` for IPv6 literals in URLs. */
export function urlHost(host: string): string {
  return host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
}

/** Docker label filters selecting every object of a target of this installation (optionally one role). */
export function targetFilters(scope: EngineScope, role?: string): string[] {
  const filters = [`${DOCKER_LABELS.managed}=true`, `${DOCKER_LABELS.target}=${scope.target}`, `${DOCKER_LABELS.instance}=${scope.instance}`];
  if (role) filters.push(`${DOCKER_LABELS.role}=${role}`);
  return filters;
}

/** Docker label filters selecting a PR's (or an environment's) objects of a target (optionally one role). */
export function keyFilters(scope: EngineScope, key: PreviewKey, role?: string): string[] {
  const filters = [
    ...targetFilters(scope),
    `${DOCKER_LABELS.host}=${key.host}`,
    `${DOCKER_LABELS.repo}=${repoPathOf(key)}`,
    `${DOCKER_LABELS.pr}=${key.pr}`,
  ];
  if (key.environment) filters.push(`${DOCKER_LABELS.environment}=${key.environment}`);
  if (role) filters.push(`${DOCKER_LABELS.role}=${role}`);
  return filters;
}

/** The labels of a key's object of a target in `role` (`preview`, `test` or `network`). */
export function keyLabels(scope: EngineScope, key: PreviewKey, role: string): Record<string, string> {
  return {
    [DOCKER_LABELS.managed]: "true",
    [DOCKER_LABELS.target]: scope.target,
    [DOCKER_LABELS.instance]: scope.instance,
    [DOCKER_LABELS.host]: key.host,
    [DOCKER_LABELS.repo]: repoPathOf(key),
    [DOCKER_LABELS.pr]: String(key.pr),
    ...(key.environment ? { [DOCKER_LABELS.environment]: key.environment } : {}),
    [DOCKER_LABELS.role]: role,
  };
}

/**
 * The distinct PRs the objects with these label sets belong to. Objects of environments are
 * skipped; so are objects whose labels do not read as a PR preview's key (with a warning: berth
 * wrote them, so someone changed them), rather than guessing a repository from them.
 */
export function previewKeysOf(labelSets: Array<Record<string, string> | undefined>, log: Pick<Logger, "warn">): PreviewKey[] {
  const keys = new Map<string, PreviewKey>();
  for (const labels of labelSets) {
    if (!labels || labels[DOCKER_LABELS.environment] !== undefined || labels[DOCKER_LABELS.pr] === "0") continue;
    const text = { host: labels[DOCKER_LABELS.host], repo: labels[DOCKER_LABELS.repo], pr: labels[DOCKER_LABELS.pr] };
    const parsed = parsePreviewKey(text);
    if (!parsed.ok) {
      log.warn({ labels: text, reason: parsed.reason }, "berth object with malformed labels skipped");
      continue;
    }
    const { key } = parsed;
    keys.set(`${key.host}\n${repoPathOf(key)}\n${key.pr}`, key);
  }
  return [...keys.values()];
}

/** {@link keyLabels} plus the commit and run of the object (previews and test containers). */
export function runLabels(scope: EngineScope, key: PreviewKey, role: string, sha: string, runId: string): Record<string, string> {
  return { ...keyLabels(scope, key, role), [DOCKER_LABELS.sha]: sha, [DOCKER_LABELS.run]: runId };
}

/**
 * Whether an existing object's labels say it is this key's (same installation, target, host,
 * repository, PR and environment). Anything else, berth labels of another repository or none at
 * all, is never adopted, updated or removed.
 */
export function isOwnObject(labels: Record<string, string> | undefined, scope: EngineScope, key: PreviewKey): boolean {
  if (!labels) return false;
  return (
    labels[DOCKER_LABELS.managed] === "true" &&
    labels[DOCKER_LABELS.target] === scope.target &&
    labels[DOCKER_LABELS.instance] === scope.instance &&
    labels[DOCKER_LABELS.host] === key.host &&
    labels[DOCKER_LABELS.repo] === repoPathOf(key) &&
    labels[DOCKER_LABELS.pr] === String(key.pr) &&
    (labels[DOCKER_LABELS.environment] ?? "") === (key.environment ?? "")
  );
}

/** The error when a name berth derived is held by an object that is not the key's. */
export function foreignObjectError(kind: string, name: string, key: PreviewKey): Error {
  return new Error(`a ${kind} named ${name} exists but does not belong to ${previewKeyText(key)} on this berth; berth leaves it alone (remove or rename it by hand)`);
}
