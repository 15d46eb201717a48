/**
 * The dashboard's sign-in built from its settings: the OAuth providers that are configured, the
 * admin token, and the site's layout around the sign-in page.
 */
import { randomBytes } from "node:crypto";
import type { Logger } from "pino";
import type { DashboardSettings } from "../../config/dashboard-settings.js";
import type { HostKind } from "../../domain/types.js";
import { createAuth, type Auth } from "../auth/auth.js";
import { GiteeOAuth, GitHubOAuth, type OAuthProvider } from "../auth/oauth-providers.js";
import { layout } from "./pages.js";

export function createDashboardAuth(settings: DashboardSettings, publicUrl: string, log: Logger, now?: () => number): Auth {
  const providers: Partial<Record<HostKind, OAuthProvider>> = {};
  if (settings.github) providers.github = new GitHubOAuth({ ...settings.github, log });
  if (settings.gitee) providers.gitee = new GiteeOAuth({ ...settings.gitee, log });
  let secret: string | Buffer | undefined = settings.secret;
  if (!secret) {
    // Nothing to sign in with is configured either: sessions of this process only.
    secret = randomBytes(32);
  } else if (!settings.secretSet) {
    log.info({}, "dashboard: session key derived from the OAuth and webhook secrets (set BERTH_DASHBOARD_SECRET to choose one)");
  }
  return createAuth({
    publicUrl,
    secret,
    providers,
    ...(settings.adminToken ? { adminToken: settings.adminToken } : {}),
    sessionTtlMs: settings.sessionTtlMs,
    page: (title, body, session) => layout({ title, body, ...(session ? { session } : {}) }),
    log,
    ...(now ? { now } : {}),
  });
}
