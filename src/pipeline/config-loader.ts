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
  /** Chat channels this server defines (`BERTH_NOTIFY_<NAME>`); a `notify` item naming another is a config error. */
  notifyChannels?: ReadonlyArray<string>;
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
      const unknown = unknownChannels(parsed.config, options.notifyChannels ?? []);
      if (unknown) return { kind: "invalid", error: unknown, path };
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

/** The config error of `notify` items naming channels the server does not define; undefined when all are defined. */
function unknownChannels(config: RepoConfig, defined: ReadonlyArray<string>): string | undefined {
  const lines = config.notify.flatMap((rule, i) =>
    defined.includes(rule.channel)
      ? []
      : [`\`notify.${i}.channel\`: '${rule.channel}' is not a chat channel of this berth server (${defined.length ? `defined: ${defined.join(", ")}` : "it defines none; an operator sets BERTH_NOTIFY_<NAME>"})`],
  );
  return lines.length ? lines.join("\n") : undefined;
}
