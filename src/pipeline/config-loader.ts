/**
 * Reads a repository's berth config from its default branch (policy never comes from the PR head).
 */
import type { Logger } from "pino";
import { parseRepoConfig, REPO_CONFIG_PATH, type RepoConfig } from "../config/repo-config.js";
import type { CodeHost } from "../domain/ports.js";
import type { PullRef } from "../domain/types.js";

export type ConfigLookup =
  | { kind: "ok"; config: RepoConfig; path: string }
  | { kind: "missing"; path: string }
  | { kind: "invalid"; error: string; path: string };

/** Config file locations per host, first found wins (every Gitea-family server: `.gitea/berth.yml`). */
function configPathsOf(kind: CodeHost["kind"]): string[] {
  if (kind === "github") return [REPO_CONFIG_PATH];
  if (kind === "gitee") return [".gitee/berth.yml", REPO_CONFIG_PATH];
  return [".gitea/berth.yml", REPO_CONFIG_PATH];
}

export interface ConfigLoaderOptions {
  /** Preview targets this server can drive; others are a config error. */
  enabledTargets: ReadonlyArray<RepoConfig["preview"]["target"]>;
  log: Logger;
}

/** Make the loader used by the dispatcher. Logs a repository without config once per process. */
export function createConfigLoader(options: ConfigLoaderOptions): (host: CodeHost, pr: Pick<PullRef, "repo">) => Promise<ConfigLookup> {
  const reportedMissing = new Set<string>();
  return async (host, { repo }) => {
    const paths = configPathsOf(host.kind);
    for (const path of paths) {
      const text = await host.readFile(repo, path, repo.defaultBranch);
      if (text === null) continue;
      const parsed = parseRepoConfig(text);
      if (!parsed.ok) return { kind: "invalid", error: parsed.error, path };
      const target = parsed.config.preview.target;
      if (!options.enabledTargets.includes(target)) {
        return { kind: "invalid", error: `\`preview.target\`: '${target}' is not enabled on this berth server (enabled: ${options.enabledTargets.join(", ")})`, path };
      }
      return { kind: "ok", config: parsed.config, path };
    }
    const key = `${repo.host}:${repo.owner}/${repo.name}`;
    if (!reportedMissing.has(key)) {
      reportedMissing.add(key);
      options.log.info({ repo: key, paths }, "repository has no berth config; its events are ignored");
    }
    return { kind: "missing", path: paths[0] ?? REPO_CONFIG_PATH };
  };
}
