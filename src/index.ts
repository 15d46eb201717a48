/**
 * The Probot app: wires adapters into the engine and subscribes webhook handlers. No logic here.
 */
import type { ApplicationFunction, Probot } from "probot";
import type { CodeHost } from "./domain/ports.js";
import { GitHubHost } from "./hosts/github/github-host.js";
import { fromIssueCommentEvent, fromPullRequestEvent, fromPushEvent } from "./ingress/github-event.js";
import { Engine, type EngineOptions } from "./pipeline/engine.js";
import { createWebRoutes, type RouteHandler } from "./web/routes.js";
import { createGitHubWebhookRoute } from "./ingress/github-webhook.js";
import { BodyGate } from "./web/bounded-body.js";
import { DeliveryVerdicts } from "./ingress/delivery-verdicts.js";
import type { BerthMetrics } from "./metrics/berth-metrics.js";
import { createOpsRoutes } from "./web/ops-routes.js";
import type { ReadinessCheck } from "./web/readiness.js";
import type { Auth } from "./web/auth/auth.js";
import { createDashboardRoutes } from "./web/dashboard/dashboard-routes.js";

/** Everything the engine takes except the hosts, which are built here (GitHub) or passed in. */
export interface BerthOptions extends Omit<EngineOptions, "hosts"> {
  /** Hosts besides GitHub (Gitee, Gitea servers), with the route that receives their webhooks (one route may serve several hosts). */
  extraHosts?: Array<{ host: CodeHost; route?: (engine: Engine) => RouteHandler }>;
  /** Bounds the webhook bodies read at once across routes (default: 16 for the GitHub route alone). */
  bodyGate?: BodyGate;
  /** The GitHub App's webhook secret: forged bodies are refused before Probot logs them. */
  webhookSecret?: string;
  /** Served at `/metrics`, moved by the webhook routes and the run events. */
  metrics?: BerthMetrics;
  /** `BERTH_METRICS_TOKEN`: `/metrics` then answers only this Bearer token. */
  metricsToken?: string;
  /** What `/readyz` checks besides the store (the Docker engine, the Kubernetes API). */
  readiness?: ReadinessCheck[];
  /** Serve the dashboard at `/` behind this sign-in (see `web/dashboard/dashboard-auth.ts`). */
  dashboard?: { auth: Auth };
  /** `/auth/preview`: signs visitors of private previews in (see `web/preview-sign-in.ts`). */
  previewSignIn?: RouteHandler;
}

/** Build the engine and the Probot app function that feeds it. */
export function createBerth(options: BerthOptions): { app: ApplicationFunction; engine: Engine } {
  let probot: Probot | undefined;
  const github = new GitHubHost(
    async (installationId) => {
      if (!probot) throw new Error("the GitHub App is not loaded yet");
      return probot.auth(installationId);
    },
    async (owner, repo) => {
      if (!probot) throw new Error("the GitHub App is not loaded yet");
      const app = await probot.auth();
      return (await app.rest.apps.getRepoInstallation({ owner, repo })).data.id;
    },
    {
      log: options.log,
      identity: {
        // The App JWT carries the App id: no request needed.
        appId: async () => {
          if (!probot) throw new Error("the GitHub App is not loaded yet");
          const auth = (await (await probot.auth()).auth({ type: "app" })) as { appId: number | string };
          return Number(auth.appId);
        },
        botLogin: async () => {
          if (!probot) throw new Error("the GitHub App is not loaded yet");
          const { data } = await (await probot.auth()).rest.apps.getAuthenticated();
          if (!data?.slug) throw new Error("GitHub did not say the App's slug");
          return `${data.slug}[bot]`;
        },
      },
    },
  );
  const hosts: Partial<Record<CodeHost["kind"], CodeHost>> = { github };
  for (const extra of options.extraHosts ?? []) hosts[extra.host.kind] = extra.host;

  const engine = new Engine({ ...options, hosts });
  options.metrics?.listen(engine.events);
  const verdicts = new DeliveryVerdicts();

  const app: ApplicationFunction = async (app, { addHandler }) => {
    probot = app;
    app.on("pull_request", async (context) => {
      const event = fromPullRequestEvent(context.id, context.payload);
      if (event) verdicts.record(context.id, await engine.accept(event));
    });
    app.on("push", async (context) => {
      const event = fromPushEvent(context.id, context.payload);
      if (event) verdicts.record(context.id, await engine.accept(event));
    });
    app.on("issue_comment.created", async (context) => {
      const event = fromIssueCommentEvent(context.id, context.payload);
      if (event) verdicts.record(context.id, await engine.accept(event));
    });
    addHandler(
      createGitHubWebhookRoute({
        webhooks: verdicts.receiver(app.webhooks),
        gate: options.bodyGate ?? new BodyGate(16),
        log: options.log,
        ...(options.webhookSecret !== undefined ? { secret: options.webhookSecret } : {}),
        ...(options.metrics ? { onResult: options.metrics.webhookDelivery.bind(options.metrics, "github") } : {}),
      }),
    );
    addHandler(
      createOpsRoutes({
        ...(options.metrics ? { metrics: options.metrics } : {}),
        ...(options.metricsToken ? { metricsToken: options.metricsToken } : {}),
        readiness: [{ name: "store", check: () => options.store.ping() }, ...(options.readiness ?? [])],
        redact: options.redact,
        log: options.log,
      }),
    );
    addHandler(createWebRoutes(options.store, engine.reportBaseUrl));
    // `/` is free: Probot's default app (which redirects `/` to `/probot`) is not loaded by `run(app)`.
    if (options.previewSignIn) addHandler(options.previewSignIn);
    if (options.dashboard) addHandler(createDashboardRoutes({ backend: engine, auth: options.dashboard.auth, log: options.log.child({ name: "dashboard" }) }));
    for (const extra of options.extraHosts ?? []) if (extra.route) addHandler(extra.route(engine));
    // Returns once webhooks can be accepted; reconciling previews with the hosts runs in the background.
    await engine.start();
  };
  return { app, engine };
}
