/**
 * Gitea, Forgejo and Gogs servers from the environment: `BERTH_GITEA_<NAME>_URL`, `_TOKEN`,
 * `_SECRET`, `_BOT_LOGIN`, `_FLAVOR` for any number of names (upper-case letters and digits). Each
 * server becomes the code host `gitea-<name>`. Validated with zod; an error names the variable.
 */
import { z } from "zod";
import { giteaHostKind, type GiteaHostKind } from "../domain/host-kind.js";

/** Which API subset a server speaks: Gitea and Forgejo have commit statuses and reactions, Gogs (0.13) has neither. */
export type GiteaFlavor = "gitea" | "forgejo" | "gogs";

/** One configured server. */
export interface GiteaServerSettings {
  /** Lower-case name from the variable names. */
  name: string;
  host: GiteaHostKind;
  /** Web base URL without a trailing slash, e.g. `https://git.example.com` or `https://example.com/gitea`. */
  url: string;
  /** `<url>/api/v1`. */
  apiUrl: string;
  /** Access token of berth's account on the server. */
  token: string;
  /** Webhook secret (HMAC-SHA256 key of the body). */
  secret: string;
  /** Login of berth's account; without it the token's own user (`GET /user`) is asked once. */
  botLogin?: string;
  flavor: GiteaFlavor;
}

const VARIABLE = /^BERTH_GITEA_([A-Z0-9]{1,20})_(URL|TOKEN|SECRET|BOT_LOGIN|FLAVOR)$/;

const nonEmpty = z.string().transform((v) => v.trim()).pipe(z.string().min(1, "must not be empty"));

const serverSchema = z.object({
  URL: z
    .string()
    .trim()
    .pipe(z.url({ protocol: /^https?$/, error: "must be an http(s) URL, e.g. https://git.example.com" }))
    .refine((v) => {
      // Zod runs refinements after a failed check too: a text that is no URL was reported already.
      if (!URL.canParse(v)) return true;
      const url = new URL(v);
      return url.search === "" && url.hash === "" && url.username === "" && url.password === "";
    }, "must be the web base URL without query, fragment or credentials")
    .transform((v) => v.replace(/\/+$/, "")),
  TOKEN: nonEmpty,
  SECRET: nonEmpty,
  BOT_LOGIN: z.string().trim().optional().transform((v) => (v ? v : undefined)),
  FLAVOR: z
    .string()
    .trim()
    .toLowerCase()
    .optional()
    .transform((v) => (v ? v : "gitea"))
    .pipe(z.enum(["gitea", "forgejo", "gogs"], { error: "must be gitea, forgejo or gogs" })),
});

export type GiteaServersResult = { ok: true; value: GiteaServerSettings[] } | { ok: false; error: string };

/** Every `BERTH_GITEA_*` server of `env`, sorted by name; never throws. */
export function readGiteaServers(env: NodeJS.ProcessEnv): GiteaServersResult {
  const byName = new Map<string, Record<string, string>>();
  for (const [key, value] of Object.entries(env)) {
    if (!key.startsWith("BERTH_GITEA_") || value === undefined || value.trim() === "") continue;
    const match = VARIABLE.exec(key);
    if (!match) {
      return { ok: false, error: `${key}: not a Gitea setting (BERTH_GITEA_<NAME>_URL, _TOKEN, _SECRET, _BOT_LOGIN or _FLAVOR; NAME of A-Z and 0-9)` };
    }
    const [, name = "", field = ""] = match;
    const fields = byName.get(name) ?? {};
    fields[field] = value;
    byName.set(name, fields);
  }
  const servers: GiteaServerSettings[] = [];
  for (const [name, fields] of [...byName].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const parsed = serverSchema.safeParse(fields);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const field = String(issue?.path[0] ?? "URL");
      const message = issue?.code === "invalid_type" ? "required" : (issue?.message ?? "invalid");
      return { ok: false, error: `BERTH_GITEA_${name}_${field}: ${message}${issue?.code === "invalid_type" ? ` when any BERTH_GITEA_${name}_* is set` : ""}` };
    }
    const s = parsed.data;
    servers.push({
      name: name.toLowerCase(),
      host: giteaHostKind(name),
      url: s.URL,
      apiUrl: `${s.URL}/api/v1`,
      token: s.TOKEN,
      secret: s.SECRET,
      ...(s.BOT_LOGIN ? { botLogin: s.BOT_LOGIN } : {}),
      flavor: s.FLAVOR,
    });
  }
  // The webhook route picks a server by its URL: two servers on one URL could not be told apart.
  const seen = new Map<string, string>();
  for (const server of servers) {
    const key = server.url.toLowerCase();
    const other = seen.get(key);
    if (other) return { ok: false, error: `BERTH_GITEA_${server.name.toUpperCase()}_URL: same URL as BERTH_GITEA_${other.toUpperCase()}_URL` };
    seen.set(key, server.name);
  }
  return { ok: true, value: servers };
}
