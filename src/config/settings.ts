/**
 * Server settings from the environment (names fixed by the README and `.env.example`).
 * Probot reads its own (APP_ID, PRIVATE_KEY, WEBHOOK_SECRET, GHE_HOST, PORT, ...).
 */
import type { V1LimitRangeSpec, V1ResourceQuotaSpec } from "@kubernetes/client-node";
import { z } from "zod";
import { DEFAULT_BUILD_LIMITS, parseContainerLimits, type ContainerLimits } from "./container-limits.js";
import { readGiteaServers, type GiteaServerSettings } from "./gitea-servers.js";
import { DEFAULT_LIMIT_RANGE, DEFAULT_QUOTA, parseLimits, parseQuota } from "./kube-namespace-defaults.js";
import { readNotifyChannels } from "./notify-channels.js";
import type { ChatChannel } from "../notify/channel.js";

const intFromEnv = (fallback: number, min: number, max: number) =>
  z
    .string()
    .optional()
    .transform((v) => (v === undefined || v.trim() === "" ? fallback : Number(v)))
    .pipe(z.number().int().min(min).max(max));

const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === "" ? undefined : v.trim()));

const settingsSchema = z.object({
  BERTH_DATA_DIR: optionalString.transform((v) => v ?? "./data"),
  BERTH_DATABASE_URL: optionalString.pipe(
    z
      .string()
      .regex(/^postgres(ql)?:\/\/\S+$/, "must be a PostgreSQL URL, e.g. postgres://berth:secret@db.example.com:5432/berth")
      .optional(),
  ),
  BERTH_REGISTRY: optionalString.pipe(
    z
      .string()
      .regex(/^[a-z0-9.-]+(:\d+)?(\/[a-z0-9._-]+)*$/, "must look like host[:port][/path], e.g. 127.0.0.1:5000/previews")
      .optional(),
  ),
  BERTH_REGISTRY_USERNAME: optionalString,
  BERTH_REGISTRY_PASSWORD: optionalString,
  BERTH_PUBLIC_URL: optionalString.pipe(z.url().optional()),
  /** Bearer token `/metrics` asks for; unset = open. */
  BERTH_METRICS_TOKEN: optionalString.pipe(z.string().min(16, "must be at least 16 characters").optional()),
  /** Probot's convention: `json` for JSON lines; `pretty` for readable ones (default when stdout is a terminal). */
  LOG_FORMAT: optionalString.pipe(z.enum(["json", "pretty"]).optional()),
  BERTH_PREVIEW_HOST: optionalString.transform((v) => v ?? "127.0.0.1"),
  BERTH_CONCURRENCY: intFromEnv(2, 1, 64),
  /** Least time between two edits of one status comment (ms); the final state is always written. */
  BERTH_COMMENT_INTERVAL_MS: intFromEnv(2000, 0, 600_000),
  DOCKER_HOST: optionalString,
  BERTH_TARGETS: optionalString.pipe(
    z
      .string()
      .regex(/^(docker|kubernetes|swarm)(,(docker|kubernetes|swarm))*$/, "a comma list of docker, kubernetes, swarm")
      .optional(),
  ),
  BERTH_KUBE_CONTEXT: optionalString,
  BERTH_HELM_BIN: optionalString,
  BERTH_PREVIEW_DOMAIN: optionalString.pipe(
    z
      .string()
      .regex(/^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/, "must be a DNS domain, e.g. preview.example.com")
      .optional(),
  ),
  /** Port of berth's preview gateway, or `off` (previews keep the URLs their target publishes). */
  BERTH_GATEWAY_PORT: optionalString.pipe(z.union([z.literal("off"), z.string().regex(/^\d{1,5}$/, "a port number, or off").transform(Number).pipe(z.number().int().min(1).max(65535))]).optional()),
  /** Who may open previews behind the gateway whose berth.yml does not say (`preview.access`). */
  BERTH_PREVIEW_ACCESS: optionalString.pipe(z.enum(["public", "private"]).optional()),
  /** How berth reaches Docker previews: their published port, or their address on the PR's network (no host port; needs the gateway). */
  BERTH_PREVIEW_REACH: optionalString.pipe(z.enum(["publish", "network"]).optional()),
  /** Address the gateway listens on. */
  BERTH_GATEWAY_HOST: optionalString,
  /** How people reach the gateway, when a proxy in front serves it (TLS, port 443): `https://:443`-style `scheme` and `port`. */
  BERTH_GATEWAY_PUBLIC_SCHEME: optionalString.pipe(z.enum(["http", "https"]).optional()),
  BERTH_GATEWAY_PUBLIC_PORT: intFromEnv(0, 0, 65535),
  BERTH_CONTAINER_LIMITS: optionalString,
  BERTH_BUILD_LIMITS: optionalString,
  BERTH_KUBE_DEPLOYER: optionalString.pipe(
    z
      .string()
      .regex(/^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)$/, "a ServiceAccount name (DNS-1123 label), or off")
      .optional(),
  ),
  BERTH_KUBE_DEPLOYER_ROLE: optionalString.pipe(
    z
      .string()
      .regex(/^[a-z0-9]([-a-z0-9.:]{0,251}[a-z0-9])?$/, "a ClusterRole name")
      .optional(),
  ),
  BERTH_KUBE_QUOTA: optionalString,
  BERTH_KUBE_LIMITS: optionalString,
  BERTH_RECONCILE_INTERVAL_MS: intFromEnv(600_000, 0, 86_400_000),
  /** Days finished runs, reports and processed deliveries are kept. */
  BERTH_RETENTION_DAYS: intFromEnv(30, 1, 3650),
  BERTH_HARBOR_URL: optionalString.pipe(z.url().optional()),
  BERTH_HARBOR_USERNAME: optionalString,
  BERTH_HARBOR_PASSWORD: optionalString,
  /** Id of this berth installation: labels and names of everything it creates (several berths, one engine or cluster). */
  BERTH_INSTANCE: optionalString.pipe(
    z
      .string()
      .regex(/^[a-z0-9]([-a-z0-9]{0,18}[a-z0-9])?$/, "1-20 lower-case letters, digits and dashes")
      .optional(),
  ),
  /** Pod Security admission level enforced in preview namespaces. */
  BERTH_KUBE_POD_SECURITY: optionalString.pipe(z.enum(["restricted", "baseline", "privileged"]).optional()),
  /** Labels of the ingress controller's namespace (the only outside namespace allowed to reach previews). */
  BERTH_KUBE_INGRESS_NAMESPACE: optionalString.pipe(
    z
      .string()
      .regex(/^[a-z0-9A-Z._/-]+=[a-z0-9A-Z._-]*(,[a-z0-9A-Z._/-]+=[a-z0-9A-Z._-]*)*$/, "a comma list of label=value, e.g. kubernetes.io/metadata.name=ingress-nginx")
      .optional(),
  ),
  /** NetworkPolicies of preview namespaces: `on` (default-deny plus what a preview needs), `no-internet`, or `off`. */
  BERTH_KUBE_NETWORK_POLICY: optionalString.pipe(z.enum(["on", "no-internet", "off"]).optional()),
  GITEE_TOKEN: optionalString,
  GITEE_WEBHOOK_SECRET: optionalString,
  /** Per repository or organisation Gitee webhook secrets: `owner/repo=secret,owner=secret`. */
  GITEE_WEBHOOK_SECRETS: optionalString,
  GITEE_API_URL: optionalString.pipe(z.url().optional()),
  GITEE_BOT_LOGIN: optionalString,
  PORT: intFromEnv(3000, 1, 65535),
});

