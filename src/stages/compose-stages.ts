/**
 * The build and deploy of a Compose preview (`preview.compose`): the file is read from the run's
 * commit and planned (`compose/compose-plan.ts`); services with `build` are built from the commit's
 * source and pushed like the single image, each tagged `pr-<n>-<sha7>-<service>`; the deploy hands
 * the target every service's image and environment (its `env_file`s read from the commit).
 */
import { planCompose, type ComposePlan } from "../compose/compose-plan.js";
import { dnsLabel, prImageTag } from "../domain/naming.js";
import type { ComposeDeploy } from "../domain/ports.js";
import type { ImageRecord } from "../domain/records.js";
import { failedBuild, imageOwnerLabels, imageRepositoryOf, publishImage, type PublishedImage } from "./build-stage.js";
import { failureFrom, tailLines, type StageContext, type StageOutcome } from "./stage-context.js";

/** Most bytes of one `env_file`. */
const MAX_ENV_FILE_BYTES = 64 * 1024;

/** Image reference of one Compose service of a PR commit. */
export function composeImageRef(ctx: Pick<StageContext, "run" | "deps">, service: string): string {
  const { run, deps } = ctx;
  return `${imageRepositoryOf(deps, run.repo)}:${prImageTag(run.prNumber, run.sha)}-${dnsLabel(service, 40)}`;
}

/** The run's Compose file, planned; a reason when it is missing or refused. */
export async function loadCompose(ctx: Pick<StageContext, "run" | "config" | "deps">): Promise<{ ok: true; plan: ComposePlan } | { ok: false; reason: string }> {
  const path = ctx.config.preview.compose!;
  const text = await ctx.deps.host.readFile(ctx.run.repo, path, ctx.run.sha);
  if (text === null) return { ok: false, reason: `preview.compose: ${path} is not in commit ${ctx.run.sha.slice(0, 7)}` };
  const planned = planCompose(text, path);
  if (!planned.ok) return { ok: false, reason: `the Compose file cannot be used:\n${planned.errors.join("\n")}` };
  if (!planned.plan.services.some((s) => s.name === ctx.config.preview.service)) {
    return { ok: false, reason: `preview.service: ${path} has no service '${ctx.config.preview.service}' (it has ${planned.plan.services.map((s) => s.name).join(", ")})` };
  }
  return planned;
}

/** `KEY=VALUE` lines of an env file (`#` comments and blank lines skipped, `export ` allowed, quotes removed). */
export function parseEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim().replace(/^export\s+/, "");
    if (line === "" || line.startsWith("#")) continue;
    const eq = line.indexOf("=");
    if (eq <= 0) continue;
    let value = line.slice(eq + 1).trim();
    if (value.length >= 2 && ((value.startsWith('"') && value.endsWith('"')) || (value.startsWith("'") && value.endsWith("'")))) value = value.slice(1, -1);
    out[line.slice(0, eq).trim()] = value;
  }
  return out;
}

/** Build and publish every service that has `build`; the routed service's image (or the first built) heads the row. */
export async function composeBuildStage(ctx: StageContext): Promise<StageOutcome> {
  const { run, config, deps, signal } = ctx;
  try {
    const loaded = await loadCompose(ctx);
    if (!loaded.ok) return { ok: false, detail: { reason: loaded.reason } };
    const toBuild = loaded.plan.services.filter((s) => s.build);
    if (toBuild.length === 0) return { ok: true, detail: { reason: "nothing to build: every Compose service names its image" } };
    ctx.onLog?.(`fetching the source of ${run.sha}`);
    const source = await deps.host.downloadSource(run.repo, run.sha);
    const images: ImageRecord[] = [];
    let head: PublishedImage | undefined;
    let tail: string[] = [];
    for (const service of toBuild) {
      const ref = composeImageRef(ctx, service.name);
      ctx.onLog?.(`building service ${service.name} as ${ref}`);
      const outcome = await deps.builder.build({
        source,
        context: service.build!.context,
        dockerfile: service.build!.dockerfile,
        buildArgs: { ...config.build.args, ...service.build!.args },
        labels: {
          "org.opencontainers.image.source": run.repo.htmlUrl,
          "org.opencontainers.image.revision": run.sha,
          ...imageOwnerLabels(deps, run.repo),
          "dev.berth.pull-request": String(run.prNumber),
          "dev.berth.compose-service": service.name,
        },
        tag: ref,
        signal,
        ...(ctx.onLog ? { onLog: ctx.onLog } : {}),
      });
      if (!outcome.ok) {
        const failed = failedBuild(outcome, deps.redact);
        failed.detail.reason = `service ${service.name}: ${failed.detail.reason}`;
        return { ...failed, facts: { images } };
      }
      const published = await publishImage(ctx, ref, outcome.imageId);
      images.push(published.image);
      if (published.gateFailure) return { ok: false, detail: { image: published.image, reason: `service ${service.name}: ${published.gateFailure}` }, facts: { images } };
      if (!head || service.name === config.preview.service) head = published;
      tail = outcome.logTail;
    }
    const { image, scan } = head!;
    return {
      ok: true,
      detail: { image, ...(scan ? { scan } : {}), logTail: tailLines(tail.join("\n"), 10, deps.redact) },
      facts: { images, pullImage: image },
    };
  } catch (err) {
    return failureFrom(err, deps.redact);
  }
}

/** What the target needs to run the Compose preview of the run's commit. */
export async function composeDeployOf(ctx: Pick<StageContext, "run" | "config" | "deps">, plan: ComposePlan): Promise<ComposeDeploy> {
  const { run, config, deps } = ctx;
  const images: Record<string, string> = {};
  const env: Record<string, Record<string, string>> = {};
  for (const service of plan.services) {
    images[service.name] = service.build ? composeImageRef(ctx, service.name) : service.image!;
    const merged: Record<string, string> = {};
    for (const file of service.envFiles) {
      const text = await deps.host.readFile(run.repo, file, run.sha);
      if (text === null) throw new Error(`services.${service.name}.env_file: ${file} is not in commit ${run.sha.slice(0, 7)}`);
      if (Buffer.byteLength(text) > MAX_ENV_FILE_BYTES) throw new Error(`services.${service.name}.env_file: ${file} is larger than 64 KiB`);
      Object.assign(merged, parseEnvFile(text));
    }
    env[service.name] = { ...merged, ...service.environment, ...config.preview.env };
  }
  return { plan, images, env, routed: config.preview.service! };
}
