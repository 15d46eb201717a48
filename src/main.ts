/**
 * Process entry: read settings, build the adapters, run the Probot server. No logic here.
 * Without APP_ID, Probot starts its GitHub App setup flow (manifest from app.yml).
 */
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { ProbotOctokit, run } from "probot";
import { readSettings } from "./config/settings.js";
import { createDockerClient } from "./adapters/docker/docker-client.js";
import { DockerImageBuilder } from "./adapters/docker/image-builder.js";
import { registryOfReference } from "./adapters/docker/registry-credentials.js";
import { DistributionClient } from "./adapters/registry/distribution-client.js";
import { DistributionCleaner } from "./adapters/registry/distribution-cleaner.js";
import { HarborClient } from "./adapters/harbor/harbor-client.js";
import { HarborRegistry } from "./adapters/harbor/harbor-registry.js";
import { createRedactor } from "./domain/redact.js";
import type { BotEvent } from "./domain/types.js";
import { createTimeoutFetch } from "./hosts/github/timeout-fetch.js";
import { GiteeClient } from "./hosts/gitee/gitee-client.js";
import { GiteeHost } from "./hosts/gitee/gitee-host.js";
import { createBerth, type BerthOptions } from "./index.js";
import { parseDashboardSettings } from "./config/dashboard-settings.js";
import { createDashboardAuth } from "./web/dashboard/dashboard-auth.js";
import { HelmCli } from "./adapters/kubernetes/helm.js";
import { KubeClient } from "./adapters/kubernetes/kube-client.js";
import { KubernetesTarget } from "./targets/kubernetes-target.js";
import { SwarmTarget } from "./targets/swarm-target.js";
import { createGiteeWebhookHandler } from "./ingress/gitee-webhook.js";
import { createGiteaWebhookHandler } from "./ingress/gitea-webhook.js";
import { GiteaClient } from "./hosts/gitea/gitea-client.js";
import { GiteaHost } from "./hosts/gitea/gitea-host.js";
import { BodyGate } from "./web/bounded-body.js";
import { openStore, redactDatabaseUrl } from "./pipeline/open-store.js";
import type { Store } from "./pipeline/store.js";
import { DockerTarget } from "./targets/docker-target.js";
import { PreviewGateway } from "./gateway/preview-gateway.js";
import { StoreRouteTable } from "./gateway/route-table.js";
import { GatewayTraffic } from "./gateway/gateway-traffic.js";
import { PreviewAccess } from "./gateway/preview-access.js";
import { gatewayLabelOf } from "./gateway/preview-host-names.js";
import { previewKeyOf } from "./domain/preview-key.js";
import { createPreviewSignIn } from "./web/preview-sign-in.js";
import { channelSecrets, WebhookChatSender } from "./notify/webhook-sender.js";
import { createBerthLogger } from "./logging/berth-logger.js";
import { BerthMetrics } from "./metrics/berth-metrics.js";
import { octokitMetrics } from "./hosts/github/octokit-metrics.js";
import type { ReadinessCheck } from "./web/readiness.js";

// Probot reads .env only inside run(); berth's own settings are needed before that.
if (existsSync(".env")) process.loadEnvFile(".env");
/** Stop at start with one clear line: a misconfigured berth must not run half-working. */
function fail(message: string): never {
  console.error(`berth: ${message}`);
  process.exit(1);
}

const parsed = readSettings(process.env);
if (!parsed.ok) fail(`invalid settings: ${parsed.error}`);
const settings = parsed.settings;
const dashboardParsed = parseDashboardSettings(process.env);
if (!dashboardParsed.ok) fail(`invalid dashboard settings: ${dashboardParsed.error}`);
const dashboardSettings = dashboardParsed.settings;
const redact = createRedactor([
  dashboardSettings.github?.clientSecret,
  dashboardSettings.gitee?.clientSecret,
  dashboardSettings.adminToken,
  process.env.BERTH_DASHBOARD_SECRET,
  settings.registryPassword,
  settings.harbor?.password,
  // user:password pairs, as Basic auth headers and Docker `auth` fields carry them (base64).
  ...(settings.registryUsername && settings.registryPassword ? [{ username: settings.registryUsername, password: settings.registryPassword }] : []),
  ...(settings.harbor ? [{ username: settings.harbor.username, password: settings.harbor.password }] : []),
  process.env.WEBHOOK_SECRET,
  process.env.PRIVATE_KEY,
  settings.databaseUrl ? decodeURIComponent(new URL(settings.databaseUrl).password) || undefined : undefined,
  process.env.GITEE_TOKEN,
  process.env.GITEE_WEBHOOK_SECRET,
  ...Object.values(settings.gitee?.webhookSecrets ?? {}),
  // Chat webhooks: the URL, the key or token in it, the signing secret.
  ...settings.notifyChannels.flatMap(channelSecrets),
  settings.metricsToken,
  ...settings.giteaServers.flatMap((server) => [server.token, server.secret]),
]);
const log = createBerthLogger({ level: process.env.LOG_LEVEL ?? "info", ...(settings.logFormat ? { format: settings.logFormat } : {}) });