/** Validated server settings. */
export interface Settings {
  dataDir: string;
  /** PostgreSQL for several replicas (`postgres://…`); undefined = SQLite under `dataDir`. */
  databaseUrl?: string;
  /** Registry prefix images are pushed under; undefined = keep images on the local engine only. */
  registry?: string;
  registryUsername?: string;
  registryPassword?: string;
  publicUrl: string;
  /** BERTH_METRICS_TOKEN; undefined = `/metrics` is open. */
  metricsToken?: string;
  /** LOG_FORMAT; undefined = readable lines on a terminal, JSON otherwise. */
  logFormat?: "json" | "pretty";
  previewHost: string;
  concurrency: number;
  commentIntervalMs: number;
  dockerHost?: string;
  /** Preview targets to enable (BERTH_TARGETS, default docker). */
  targets: Array<"docker" | "kubernetes" | "swarm">;
  kubeContext?: string;
  helmBin: string;
  previewDomain?: string;
  /** How Docker previews are reached (`network` only with the gateway). */
  previewReach: "publish" | "network";
  /** berth's preview gateway (Docker and Swarm previews under stable host names); undefined = off. */
  gateway?: { port: number; host: string; domain: string; publicScheme: "http" | "https"; publicPort: number; defaultAccess: "public" | "private" };
  /** Limits of preview and test containers on Docker and Swarm; undefined = none. */
  containerLimits: ContainerLimits | undefined;
  /** Memory and CPU limits of image build steps; undefined = none. */
  buildLimits: ContainerLimits | undefined;
  /** Who helm deploys as in each namespace (a ServiceAccount bound to a ClusterRole there); undefined = berth itself. */
  kubeDeployer: { serviceAccount: string; clusterRole: string } | undefined;
  /** ResourceQuota of every preview namespace; null = none. */
  kubeQuota: V1ResourceQuotaSpec | null;
  /** LimitRange of every preview namespace; null = none. */
  kubeLimits: V1LimitRangeSpec | null;
  /** How often previews are reconciled with open PRs and expiry (0 = only at start). */
  reconcileIntervalMs: number;
  /** How long finished runs, reports and processed deliveries are kept (ms). */
  retentionMs: number;
  /** Harbor's API, when BERTH_HARBOR_URL is set. */
  harbor?: { url: string; username: string; password: string };
  /** Id of this installation (BERTH_INSTANCE, default `default`): part of every derived name and label. */
  instance: string;
  /** Pod Security admission level enforced in preview namespaces (default restricted). */
  kubePodSecurity: "restricted" | "baseline" | "privileged";
  /** NetworkPolicies of preview namespaces; false = none (the operator's own). */
  kubeNetwork: { ingressControllerNamespace?: Record<string, string>; internetEgress: boolean } | false;
  /** Chat channels (BERTH_NOTIFY_<NAME>, _URL, _SECRET) repositories may name in `notify`; URLs and secrets are secrets. */
  notifyChannels: ChatChannel[];
  /** Gitee is served when a token is set. */
  gitee?: {
    token: string;
    /** Secret for repositories without one of their own; undefined when every repository has its own. */
    webhookSecret?: string;
    /** Secrets by `owner/repo` or `owner` (lower-cased); the most specific wins. */
    webhookSecrets: Record<string, string>;
    apiUrl: string;
    botLogin?: string;
  };
  /** Gitea, Forgejo and Gogs servers (`BERTH_GITEA_<NAME>_*`), each a code host `gitea-<name>`. */
  giteaServers: GiteaServerSettings[];
}

