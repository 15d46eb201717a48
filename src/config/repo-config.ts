/**
 * `.github/berth.yml`: the repository's own settings, read from the default branch.
 * Parsing never throws: it returns the config or a message naming the field path.
 */
import { parse as parseYaml, YAMLParseError } from "yaml";
import { z } from "zod";
import { parseDuration } from "../domain/duration.js";

/** A path inside the repository: relative, no `..`, no backslashes. */
const repoPath = z
  .string()
  .min(1)
  .refine((p) => !p.startsWith("/") && !p.split("/").includes("..") && !p.includes("\\"), {
    message: "must be a relative path inside the repository without '..'",
  });

const duration = z.union([z.string(), z.number()]).transform((v, ctx) => {
  const ms = parseDuration(v);
  if (ms === null) {
    ctx.addIssue({ code: "custom", message: `'${v}' is not a duration like 90s, 10m or 1h` });
    return z.NEVER;
  }
  return ms;
});

const envVars = z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "names are letters, digits and _"), z.union([z.string(), z.number(), z.boolean()]).transform(String));

const scanSchema = z
  .object({
    /** Stop before deploy when the image has vulnerabilities of this severity or worse (Harbor). */
    failOn: z.enum(["critical", "high", "medium"]).optional(),
  })
  .strict();

const buildSchema = z
  .object({
    dockerfile: repoPath.default("Dockerfile"),
    context: repoPath.default("."),
    args: envVars.default({}),
    scan: scanSchema.default({}),
  })
  .strict();

const previewSchema = z
  .object({
    target: z.enum(["docker", "kubernetes", "swarm"]).default("docker"),
    port: z.number().int().min(1).max(65535).default(8080),
    healthPath: z.string().startsWith("/", "must start with /").default("/"),
    auto: z.boolean().default(true),
    /** How long a deploy may take until healthy. */
    timeout: duration.default(120_000),
    /** Environment variables for the preview container/pods. */
    env: envVars.default({}),
    // Kubernetes target
    chart: repoPath.optional(),
    values: z.record(z.string(), z.unknown()).default({}),
    valuesFiles: z.array(repoPath).default([]),
    domain: z.string().regex(/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/, "must be a DNS domain").optional(),
    // Swarm target
    publishMode: z.enum(["host", "ingress"]).default("host"),
  })
  .strict();

const testSchema = z
  .object({
    image: z.string().min(1).default("preview"),
    command: z.array(z.string()).min(1, "needs at least the program to run"),
    reports: z.string().startsWith("/", "must be an absolute path in the test container").default("/reports"),
    timeout: duration.default(600_000),
  })
  .strict();

const environmentName = z.string().regex(/^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$/, "environment names are lowercase letters, digits and -, at most 32");

/** Where a tag's image is deployed; unset fields come from `preview`. */
const environmentSchema = z
  .object({
    target: z.enum(["docker", "kubernetes", "swarm"]).optional(),
    namespace: z.string().regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, "must be a DNS-1123 label").optional(),
    port: z.number().int().min(1).max(65535).optional(),
    healthPath: z.string().startsWith("/", "must start with /").optional(),
    env: envVars.optional(),
    values: z.record(z.string(), z.unknown()).optional(),
    /** Least permission of the tag's pusher to deploy here (default: admin for production, write otherwise). */
    permission: z.enum(["admin", "maintain", "write", "triage", "read"]).optional(),
  })
  .strict();

const tagRuleSchema = z
  .object({
    /** Glob on the git tag name: `*` any run of characters, `?` one character. */
    match: z.string().min(1).max(100),
    environment: environmentName,
  })
  .strict();

export const repoConfigSchema = z
  .object({
    build: buildSchema.default(buildSchema.parse({})),
    preview: previewSchema.default(previewSchema.parse({})),
    test: testSchema.optional(),
    tags: z.array(tagRuleSchema).default([]),
    environments: z.record(environmentName, environmentSchema).default({}),
    cleanup: z.object({ registry: z.boolean().default(true) }).strict().default({ registry: true }),
  })
  .strict();

export type RepoConfig = z.infer<typeof repoConfigSchema>;
export type PreviewConfig = RepoConfig["preview"];
export type TestConfig = NonNullable<RepoConfig["test"]>;
export type EnvironmentConfig = z.infer<typeof environmentSchema>;
export type TagRule = z.infer<typeof tagRuleSchema>;

/** Where the config lives on GitHub. */
export const REPO_CONFIG_PATH = ".github/berth.yml";

export type RepoConfigResult = { ok: true; config: RepoConfig } | { ok: false; error: string };

/** Parse and validate the YAML text of a repo config. */
export function parseRepoConfig(text: string): RepoConfigResult {
  let raw: unknown;
  try {
    raw = parseYaml(text, { prettyErrors: true, maxAliasCount: 50 }) ?? {};
  } catch (err) {
    const message = err instanceof YAMLParseError ? err.message : String(err);
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
