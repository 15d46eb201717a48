/**
 * Settings of the dashboard's sign-in, from the environment:
 * - GITHUB_CLIENT_ID / GITHUB_CLIENT_SECRET: the GitHub App's OAuth credentials (Probot's setup
 *   flow writes them to `.env`); callback `<BERTH_PUBLIC_URL>/auth/github/callback`.
 * - BERTH_GITEE_OAUTH_CLIENT_ID / _SECRET: a Gitee OAuth application; callback
 *   `<BERTH_PUBLIC_URL>/auth/gitee/callback`. GITEE_WEB_URL (default https://gitee.com) and
 *   GITEE_API_URL point both elsewhere for a self-hosted Gitee.
 * - BERTH_DASHBOARD_TOKEN: an admin login for setups without OAuth (at least 16 characters).
 * - BERTH_DASHBOARD_SECRET: the key of the session cookies (at least 32 characters; the same on
 *   every replica). Unset: derived from the secrets above and WEBHOOK_SECRET.
 * - BERTH_DASHBOARD_SESSION_HOURS: how long a sign-in lasts (default 8).
 */
import { z } from "zod";

const optional = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === "" ? undefined : v.trim()));

const schema = z
  .object({
    GITHUB_CLIENT_ID: optional,
    GITHUB_CLIENT_SECRET: optional,
    GHE_HOST: optional,
    BERTH_GITEE_OAUTH_CLIENT_ID: optional,
    BERTH_GITEE_OAUTH_CLIENT_SECRET: optional,
    GITEE_WEB_URL: optional.pipe(z.url().optional()),
    GITEE_API_URL: optional.pipe(z.url().optional()),
    BERTH_DASHBOARD_TOKEN: optional.pipe(z.string().min(16, "must be at least 16 characters").optional()),
    BERTH_DASHBOARD_SECRET: optional.pipe(z.string().min(32, "must be at least 32 characters").optional()),
    BERTH_DASHBOARD_SESSION_HOURS: z
      .string()
      .optional()
      .transform((v) => (v === undefined || v.trim() === "" ? 8 : Number(v)))
      .pipe(z.number().min(0.1).max(24 * 30)),
    WEBHOOK_SECRET: optional,
  })
  .superRefine((e, ctx) => {
    if (Boolean(e.GITHUB_CLIENT_ID) !== Boolean(e.GITHUB_CLIENT_SECRET)) ctx.addIssue({ code: "custom", path: ["GITHUB_CLIENT_SECRET"], message: "GITHUB_CLIENT_ID and GITHUB_CLIENT_SECRET are set together" });
    if (Boolean(e.BERTH_GITEE_OAUTH_CLIENT_ID) !== Boolean(e.BERTH_GITEE_OAUTH_CLIENT_SECRET)) ctx.addIssue({ code: "custom", path: ["BERTH_GITEE_OAUTH_CLIENT_SECRET"], message: "BERTH_GITEE_OAUTH_CLIENT_ID and BERTH_GITEE_OAUTH_CLIENT_SECRET are set together" });
  });

export interface DashboardSettings {
  github?: { clientId: string; clientSecret: string; webUrl: string; apiUrl: string };
  gitee?: { clientId: string; clientSecret: string; webUrl: string; apiUrl: string };
  adminToken?: string;
  /** Key material of the session cookies; undefined when nothing to derive it from is set. */
  secret?: string;
  /** Whether `secret` is BERTH_DASHBOARD_SECRET (else derived). */
  secretSet: boolean;
  sessionTtlMs: number;
}

export function parseDashboardSettings(env: Record<string, string | undefined>): { ok: true; settings: DashboardSettings } | { ok: false; error: string } {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    return { ok: false, error: `${issue.path.join(".")}: ${issue.message}` };
  }
  const e = parsed.data;
  const settings: DashboardSettings = { secretSet: e.BERTH_DASHBOARD_SECRET !== undefined, sessionTtlMs: Math.round(e.BERTH_DASHBOARD_SESSION_HOURS * 3_600_000) };
  if (e.GITHUB_CLIENT_ID && e.GITHUB_CLIENT_SECRET) {
    const ghe = e.GHE_HOST;
    settings.github = {
      clientId: e.GITHUB_CLIENT_ID,
      clientSecret: e.GITHUB_CLIENT_SECRET,
      webUrl: ghe ? `https://${ghe}` : "https://github.com",
      apiUrl: ghe ? `https://${ghe}/api/v3` : "https://api.github.com",
    };
  }
  if (e.BERTH_GITEE_OAUTH_CLIENT_ID && e.BERTH_GITEE_OAUTH_CLIENT_SECRET) {
    const webUrl = (e.GITEE_WEB_URL ?? "https://gitee.com").replace(/\/+$/, "");
    settings.gitee = { clientId: e.BERTH_GITEE_OAUTH_CLIENT_ID, clientSecret: e.BERTH_GITEE_OAUTH_CLIENT_SECRET, webUrl, apiUrl: (e.GITEE_API_URL ?? `${webUrl}/api/v5`).replace(/\/+$/, "") };
  }
  if (e.BERTH_DASHBOARD_TOKEN) settings.adminToken = e.BERTH_DASHBOARD_TOKEN;
  const derivedFrom = [e.GITHUB_CLIENT_SECRET, e.BERTH_GITEE_OAUTH_CLIENT_SECRET, e.BERTH_DASHBOARD_TOKEN, e.WEBHOOK_SECRET].filter((s): s is string => s !== undefined);
  const secret = e.BERTH_DASHBOARD_SECRET ?? (derivedFrom.length ? derivedFrom.join("\u0000") : undefined);
  if (secret) settings.secret = secret;
  return { ok: true, settings };
}
