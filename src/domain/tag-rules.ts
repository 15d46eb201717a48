/**
 * The tag flow's pure rules: which environment a git tag goes to, who may deploy it, and the image
 * tag a git tag becomes. Git tags are attacker-controlled text.
 */
import type { EnvironmentConfig, TagRule } from "../config/repo-config.js";
import { shortHash } from "./naming.js";
import type { Permission } from "./types.js";

function globToRegExp(glob: string): RegExp {
  const body = glob.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".");
  return new RegExp(`^${body}$`);
}

/** The first rule whose glob matches the whole tag, if any. */
export function matchTagRule(rules: readonly TagRule[], tag: string): TagRule | undefined {
  return rules.find((rule) => globToRegExp(rule.match).test(tag));
}

/** Least permission a tag's pusher needs to deploy to an environment. */
export function requiredPermission(environment: string, config: EnvironmentConfig | undefined): Permission {
  return config?.permission ?? (environment === "production" ? "admin" : "write");
}

/**
 * An OCI tag for a git tag: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`. Anything else is replaced, and a
 * hash of the original keeps two different git tags from ever sharing an image tag.
 */
export function imageTagOfGitTag(gitTag: string): string {
  const cleaned = gitTag.replace(/[^A-Za-z0-9_.-]/g, "-").replace(/^[.-]+/, "");
  if (cleaned === gitTag && cleaned.length > 0 && cleaned.length <= 128) return cleaned;
  const suffix = shortHash(gitTag);
  return `${cleaned.slice(0, 128 - suffix.length - 1) || "tag"}-${suffix}`;
}
