/**
 * The tag flow's pure rules: which environment a git tag goes to, who may deploy it, and the image
 * tag a git tag becomes. Git tags are attacker-controlled text.
 */
import type { EnvironmentConfig, TagRule } from "./repo-config.js";
import { shortHash } from "./naming.js";
import type { Permission } from "./types.js";

/**
 * Whether `glob` matches the whole of `text`: `*` any run of characters, `?` exactly one, anything
 * else itself. Two pointers with one remembered star, so the work is at most
 * `text.length × glob.length` steps for any input: no regular expression, no backtracking blow-up
 * on patterns like `*a*a*a*b` (git tags and berth.yml are both outside input).
 */
export function globMatches(glob: string, text: string): boolean {
  let g = 0;
  let t = 0;
  let starG = -1;
  let starT = 0;
  while (t < text.length) {
    const c = glob[g];
    if (c === "*") {
      starG = g++;
      starT = t;
    } else if (c !== undefined && (c === "?" || c === text[t])) {
      g++;
      t++;
    } else if (starG >= 0) {
      // Let the last star swallow one more character and retry what followed it.
      g = starG + 1;
      t = ++starT;
    } else {
      return false;
    }
  }
  while (glob[g] === "*") g++;
  return g === glob.length;
}

/** The first rule whose glob matches the whole tag, if any. */
export function matchTagRule(rules: readonly TagRule[], tag: string): TagRule | undefined {
  return rules.find((rule) => globMatches(rule.match, tag));
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
