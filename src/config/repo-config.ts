/**
 * `.github/berth.yml`: the repository's own settings, read from the default branch.
 * Parsing never throws: it returns the config or a message naming the field path.
 */
import { isMap, isScalar, LineCounter, parseDocument, visit, YAMLParseError } from "yaml";
import { REPO_CONFIG_LIMITS, repoConfigSchema, type RepoConfig } from "../domain/repo-config.js";

export { REPO_CONFIG_LIMITS, repoConfigSchema } from "../domain/repo-config.js";
export type { EnvironmentConfig, PreviewConfig, RepoConfig, TagRule, TestConfig } from "../domain/repo-config.js";

/** Where the config lives on GitHub. */
export const REPO_CONFIG_PATH = ".github/berth.yml";

export type RepoConfigResult = { ok: true; config: RepoConfig } | { ok: false; error: string };

/** The first key that appears twice in one mapping, found in one pass (the `yaml` package's own check is quadratic). */
function duplicateKey(doc: ReturnType<typeof parseDocument>, lines: LineCounter): string | undefined {
  let found: string | undefined;
  visit(doc, {
    Map(_, map) {
      if (!isMap(map)) return undefined;
      const seen = new Set<string>();
      for (const pair of map.items) {
        const key = isScalar(pair.key) ? String(pair.key.value) : undefined;
        if (key === undefined) continue;
        if (seen.has(key)) {
          const at = pair.key && isScalar(pair.key) && pair.key.range ? ` at line ${lines.linePos(pair.key.range[0]).line}` : "";
          found = `map keys must be unique ('${key.slice(0, 100)}' appears twice${at})`;
          return visit.BREAK;
        }
        seen.add(key);
      }
      return undefined;
    },
  });
  return found;
}

/** Parse and validate the YAML text of a repo config. */
export function parseRepoConfig(text: string): RepoConfigResult {
  const bytes = Buffer.byteLength(text);
  if (bytes > REPO_CONFIG_LIMITS.bytes) {
    return { ok: false, error: `the file is ${Math.ceil(bytes / 1024)} KiB; berth reads at most ${REPO_CONFIG_LIMITS.bytes / 1024} KiB` };
  }
  let raw: unknown;
  try {
    const lines = new LineCounter();
    const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: false, lineCounter: lines });
    const [first] = doc.errors;
    if (first) throw first;
    const duplicate = duplicateKey(doc, lines);
    if (duplicate !== undefined) return { ok: false, error: `YAML syntax error: ${duplicate}` };
    raw = doc.toJS({ maxAliasCount: REPO_CONFIG_LIMITS.aliases }) ?? {};
  } catch (err) {
    const message = err instanceof YAMLParseError ? err.message : err instanceof Error ? err.message : String(err);
    return { ok: false, error: `YAML syntax error: ${message.split("\n")[0]}` };
  }
  if (typeof raw !== "object" || Array.isArray(raw) || raw === null) {
    return { ok: false, error: "the file must be a YAML mapping (key: value)" };
  }
  const parsed = repoConfigSchema.safeParse(raw);
  if (parsed.success) return { ok: true, config: parsed.data };
  const lines = parsed.error.issues.map((issue) => {
    const path = issue.path.length ? issue.path.join(".") : "(root)";
    return `\`${path}\`: ${issue.message}`;
  });
  return { ok: false, error: lines.join("\n") };
}