const docker = createDockerClient(settings.dockerHost);
// The engine may come up after berth: say so once, clearly, instead of failing every run silently.
await Promise.race([docker.ping(), new Promise((_, reject) => setTimeout(() => reject(new Error("no answer within 5 s")), 5000).unref())]).then(
  () => log.info({ dockerHost: settings.dockerHost ?? "/var/run/docker.sock" }, "Docker engine reachable"),
  (err: unknown) =>
    log.warn(
      { dockerHost: settings.dockerHost ?? "/var/run/docker.sock", err: redact(err instanceof Error ? err.message : String(err)) },
      "Docker engine not reachable: builds and previews fail until it is (DOCKER_HOST)",
    ),
);
// Credentials belong to BERTH_REGISTRY's host and go nowhere else (not to hosts a repository names).
const registryAuth =
  settings.registry && settings.registryUsername && settings.registryPassword
    ? { username: settings.registryUsername, password: settings.registryPassword, registry: registryOfReference(`${settings.registry}/berth`) }
    : undefined;
let store: Store;
try {
  store = await openStore(settings, log.child({ name: "store" }));
} catch (err) {
  // Another berth holds the data directory, or the database cannot be reached: one clear line, no stack.
  const message = redact(err instanceof Error ? err.message : String(err));
  fail(settings.databaseUrl ? `PostgreSQL at ${redactDatabaseUrl(settings.databaseUrl)}: ${message}` : message);
}
const metrics = new BerthMetrics({ store, log: log.child({ name: "metrics" }) });
// /readyz checks the store (always) and what the enabled targets need.
const readiness: ReadinessCheck[] = settings.targets.some((kind) => kind === "docker" || kind === "swarm") ? [{ name: "docker", check: () => docker.ping() }] : [];

const gitee = settings.gitee;
const giteeLog = log.child({ name: "gitee" });
// Bounds how many webhook bodies are read at once, across the routes that share it.
const bodyGate = new BodyGate(16);
const extraHosts: NonNullable<BerthOptions["extraHosts"]> = gitee
  ? [
      {
        host: new GiteeHost({ client: new GiteeClient({ token: gitee.token, baseUrl: gitee.apiUrl, log: giteeLog, observe: metrics.apiCall }), log: giteeLog, botLogin: gitee.botLogin }),
        route: (engine: { accept: (event: BotEvent) => Promise<boolean> }) =>
          createGiteeWebhookHandler({
            secrets: { fallback: gitee.webhookSecret, byScope: gitee.webhookSecrets },
            gate: bodyGate,
            log: giteeLog,
            botLogin: gitee.botLogin,
            onEvent: (event) => engine.accept(event),
            onResult: (event, result) => metrics.webhookDelivery("gitee", event, result),
          }),
      },
    ]
  : [];

// Every Gitea, Forgejo or Gogs server is a host of its own; one route receives all their webhooks.
const giteaLog = log.child({ name: "gitea" });
const giteaHosts = settings.giteaServers.map(
  (server) =>
    new GiteaHost({
      kind: server.host,
      flavor: server.flavor,
      client: new GiteaClient({ token: server.token, apiUrl: server.apiUrl, name: server.name, log: giteaLog.child({ server: server.host }), observe: metrics.apiCall }),
      log: giteaLog.child({ server: server.host }),
      botLogin: server.botLogin,
    }),
);
extraHosts.push(
  ...giteaHosts.map((host, index) => ({
    host,
    route:
      index === 0
        ? (engine: { accept: (event: BotEvent) => Promise<boolean> }) =>
            createGiteaWebhookHandler({
              servers: settings.giteaServers,
              gate: bodyGate,
              log: giteaLog,
              onEvent: (event) => engine.accept(event),
              onResult: (event, result) => metrics.webhookDelivery("gitea", event, result),
            })
        : undefined,
  })),
);

