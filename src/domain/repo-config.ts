/**
 * The shape of a repository's berth config (`.github/berth.yml`) as the rest of berth sees it:
 * the zod schema with its bounds, and the types it infers. Reading the file (YAML, size and alias
 * limits, error messages) is the boundary's job, in `config/repo-config.ts`.
 */
import { z } from "zod";
import { parseDuration } from "./duration.js";

/**
 * What berth.yml may weigh. The file comes from the repository, so everything that reads it is
 * bounded: its size before any parsing, alias expansion while parsing, and list and string
 * lengths in the schema.
 */
export const REPO_CONFIG_LIMITS = {
  /** Bytes of the file; a larger one is refused before it is parsed. */
  bytes: 64 * 1024,
  /** Alias (`*name`) uses, counted with what they expand to (the `yaml` package's `maxAliasCount`). */
  aliases: 50,
  /** Entries of a map such as `build.args`, `preview.env` or `environments`. */
  entries: 100,
  /** Items of a list such as `test.command` or `tags`. */
  items: 100,
  /** Characters of a path, image reference or other single string. */
  text: 1024,
  /** Characters of one environment variable or build argument value. */
  value: 8192,
} as const;

const boundedText = (max: number = REPO_CONFIG_LIMITS.text) => z.string().max(max, `at most ${max} characters`);

/** A path inside the repository: relative, no `..`, no backslashes. */
const repoPath = boundedText()
  .min(1)
  .refine((p) => !p.startsWith("/") && !p.split("/").includes("..") && !p.includes("\\"), {
    message: "must be a relative path inside the repository without '..'",
  });

const duration = z.union([z.string(), z.number()]).transform((v, ctx) => {
  const ms = parseDuration(v);
  if (ms === null) {
    ctx.addIssue({ code: "custom", message: `'${v}' is not a duration like 90s, 10m, 2h or 7d` });
    return z.NEVER;
  }
  return ms;
});

/** A map whose key count is bounded (zod records have no length check of their own). */
function boundedRecord<K extends z.core.$ZodRecordKey, V extends z.ZodType>(key: K, value: V) {
  return z.record(key, value).refine((r) => Object.keys(r).length <= REPO_CONFIG_LIMITS.entries, { message: `at most ${REPO_CONFIG_LIMITS.entries} entries` });
}

const envVars = boundedRecord(
  boundedText(256).regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "names are letters, digits and _"),
  z.union([boundedText(REPO_CONFIG_LIMITS.value), z.number(), z.boolean()]).transform(String),
);

const list = <T extends z.ZodType>(item: T) => z.array(item).max(REPO_CONFIG_LIMITS.items, `at most ${REPO_CONFIG_LIMITS.items} items`);

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

/** A duration, or `never`. */
const durationOrNever = z.union([z.literal("never"), duration]);

const previewSchema = z
  .object({
    target: z.enum(["docker", "kubernetes", "swarm"]).default("docker"),
    port: z.number().int().min(1).max(65535).default(8080),
    healthPath: boundedText().startsWith("/", "must start with /").default("/"),
    auto: z.boolean().default(true),
    /** How long a deploy may take until healthy. */
    timeout: duration.default(120_000),
    /** Environment variables for the preview container/pods. */
    env: envVars.default({}),
    // Kubernetes target
    chart: repoPath.optional(),
    values: boundedRecord(z.string(), z.unknown()).default({}),
    valuesFiles: list(repoPath).default([]),
    domain: boundedText(253).regex(/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/, "must be a DNS domain").optional(),
    // Swarm target
    publishMode: z.enum(["host", "ingress"]).default("host"),
    /** Who may open the preview behind berth's gateway; unset: the server's BERTH_PREVIEW_ACCESS. */
    access: z.enum(["public", "private"]).optional(),
    /** Several services from a Compose file in the repository (Docker target); `service` is the one people open. */
    compose: repoPath.optional(),
    service: z.string().regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/, "must be a Compose service name").optional(),
    /** A command run in the preview once it is healthy (migrations, fixtures). */
    seed: z
      .object({
        service: z.string().regex(/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$/, "must be a Compose service name").optional(),
        command: list(boundedText(REPO_CONFIG_LIMITS.value)).min(1, "needs at least the program to run"),
        when: z.enum(["created", "every-deploy"]).default("created"),
      })
      .strict()
      .optional(),
    /** Stop the preview after this long without a request through the gateway (Kubernetes: since its deploy); `never` keeps it running. */
    sleepAfter: durationOrNever.default(2 * 3_600_000),
    /** Remove the preview this long after the PR's last push (`/keep` extends it); `never` keeps it until the PR closes. */
    expiresAfter: durationOrNever.default(7 * 24 * 3_600_000),
  })
  .strict();

