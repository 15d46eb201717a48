/**
 * What every stage receives. Stages are `(ctx) => Promise<StageOutcome>`; they reach the outside
 * only through the ports in `deps`.
 */
import type { Logger } from "pino";
import type { RepoConfig } from "../config/repo-config.js";
import type { ArtifactRegistry, CodeHost, DeployResult, LogSink, PreviewKey, RegistryCleaner, ImageBuilder, PreviewTarget, SourceArchive, SourceCheckout } from "../domain/ports.js";
import { gatewayUrlOf, type GatewayAddressing } from "../gateway/preview-host-names.js";
import type { Redactor } from "../domain/redact.js";
import type { PullRecord, RunRecord, StageDetail } from "../domain/records.js";
import type { StageFacts, StageLookup } from "../pipeline/run-journal.js";

/** Ports and settings stages use. Stages write no state: they return facts (see `StageFacts`). */
export interface StageDeps {
  /** Read-only look-ups (images of a commit, the config a preview was deployed with). */
  lookup: StageLookup;
  host: CodeHost;
  builder: ImageBuilder;
  targets: Partial<Record<RepoConfig["preview"]["target"], PreviewTarget>>;
  /** Registry prefix; undefined = local images only. */
  registry?: string;
  /** berth's preview gateway: Docker and Swarm previews get its stable URLs. Undefined = URLs as the target publishes them. */
  gateway?: GatewayAddressing;
  /** This berth installation (BERTH_INSTANCE): part of image repository names. */
  instance: string;
  /** Registry API beyond pushes (Harbor), when configured. */
  artifacts?: ArtifactRegistry;
  /** Removes closed PRs' tags from the registry (Harbor, or the OCI API of a plain registry). */
  registryCleaner?: RegistryCleaner;
  /** Unpack a source archive on disk (charts and values files in the repository). */
  checkoutSource: (archive: SourceArchive) => Promise<SourceCheckout>;
  redact: Redactor;
  log: Logger;
  now: () => number;
  newId: () => string;
  /** Start work the stage does not wait for (code-host writes, a scan finishing later); failures are logged. */
  background: (what: string, task: () => Promise<void>) => void;
  /** A scan followed in the background finished: the journal puts it into the run's build row. */
  scanFinished: (runId: string, ref: string, scan: NonNullable<StageDetail["scan"]>) => Promise<boolean>;
}

export interface StageContext {
  run: RunRecord;
  config: RepoConfig;
  /** The PR as berth knows it (preview, last image). */
  pull: PullRecord;
  /** Details left by earlier stages of this run. */
  earlier: Partial<Record<"build" | "deploy" | "test", StageDetail>>;
  signal: AbortSignal;
  deps: StageDeps;
  /** Where the stage's full output goes (stored and linked from the comment). */
  onLog?: LogSink;
}

export interface StageOutcome {
  ok: boolean;
  detail: StageDetail;
  /** What outlives the stage (images, preview, report, environment), written by the run journal. */
  facts?: StageFacts;
}

/** Last `count` non-empty lines of a text, redacted. */
export function tailLines(text: string, count: number, redact: Redactor): string[] {
  return redact(text)
    .split(/\r?\n/)
    .filter((l) => l.trim() !== "")
    .slice(-count);
}

/** A failure outcome from an error, with its message as reason and log tail. */
export function failureFrom(err: unknown, redact: Redactor): StageOutcome {
  const message = redact(err instanceof Error ? err.message : String(err));
  const [first, ...rest] = message.split("\n");
  const detail: StageDetail = { reason: first ?? "failed" };
  const tail = rest.filter((l) => l.trim() !== "").slice(-30);
  if (tail.length) detail.logTail = tail;
  return { ok: false, detail };
}

/**
 * What people open for a deployed preview and where the gateway reaches it: behind the gateway
 * (Docker and Swarm, when berth reaches the preview), its stable host-name URL; otherwise the
 * target's own URL (Kubernetes keeps its Ingress).
 */
export function previewAddress(
  deps: Pick<StageDeps, "gateway">,
  target: PreviewTarget,
  key: PreviewKey,
  result: DeployResult,
  access?: "public" | "private",
): { url: string; upstream?: string; access?: "public" | "private" } {
  if (!deps.gateway || target.kind === "kubernetes" || !result.upstream) return { url: result.url };
  return { url: gatewayUrlOf(key, deps.gateway), upstream: result.upstream, access: access ?? deps.gateway.defaultAccess ?? "public" };
}

/** Resolve the preview target named by the config, or explain why it is unavailable. */
export function targetFor(ctx: StageContext): PreviewTarget {
  const target = ctx.deps.targets[ctx.config.preview.target];
  if (!target) throw new Error(`preview target '${ctx.config.preview.target}' is not enabled on this berth server`);
  return target;
}