const harborLog = log.child({ name: "harbor" });
const artifacts = settings.harbor
  ? new HarborRegistry({ client: new HarborClient({ ...settings.harbor, log: harborLog }), log: harborLog })
  : undefined;

/** Plain registries are cleaned through the OCI API (Docker Hub does not allow it). */
function plainRegistryCleaner(): DistributionCleaner | undefined {
  if (!settings.registry || artifacts) return undefined;
  const host = registryOfReference(`${settings.registry}/berth`);
  const registryLog = log.child({ name: "registry" });
  if (host === "docker.io") {
    registryLog.warn("BERTH_REGISTRY is on Docker Hub: closed PRs' image tags are not removed from it");
    return undefined;
  }
  const client = new DistributionClient({ host, username: settings.registryUsername, password: settings.registryPassword, log: registryLog });
  return new DistributionCleaner({ client, log: registryLog });
}

const targets: BerthOptions["targets"] = {};
for (const kind of settings.targets) {
  const targetLog = log.child({ name: `${kind}-target` });
  const limits = settings.containerLimits;
  const instance = settings.instance;
  if (kind === "docker") targets.docker = new DockerTarget({ docker, previewHost: settings.previewHost, reach: settings.previewReach, log: targetLog, redact, registryAuth, limits, instance });
  if (kind === "swarm") targets.swarm = new SwarmTarget({ docker, previewHost: settings.previewHost, log: targetLog, redact, registryAuth, limits, instance });
  if (kind === "kubernetes") {
    const helm = new HelmCli({ bin: settings.helmBin, kubeContext: settings.kubeContext, redact, log: targetLog, serviceAccount: settings.kubeDeployer?.serviceAccount });
    let kube: KubeClient;
    try {
      kube = new KubeClient({ context: settings.kubeContext, log: targetLog });
      const { version } = await helm.version();
      targetLog.info({ helm: version, context: kube.config.getCurrentContext() }, "kubernetes target ready");
    } catch (err) {
      fail(`BERTH_TARGETS includes kubernetes, but ${redact(err instanceof Error ? err.message : String(err))} (KUBECONFIG, BERTH_KUBE_CONTEXT, BERTH_HELM_BIN=${settings.helmBin})`);
    }
    readiness.push({ name: "kubernetes", check: () => kube.serverVersion() });
    targets.kubernetes = new KubernetesTarget({
      helm,
      kube,
      domain: settings.previewDomain,
      quota: settings.kubeQuota,
      deployerRole: settings.kubeDeployer?.clusterRole,
      limitRange: settings.kubeLimits,
      instance: settings.instance,
      podSecurity: settings.kubePodSecurity,
      network: settings.kubeNetwork,
      redact,
      log: targetLog,
    });
  }
}