/** `owner/repo=secret,owner=secret` → a map keyed by the lower-cased scope. */
function parseScopedSecrets(text: string | undefined): { ok: true; value: Record<string, string> } | { ok: false; error: string } {
  const value: Record<string, string> = {};
  if (!text) return { ok: true, value };
  for (const item of text.split(",")) {
    const eq = item.indexOf("=");
    const scope = item.slice(0, eq).trim().toLowerCase();
    const secret = item.slice(eq + 1).trim();
    if (eq <= 0 || !/^[a-z0-9._-]+(\/[a-z0-9._-]+)?$/.test(scope) || secret === "") {
      return { ok: false, error: "a comma list of owner/repo=secret or owner=secret" };
    }
    value[scope] = secret;
  }
  return { ok: true, value };
}

export type SettingsResult = { ok: true; settings: Settings } | { ok: false; error: string };

/** Read settings from an environment; never throws. */
export function readSettings(env: NodeJS.ProcessEnv): SettingsResult {
  const parsed = settingsSchema.safeParse(env);
  if (!parsed.success) {
    return {
      ok: false,
      error: parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; "),
    };
  }
  const e = parsed.data;
  if (e.BERTH_HARBOR_URL) {
    if (!e.BERTH_HARBOR_USERNAME || !e.BERTH_HARBOR_PASSWORD) {
      return { ok: false, error: "BERTH_HARBOR_USERNAME and BERTH_HARBOR_PASSWORD: required when BERTH_HARBOR_URL is set" };
    }
    if (!e.BERTH_REGISTRY || !e.BERTH_REGISTRY.includes("/")) {
      return { ok: false, error: "BERTH_REGISTRY: must be <harbor-host>/<project> when BERTH_HARBOR_URL is set" };
    }
  }
  const containerLimits = parseContainerLimits(e.BERTH_CONTAINER_LIMITS);
  if (!containerLimits.ok) return { ok: false, error: `BERTH_CONTAINER_LIMITS: ${containerLimits.error}` };
  const buildLimits = parseContainerLimits(e.BERTH_BUILD_LIMITS, DEFAULT_BUILD_LIMITS);
  if (!buildLimits.ok) return { ok: false, error: `BERTH_BUILD_LIMITS: ${buildLimits.error}` };
  if (buildLimits.value?.pids !== undefined) return { ok: false, error: "BERTH_BUILD_LIMITS: pids cannot be limited for image builds (memory and cpus can)" };
  const quota = parseQuota(e.BERTH_KUBE_QUOTA, DEFAULT_QUOTA);
  if (!quota.ok) return { ok: false, error: `BERTH_KUBE_QUOTA: ${quota.error}` };
  const limits = parseLimits(e.BERTH_KUBE_LIMITS, DEFAULT_LIMIT_RANGE);
  if (!limits.ok) return { ok: false, error: `BERTH_KUBE_LIMITS: ${limits.error}` };
  if (e.BERTH_PREVIEW_REACH === "network" && e.BERTH_GATEWAY_PORT === "off") {
    return { ok: false, error: "BERTH_PREVIEW_REACH=network: needs the preview gateway (BERTH_GATEWAY_PORT is off), previews would have no way in" };
  }
  const giteeSecrets = parseScopedSecrets(e.GITEE_WEBHOOK_SECRETS);
  if (!giteeSecrets.ok) return { ok: false, error: `GITEE_WEBHOOK_SECRETS: ${giteeSecrets.error}` };
  const notify = readNotifyChannels(env);
  if (!notify.ok) return { ok: false, error: notify.error };
  if (e.GITEE_TOKEN && !e.GITEE_WEBHOOK_SECRET && Object.keys(giteeSecrets.value).length === 0) {
    return { ok: false, error: "GITEE_WEBHOOK_SECRET or GITEE_WEBHOOK_SECRETS: required when GITEE_TOKEN is set (unsigned Gitee webhooks are refused)" };
  }
  const giteaServers = readGiteaServers(env);
  if (!giteaServers.ok) return { ok: false, error: giteaServers.error };
  return {
    ok: true,
    settings: {
      giteaServers: giteaServers.value,
      dataDir: e.BERTH_DATA_DIR,
      databaseUrl: e.BERTH_DATABASE_URL,
      registry: e.BERTH_REGISTRY,
      // Harbor's account pushes too unless the registry has its own.
      registryUsername: e.BERTH_REGISTRY_USERNAME ?? (e.BERTH_HARBOR_URL ? e.BERTH_HARBOR_USERNAME : undefined),
      registryPassword: e.BERTH_REGISTRY_PASSWORD ?? (e.BERTH_HARBOR_URL ? e.BERTH_HARBOR_PASSWORD : undefined),
      harbor:
        e.BERTH_HARBOR_URL && e.BERTH_HARBOR_USERNAME && e.BERTH_HARBOR_PASSWORD
          ? { url: e.BERTH_HARBOR_URL, username: e.BERTH_HARBOR_USERNAME, password: e.BERTH_HARBOR_PASSWORD }
          : undefined,
      publicUrl: (e.BERTH_PUBLIC_URL ?? `http://localhost:${e.PORT}`).replace(/\/+$/, ""),
      metricsToken: e.BERTH_METRICS_TOKEN,
      logFormat: e.LOG_FORMAT,
      previewHost: e.BERTH_PREVIEW_HOST,
      concurrency: e.BERTH_CONCURRENCY,
      commentIntervalMs: e.BERTH_COMMENT_INTERVAL_MS,
      dockerHost: e.DOCKER_HOST,
      targets: [...new Set((e.BERTH_TARGETS ?? "docker").split(","))] as Settings["targets"],
      kubeContext: e.BERTH_KUBE_CONTEXT,
      helmBin: e.BERTH_HELM_BIN ?? "helm",
      previewDomain: e.BERTH_PREVIEW_DOMAIN,
      previewReach: e.BERTH_PREVIEW_REACH ?? "publish",
      gateway:
        e.BERTH_GATEWAY_PORT === "off"
          ? undefined
          : {
              port: e.BERTH_GATEWAY_PORT ?? 3001,
              host: e.BERTH_GATEWAY_HOST ?? "0.0.0.0",
              // Browsers resolve every *.localhost name to the loopback: previews work with no DNS at all.
              domain: e.BERTH_PREVIEW_DOMAIN ?? "localhost",
              publicScheme: e.BERTH_GATEWAY_PUBLIC_SCHEME ?? "http",
              publicPort: e.BERTH_GATEWAY_PUBLIC_PORT || (e.BERTH_GATEWAY_PUBLIC_SCHEME === "https" ? 443 : (e.BERTH_GATEWAY_PORT ?? 3001)),
              // On a real domain previews are private unless said otherwise; on localhost only this machine reaches them.
              defaultAccess: e.BERTH_PREVIEW_ACCESS ?? ((e.BERTH_PREVIEW_DOMAIN ?? "localhost") === "localhost" ? "public" : "private"),
            },
      containerLimits: containerLimits.value ?? undefined,
      buildLimits: buildLimits.value ?? undefined,
      kubeDeployer:
        e.BERTH_KUBE_DEPLOYER === "off" ? undefined : { serviceAccount: e.BERTH_KUBE_DEPLOYER ?? "berth-deployer", clusterRole: e.BERTH_KUBE_DEPLOYER_ROLE ?? "admin" },
      kubeQuota: quota.value,
      kubeLimits: limits.value,
      reconcileIntervalMs: e.BERTH_RECONCILE_INTERVAL_MS,
      retentionMs: e.BERTH_RETENTION_DAYS * 86_400_000,
      instance: e.BERTH_INSTANCE ?? "default",
      kubePodSecurity: e.BERTH_KUBE_POD_SECURITY ?? "restricted",
      kubeNetwork:
        e.BERTH_KUBE_NETWORK_POLICY === "off"
          ? false
          : {
              internetEgress: e.BERTH_KUBE_NETWORK_POLICY !== "no-internet",
              ...(e.BERTH_KUBE_INGRESS_NAMESPACE
                ? { ingressControllerNamespace: Object.fromEntries(e.BERTH_KUBE_INGRESS_NAMESPACE.split(",").map((pair) => pair.split("=", 2) as [string, string])) }
                : {}),
            },
      notifyChannels: notify.channels,
      gitee: e.GITEE_TOKEN
        ? {
            token: e.GITEE_TOKEN,
            webhookSecret: e.GITEE_WEBHOOK_SECRET,
            webhookSecrets: giteeSecrets.value,
            apiUrl: e.GITEE_API_URL ?? "https://gitee.com/api/v5",
            botLogin: e.GITEE_BOT_LOGIN,
          }
        : undefined,
    },
  };
}
