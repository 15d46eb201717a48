/**
 * The Probot app: wires adapters into the engine and subscribes webhook handlers. No logic here.
 */
import type { ApplicationFunction, Probot } from "probot";
import type { Logger } from "pino";
import type { RepoConfig } from "./config/repo-config.js";
import type { CodeHost, ImageBuilder, PreviewTarget } from "./domain/ports.js";
import type { Redactor } from "./domain/redact.js";
import { GitHubHost } from "./hosts/github/github-host.js";
import { fromIssueCommentEvent, fromPullRequestEvent } from "./ingress/github-event.js";
import { Engine } from "./pipeline/engine.js";
import type { Store } from "./pipeline/store.js";
import { createWebRoutes, type RouteHandler } from "./web/routes.js";

export interface BerthOptions {
  store: Store;
  builder: ImageBuilder;
  targets: Partial<Record<RepoConfig["preview"]["target"], PreviewTarget>>;
  registry?: string;
  publicUrl: string;
  concurrency: number;
  commentIntervalMs: number;
  redact: Redactor;
  log: Logger;
  /** Hosts besides GitHub (Gitee), with the route that receives their webhooks. */
  extraHosts?: Array<{ host: CodeHost; route: (engine: Engine) => RouteHandler }>;
  now?: () => number;
  newId?: () => string;
}

/** Build the engine and the Probot app function that feeds it. */
export function createBerth(options: BerthOptions): { app: ApplicationFunction; engine: Engine } {
  let probot: Probot | undefined;
  const github = new GitHubHost(async (installationId) => {
    if (!probot) throw new Error("the GitHub App is not loaded yet");
    return probot.auth(installationId);
  });
  const hosts: Partial<Record<CodeHost["kind"], CodeHost>> = { github };
  for (const extra of options.extraHosts ?? []) hosts[extra.host.kind] = extra.host;

  const engine = new Engine({ ...options, hosts });

  const app: ApplicationFunction = async (app, { addHandler }) => {
    probot = app;
    app.on("pull_request", async (context) => {
      const event = fromPullRequestEvent(context.id, context.payload);
      if (event) engine.accept(event);
    });
    app.on("issue_comment.created", async (context) => {
      const event = fromIssueCommentEvent(context.id, context.payload);
      if (event) engine.accept(event);
    });
    addHandler(createWebRoutes(options.store));
    for (const extra of options.extraHosts ?? []) addHandler(extra.route(engine));
    await engine.start();
  };
  return { app, engine };
}