// Where the gateway routes each host name; a deploy, removal, sleep or wake here is routed at once (other replicas' within a second).
const gatewayRoutes = new StoreRouteTable(store, settings.instance);
const dashboardAuth = createDashboardAuth(dashboardSettings, settings.publicUrl, log.child({ name: "dashboard-auth" }));
// Private previews: signed links and sign-in grants, keyed like the dashboard's sessions (the same on every replica).
const previewAccess = new PreviewAccess({
  secret: dashboardSettings.secret ?? randomBytes(32),
  scheme: settings.gateway?.publicScheme ?? "http",
  ...(dashboardAuth.enabled ? { signInBaseUrl: settings.publicUrl } : {}),
});
/** Signed links stay valid this long after a deploy (the status comment shows them). */
const SIGNED_LINK_MS = 7 * 86_400_000;
const { app, engine } = createBerth({
  onPreviewChange: () => gatewayRoutes.invalidate(),
  dashboard: { auth: dashboardAuth },
  previewLink: (pull) => {
    if (!pull.preview || pull.preview.access !== "private") return undefined;
    const expiresAt = pull.preview.deployedAt + SIGNED_LINK_MS;
    return { url: previewAccess.signedLink(pull.preview.url, gatewayLabelOf(previewKeyOf(pull.repo, pull.prNumber), settings.instance), expiresAt), expiresAt };
  },
  ...(settings.gateway
    ? {
        previewSignIn: createPreviewSignIn({ auth: dashboardAuth, access: previewAccess, routes: gatewayRoutes, domain: settings.gateway.domain, scheme: settings.gateway.publicScheme, log: log.child({ name: "preview-sign-in" }) }),
      }
    : {}),
  extraHosts,
  bodyGate,
  webhookSecret: process.env.WEBHOOK_SECRET,
  metrics,
  metricsToken: settings.metricsToken,
  readiness,
  artifacts,
  registryCleaner: plainRegistryCleaner(),
  store,
  builder: new DockerImageBuilder({ docker, log: log.child({ name: "builder" }), redact, registryAuth, limits: settings.buildLimits }),
  targets,
  reconcileIntervalMs: settings.reconcileIntervalMs,
  retentionMs: settings.retentionMs,
  registry: settings.registry,
  instance: settings.instance,
  ...(settings.gateway
    ? { gateway: { domain: settings.gateway.domain, scheme: settings.gateway.publicScheme, port: settings.gateway.publicPort, instance: settings.instance, defaultAccess: settings.gateway.defaultAccess } }
    : {}),
  publicUrl: settings.publicUrl,
  concurrency: settings.concurrency,
  commentIntervalMs: settings.commentIntervalMs,
  ...(settings.notifyChannels.length ? { notify: { channels: settings.notifyChannels, sender: new WebhookChatSender({ log: log.child({ name: "notify" }) }), onDelivery: (channel, vendor, outcome) => metrics.chatDelivery(channel, vendor, outcome) } } : {}),
  redact,
  log: log.child({ name: "berth" }),
});

/** Deadline of one GitHub API request (tarballs of big repositories included). */
const GITHUB_REQUEST_TIMEOUT_MS = 120_000;
const Octokit = ProbotOctokit.plugin(octokitMetrics(metrics.apiCall)).defaults({ request: { fetch: createTimeoutFetch(GITHUB_REQUEST_TIMEOUT_MS) } });
// berth serves /api/github/webhooks itself with bounded bodies (ingress/github-webhook.ts). Probot's
// own middleware, which buffers any body before checking it, moves to a path nobody can guess; only
// Probot's development proxy (WEBHOOK_PROXY_URL) still posts there.
const server = await run(app, { log, Octokit, env: { ...process.env, WEBHOOK_PATH: `/api/github/probot-webhooks-${randomBytes(16).toString("hex")}` } });

// The preview gateway: Docker and Swarm previews under `<repo-slug>-pr-<n>.<domain>` on a port of their own.
let gateway: PreviewGateway | undefined;
let traffic: GatewayTraffic | undefined;
if (settings.gateway) {
  const gatewayLog = log.child({ name: "gateway" });
  const routes = gatewayRoutes;
  const seen = new GatewayTraffic(store, gatewayLog);
  traffic = seen;
  gateway = new PreviewGateway({
    routes,
    domain: settings.gateway.domain,
    log: gatewayLog,
    onRequest: (outcome) => {
      metrics.gatewayRequest(outcome);
      if (outcome.route) seen.seen(outcome.route, Date.now());
    },
    wake: (route) => engine.wakePreview(route.prKey, "a request through the gateway"),
    access: previewAccess,
  });
  try {
    const port = await gateway.listen(settings.gateway.port, settings.gateway.host);
    seen.start();
    gatewayLog.info({ port, example: `${settings.gateway.publicScheme}://<repo-slug>-pr-<n>.${settings.gateway.domain}:${settings.gateway.publicPort}/` }, "preview gateway listening");
  } catch (err) {
    fail(`the preview gateway cannot listen on ${settings.gateway.host}:${settings.gateway.port}: ${err instanceof Error ? err.message : String(err)} (BERTH_GATEWAY_PORT, or off)`);
  }
}

async function shutdown(signal: string): Promise<void> {
  log.info({ signal }, "shutting down: running runs go back to the queue");
  await server.stop().catch(() => undefined);
  await gateway?.close().catch(() => undefined);
  await traffic?.stop().catch(() => undefined);
  await engine.stop();
  await store.close();
  process.exit(0);
}
process.once("SIGTERM", () => void shutdown("SIGTERM"));
process.once("SIGINT", () => void shutdown("SIGINT"));
