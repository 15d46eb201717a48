/**
 * Code host ids. GitHub and Gitee are one host each; every configured Gitea, Forgejo or Gogs server
 * is a host of its own, `gitea-<name>` (from `BERTH_GITEA_<NAME>_URL`), so runs, previews and labels
 * of two servers never mix. Pure: naming rules only.
 */
import type { HostKind } from "./types.js";

/** A Gitea-family server's host id: `gitea-` and its configured name, lower-case. */
export type GiteaHostKind = `gitea-${string}`;

/** Names of Gitea-family servers (`BERTH_GITEA_<NAME>_URL`): upper-case letters and digits, read lower-case. */
export const GITEA_SERVER_NAME = /^[a-z0-9]{1,20}$/;

/** `gitea-<name>` for a configured server name (lower-cased); throws on a name the settings would refuse. */
export function giteaHostKind(name: string): GiteaHostKind {
  const lower = name.toLowerCase();
  if (!GITEA_SERVER_NAME.test(lower)) throw new Error(`not a Gitea server name: ${name.slice(0, 40)}`);
  return `gitea-${lower}`;
}

/** Whether `text` is a Gitea-family host id. */
export function isGiteaHostKind(text: string): text is GiteaHostKind {
  return text.startsWith("gitea-") && GITEA_SERVER_NAME.test(text.slice("gitea-".length));
}

/** Whether `text` is any host id berth knows (validated, never guessed). */
export function isHostKind(text: string | undefined): text is HostKind {
  return text === "github" || text === "gitee" || (text !== undefined && isGiteaHostKind(text));
}

/** The host's name in messages: GitHub, Gitee, or Gitea for every Gitea-family server. */
export function hostDisplayName(kind: HostKind): string {
  return kind === "github" ? "GitHub" : kind === "gitee" ? "Gitee" : "Gitea";
}