const testSchema = z
  .object({
    image: boundedText().min(1).default("preview"),
    command: list(boundedText(REPO_CONFIG_LIMITS.value)).min(1, "needs at least the program to run"),
    reports: boundedText().startsWith("/", "must be an absolute path in the test container").default("/reports"),
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
    healthPath: boundedText().startsWith("/", "must start with /").optional(),
    env: envVars.optional(),
    values: boundedRecord(z.string(), z.unknown()).optional(),
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

/** A login as GitHub and Gitee allow them (letters, digits, `-`, `_`, `.`). */
const login = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/, "must be a user login");

/** Who may `/accept` or `/reject` the preview: a permission level, listed users, listed teams (`org/team`). */
const acceptanceSchema = z
  .object({
    by: z
      .object({
        permission: z.enum(["admin", "maintain", "write", "triage", "read"]).optional(),
        users: list(login).default([]),
        teams: list(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}\/[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/, "must be org/team-slug")).default([]),
      })
      .strict()
      .default({ permission: "write", users: [], teams: [] }),
  })
  .strict();

/** Chat events a repository may be told of (see `notify/`). */
export const NOTIFY_EVENTS = ["failed", "preview-ready", "environment-deployed", "preview-removed"] as const;
export type NotifyEvent = (typeof NOTIFY_EVENTS)[number];

/** A chat channel name as the server defines it (`BERTH_NOTIFY_<NAME>`, lower-cased here). */
export const notifyChannelName = z.string().regex(/^[a-z0-9][a-z0-9_]{0,31}$/, "channel names are lowercase letters, digits and _, at most 32");

/** Which server-defined chat channel hears of which events; URLs and secrets never come from here. */
const notifySchema = z
  .object({
    channel: notifyChannelName,
    on: z.array(z.enum(NOTIFY_EVENTS)).min(1, "needs at least one event").max(NOTIFY_EVENTS.length),
  })
  .strict();

/** A Compose preview names the service people open; a seed in a Compose preview names its service. */
function checkCompose(config: { preview: { compose?: string | undefined; service?: string | undefined; target: string; seed?: { service?: string | undefined } | undefined } }, ctx: z.RefinementCtx): void {
  const { preview } = config;
  if (preview.compose && !preview.service) ctx.addIssue({ code: "custom", path: ["preview", "service"], message: "names the Compose service people open (required with preview.compose)" });
  if (preview.compose && preview.target === "kubernetes") ctx.addIssue({ code: "custom", path: ["preview", "compose"], message: "Compose previews run on the docker and swarm targets (kubernetes previews use a Helm chart: preview.chart)" });
  if (!preview.compose && preview.service) ctx.addIssue({ code: "custom", path: ["preview", "service"], message: "only with preview.compose" });
  if (!preview.compose && preview.seed?.service) ctx.addIssue({ code: "custom", path: ["preview", "seed", "service"], message: "only with preview.compose (a single-container preview seeds its one container)" });
}

export const repoConfigSchema = z
  .object({
    build: buildSchema.default(buildSchema.parse({})),
    preview: previewSchema.default(previewSchema.parse({})),
    test: testSchema.optional(),
    tags: list(tagRuleSchema).default([]),
    environments: boundedRecord(environmentName, environmentSchema).default({}),
    cleanup: z.object({ registry: z.boolean().default(true) }).strict().default({ registry: true }),
    /** Testers' and PMs' acceptance of the preview (`/accept`, `/reject`); absent = not used. */
    acceptance: acceptanceSchema.optional(),
    notify: z.array(notifySchema).max(20, "at most 20 items").default([]),
  })
  .strict()
  .superRefine(checkCompose);

export type RepoConfig = z.infer<typeof repoConfigSchema>;
export type PreviewConfig = RepoConfig["preview"];
export type TestConfig = NonNullable<RepoConfig["test"]>;
export type EnvironmentConfig = z.infer<typeof environmentSchema>;
export type TagRule = z.infer<typeof tagRuleSchema>;
export type NotifyRule = z.infer<typeof notifySchema>;

