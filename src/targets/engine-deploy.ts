/**
 * What a deploy of the Docker-engine targets (`docker`, `swarm`) does alike once its preview has
 * a published port: wait until `healthPath` answers, and, when it does not, word the failure
 * followed by the preview's last log lines. Each target keeps its own engine steps and clean-up.
 */
import { engineMessage } from "../adapters/docker/engine-call.js";
import { describeUnhealthy, waitUntilHealthy, type HealthResult } from "../adapters/http-health.js";
import type { PreviewConfig } from "../config/repo-config.js";
import { formatDuration } from "../domain/duration.js";
import { urlHost } from "./engine-labels.js";
import type { Logger } from "pino";
import { CancelledError, type PreviewKey } from "../domain/ports.js";
import type { Redactor } from "../domain/redact.js";

/** A deploy that failed for a reason berth words itself (not an engine error). */
export class DeployFailure extends Error {}

/** Log lines of the preview quoted when it fails to come up. */
export const DEPLOY_LOG_LINES = 30;

/** Options of the `json-file` log driver of previews: bounded, since previews can run for weeks. */
export const PREVIEW_LOG_OPTIONS: Readonly<Record<string, string>> = { "max-size": "10m", "max-file": "3" };

/** Where a preview published on `hostPort` is opened (`url`) and probed by berth (`probeUrl`). */
export function previewUrls(
  previewHost: string,
  probeHost: string,
  hostPort: number | string,
  healthPath: string,
): { url: string; probeUrl: string; upstream: string } {
  return {
    url: `http://${urlHost(previewHost)}:${hostPort}/`,
    probeUrl: `http://${urlHost(probeHost)}:${hostPort}${healthPath}`,
    upstream: `http://${urlHost(probeHost)}:${hostPort}`,
  };
}

/** Why a health wait ended unhealthy, as the deploy's failure reason. */
export function unhealthyReason(health: Extract<HealthResult, { healthy: false }>, preview: Pick<PreviewConfig, "timeout" | "healthPath">): string {
  const why = describeUnhealthy(health);
  return health.gaveUp
    ? `preview ${why}`
    : `preview did not become healthy within ${formatDuration(preview.timeout)} at ${preview.healthPath} (${why})`;
}

export interface PreviewHealthWait {
  /** Host put into the URL people open. */
  previewHost: string;
  /** Host berth reaches the published port on. */
  probeHost: string;
  /** The port the engine published for the preview. */
  hostPort: number | string;
  preview: Pick<PreviewConfig, "timeout" | "healthPath">;
  signal: AbortSignal;
  emit: (line: string) => void;
  /** Asked before each probe: a reason (the container or task ended) ends the wait at once. */
  giveUpIf: () => Promise<string | undefined>;
}

/**
 * Wait until GET `healthPath` on the published port answers below 500 within `preview.timeout`;
 * the preview's URL when it does, a {@link DeployFailure} when it does not. Aborting `signal`
 * throws the health check's CancelledError.
 */
/** Wait until the published preview is healthy; returns its public URL and where berth reaches it. */
export async function awaitPreviewHealth(wait: PreviewHealthWait): Promise<{ url: string; upstream: string }> {
  const { preview, emit } = wait;
  const { url, probeUrl, upstream } = previewUrls(wait.previewHost, wait.probeHost, wait.hostPort, preview.healthPath);
  emit(`waiting up to ${formatDuration(preview.timeout)} for ${probeUrl} to answer below 500`);
  const health = await waitUntilHealthy(probeUrl, {
    timeoutMs: preview.timeout,
    intervalMs: 500,
    signal: wait.signal,
    giveUpIf: wait.giveUpIf,
  });
  if (!health.healthy) throw new DeployFailure(unhealthyReason(health, preview));
  emit(`healthy after ${formatDuration(health.elapsedMs)} (HTTP ${health.status})`);
  return { url, upstream };
}

/**
 * The reason of a failed deploy (berth's own words for a {@link DeployFailure}, the engine's
 * otherwise) and the error message: the reason, what the clean-up did (`outcome`, e.g.
 * `; rolled back to abc1234`), then the preview's last log lines. Not redacted yet.
 */
export function deployFailure(err: unknown, logs: string[], outcome = ""): { reason: string; message: string } {
  const reason = err instanceof DeployFailure ? err.message : `preview could not be started: ${engineMessage(err)}`;
  return { reason, message: [`${reason}${outcome}`, ...logs].join("\n") };
}

/**
 * A Compose deploy (Docker or Swarm) with the same outcome as a single preview's: logged with how
 * many services and how long, a failure redacted into the stage's error (reason, then log lines),
 * a cancel passed on as it is.
 */
export async function deployComposeReported<R extends { url: string }>(
  key: PreviewKey,
  services: number,
  deploy: () => Promise<R>,
  log: Pick<Logger, "info" | "warn">,
  redact: Redactor,
): Promise<R> {
  const started = Date.now();
  try {
    const result = await deploy();
    log.info({ key, services, url: result.url, durationMs: Date.now() - started }, "compose preview deployed");
    return result;
  } catch (err) {
    if (err instanceof CancelledError) throw err;
    const { reason, message } = deployFailure(err, []);
    log.warn({ key, reason: redact(reason) }, "compose preview deploy failed");
    throw new Error(redact(message));
  }
}
