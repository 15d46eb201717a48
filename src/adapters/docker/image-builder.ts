/**
 * {@link ImageBuilder} on a Docker engine through dockerode: build from a source archive, push to
 * the registry, look up local images.
 */
import { posix } from "node:path";
import { addAbortSignal, Readable } from "node:stream";
import type Docker from "dockerode";
import type { Logger } from "pino";
import { formatDuration } from "../../domain/duration.js";
import { isPrTag } from "../../domain/pr-image-cleanup.js";
import type { ContainerLimits } from "../../config/container-limits.js";
import { buildLimits } from "./engine-limits.js";
import { CancelledError, type BuildOutcome, type BuildRequest, type ImageBuilder, type LogSink } from "../../domain/ports.js";
import type { Redactor } from "../../domain/redact.js";
import { engineCall, engineMessage, isNotFound, statusCodeOf } from "./engine-call.js";
import { LineTail, stripAnsi } from "./log-lines.js";
import { messageError, readProgress, type ProgressMessage } from "./progress-stream.js";
import { createBuildContext, SourceContextError } from "./source-context.js";
import { engineAuthFor, registryOfReference, type RegistryCredentials } from "./registry-credentials.js";


/** Time limits of the builder's engine calls. */
export interface ImageBuilderTimeouts {
  /** Whole build, from sending the context to the last log line. Default 30 min. */
  buildMs: number;
  /** Whole push. Default 10 min. */
  pushMs: number;
  /** Short calls (inspect). Default 30 s. */
  callMs: number;
}

export interface DockerImageBuilderOptions {
  docker: Docker;
  log: Pick<Logger, "debug" | "info" | "warn" | "error">;
  redact: Redactor;
  /** Sent with pushes to the registry of the tag; anonymous when absent. */
  registryAuth?: RegistryCredentials | undefined;
  timeouts?: Partial<ImageBuilderTimeouts>;
  /** Log lines kept for failure reports. Default 30. */
  logTailLines?: number;
  /** Memory and CPU limits of build steps (BERTH_BUILD_LIMITS); none when absent. */
  limits?: ContainerLimits | undefined;
  /** Attempts to remove an image a container still uses, and the pause between them. Default 5 × 1 s. */
  imageRemoval?: { attempts: number; retryMs: number };
}

const DEFAULT_TIMEOUTS: ImageBuilderTimeouts = { buildMs: 30 * 60_000, pushMs: 10 * 60_000, callMs: 30_000 };

/** `Step 3/7 : RUN npm ci` — how the classic builder announces each instruction. */
const STEP_LINE = /^Step \d+\/\d+ : /;
const DIGEST_IN_STATUS = /digest: (sha256:[0-9a-f]{64})/;

/** Repository and tag of an image reference (`host:5000/a/b:tag` → `host:5000/a/b`, `tag`). */
export function splitImageReference(ref: string): { repository: string; tag: string } {
  if (ref.includes("@")) throw new Error(`'${ref}' is a digest reference; only tags can be pushed`);
  const slash = ref.lastIndexOf("/");
  const colon = ref.lastIndexOf(":");
  if (colon > slash) return { repository: ref.slice(0, colon), tag: ref.slice(colon + 1) };
  return { repository: ref, tag: "latest" };
}


/** Make a response stream end with an error as soon as `signal` aborts (dockerode only aborts the request). */
function abortable(stream: NodeJS.ReadableStream, signal: AbortSignal): Readable {
  const readable = stream instanceof Readable ? stream : Readable.from(stream as AsyncIterable<Buffer>);
  return addAbortSignal(signal, readable);
}

/** Builds with the engine's classic builder and pushes with the engine's own registry client. */
export class DockerImageBuilder implements ImageBuilder {
  private readonly docker: Docker;
  private readonly log: DockerImageBuilderOptions["log"];
  private readonly redact: Redactor;
  private readonly registryAuth: RegistryCredentials | undefined;
  private readonly timeouts: ImageBuilderTimeouts;
  private readonly tailLines: number;
  private readonly removeAttempts: number;
  private readonly limits: ContainerLimits | undefined;
  private readonly removeRetryMs: number;

  constructor(options: DockerImageBuilderOptions) {
    this.docker = options.docker;
    this.log = options.log;
    this.redact = options.redact;
    this.registryAuth = options.registryAuth;
    this.timeouts = { ...DEFAULT_TIMEOUTS, ...options.timeouts };
    this.tailLines = options.logTailLines ?? 30;
    this.limits = options.limits;
    this.removeAttempts = options.imageRemoval?.attempts ?? 5;
    this.removeRetryMs = options.imageRemoval?.retryMs ?? 1000;
  }

  /**
   * Build `req.tag` from the source archive. A failing build (bad Dockerfile, failing `RUN`, build
   * timeout, unusable source) is an outcome with `ok: false`, the failing step and the last log
   * lines; the promise rejects only when the engine cannot be reached or the signal aborts
   * ({@link CancelledError}).
   */
  async build(req: BuildRequest): Promise<BuildOutcome> {
    if (req.signal.aborted) throw new CancelledError("build cancelled");
    const started = Date.now();
    let contextTar: Buffer;
    try {
      contextTar = (await createBuildContext(req.source, { context: req.context, dockerfile: req.dockerfile })).tar;
    } catch (err) {
      if (err instanceof SourceContextError) return { ok: false, error: this.redact(err.message), logTail: [] };
      throw err;
    }

    const tail = new LineTail(this.tailLines);
    let lastStep: string | undefined;
    let imageId: string | undefined;
    let streamError: string | undefined;
    const emit = (line: string): void => {
      const clean = this.redact(stripAnsi(line).trimEnd());
      if (clean.trim() === "") return;
      if (STEP_LINE.test(clean)) lastStep = clean;
      tail.push(clean);
      req.onLog?.(clean);
    };

    const timeout = AbortSignal.timeout(this.timeouts.buildMs);
    const signal = AbortSignal.any([req.signal, timeout]);
    try {
      const response = await this.docker.buildImage(Readable.from([contextTar]), {
        t: req.tag,
        // The engine reads `dockerfile` relative to the context root.
        dockerfile: posix.normalize(req.dockerfile),
        buildargs: req.buildArgs,
        labels: req.labels,
        // Intermediate containers go away even when a step fails.
        rm: true,
        forcerm: true,
        ...buildLimits(this.limits),
        abortSignal: signal,
      });
      for await (const message of readProgress(abortable(response, signal))) {
        streamError = messageError(message);
        if (streamError !== undefined) break;
        if (message.aux?.ID) imageId = message.aux.ID;
        this.emitProgress(message, emit);
      }
    } catch (err) {
      if (req.signal.aborted) {
        // The engine kills and removes the running step's container once the client hangs up.
        this.log.info({ tag: req.tag }, "image build cancelled");
        throw new CancelledError("build cancelled");
      }
      if (timeout.aborted) {
        streamError = `build timed out after ${formatDuration(this.timeouts.buildMs)}`;
      } else if (statusCodeOf(err) !== undefined) {
        // The engine answered with an error before streaming (bad parameter, unknown Dockerfile...).
        streamError = engineMessage(err);
      } else {
        throw new Error(`Docker build request failed: ${this.redact(engineMessage(err))}`);
      }
    }

    if (streamError !== undefined) {
      const error = this.redact(streamError);
      this.log.warn({ tag: req.tag, error, failingStep: lastStep, durationMs: Date.now() - started }, "image build failed");
      const outcome: BuildOutcome = { ok: false, error, logTail: tail.lines() };
      if (lastStep !== undefined) outcome.failingStep = lastStep;
      return outcome;
    }
    imageId ??= await this.imageId(req.tag);
    this.log.info({ tag: req.tag, imageId, durationMs: Date.now() - started }, "image built");
    return { ok: true, imageId, logTail: tail.lines() };
  }

  /**
   * Push `tag` to its registry and return the manifest digest the registry now serves for it.
   * Errors reported inside the push stream (auth, unknown blob, registry down) reject with the
   * registry's message; an aborted signal rejects with {@link CancelledError}.
   */
  async push(tag: string, signal: AbortSignal, onLog?: LogSink): Promise<{ digest: string }> {
    if (signal.aborted) throw new CancelledError("push cancelled");
    const started = Date.now();
    const { repository, tag: tagName } = splitImageReference(tag);
    const serveraddress = registryOfReference(tag);
    // The engine wants the header even for anonymous pushes; an empty config means "no credentials".
    const authconfig = engineAuthFor(tag, this.registryAuth) ?? { serveraddress };

    const timeout = AbortSignal.timeout(this.timeouts.pushMs);
    const combined = AbortSignal.any([signal, timeout]);
    const tail = new LineTail(this.tailLines);
    const emit = (line: string): void => {
      const clean = this.redact(stripAnsi(line));
      tail.push(clean);
      onLog?.(clean);
    };
    let digest: string | undefined;
    let streamError: string | undefined;
    try {
      const response = await this.docker.getImage(repository).push({ tag: tagName, authconfig, abortSignal: combined });
      for await (const message of readProgress(abortable(response, combined))) {
        streamError = messageError(message);
        if (streamError !== undefined) break;
        const fromStatus = message.status ? DIGEST_IN_STATUS.exec(message.status)?.[1] : undefined;
        digest = message.aux?.Digest ?? digest ?? fromStatus;
        this.emitProgress(message, emit);
      }
    } catch (err) {
      if (signal.aborted) throw new CancelledError("push cancelled");
      if (timeout.aborted) throw new Error(`push of ${tag} timed out after ${formatDuration(this.timeouts.pushMs)}`);
      throw new Error(`push of ${tag} failed: ${this.redact(engineMessage(err))}`);
    }
    if (streamError !== undefined) {
      const error = this.redact(streamError);
      this.log.warn({ tag, error }, "image push failed");
      throw new Error([`push of ${tag} failed: ${error}`, ...tail.lines()].join("\n"));
    }
    if (digest === undefined) throw new Error(`push of ${tag} finished without reporting a digest`);
    this.log.info({ tag, digest, durationMs: Date.now() - started }, "image pushed");
    return { digest };
  }

  /** Whether the engine has `tag` locally. */
  async hasImage(tag: string): Promise<boolean> {
    try {
      await engineCall("image inspect", { timeoutMs: this.timeouts.callMs }, () => this.docker.getImage(tag).inspect());
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  async tag(source: string, target: string): Promise<void> {
    const { repository, tag } = splitImageReference(target);
    await engineCall("image tag", { timeoutMs: this.timeouts.callMs }, () => this.docker.getImage(source).tag({ repo: repository, tag }));
  }

  /**
   * Remove the local tags `<repository>:pr-<n>-*`. Removing a tag only untags an image that has
   * other tags (a promoted release keeps it); the image goes with its last tag. An image a
   * container still uses (a preview being torn down, a test container) is retried a few times,
   * then kept and reported.
   */
  async removePullRequestImages(
    repository: string,
    prNumber: number,
    owner: Record<string, string>,
  ): Promise<{ removed: string[]; kept: string[]; foreign: string[] }> {
    const images = await engineCall("image list", { timeoutMs: this.timeouts.callMs }, () =>
      this.docker.listImages({ filters: JSON.stringify({ reference: [`${repository}:pr-${prNumber}-*`] }) }),
    );
    const removed: string[] = [];
    const kept: string[] = [];
    const foreign: string[] = [];
    for (const image of images) {
      const tags = (image.RepoTags ?? []).filter((ref) => {
        const { repository: repo, tag } = splitImageReference(ref);
        return repo === repository && isPrTag(tag, prNumber);
      });
      // Built by another repository or another berth (same tag by accident, or made by hand): never removed.
      const own = Object.entries(owner).every(([key, value]) => image.Labels?.[key] === value);
      if (!own) {
        foreign.push(...tags);
        continue;
      }
      for (const ref of tags) {
        const outcome = await this.removeTag(ref);
        (outcome === "kept" ? kept : removed).push(ref);
      }
    }
    if (foreign.length) this.log.warn({ repository, prNumber, foreign }, "PR image tags left in place: the images carry another owner's labels");
    this.log.info({ repository, prNumber, removed: removed.length, kept }, "local PR images removed");
    return { removed, kept, foreign };
  }

  private async removeTag(ref: string): Promise<"removed" | "kept"> {
    for (let attempt = 1; ; attempt++) {
      try {
        await engineCall("image remove", { timeoutMs: this.timeouts.callMs }, () => this.docker.getImage(ref).remove({ force: false, noprune: false }));
        return "removed";
      } catch (err) {
        if (isNotFound(err)) return "removed";
        // 409: a container uses the image (its removal may still be in progress).
        if (statusCodeOf(err) !== 409 || attempt >= this.removeAttempts) {
          this.log.warn({ ref, error: this.redact(engineMessage(err)) }, "local image kept");
          return "kept";
        }
        await new Promise((resolve) => setTimeout(resolve, this.removeRetryMs));
      }
    }
  }

  private async imageId(tag: string): Promise<string> {
    const info = await engineCall("image inspect", { timeoutMs: this.timeouts.callMs }, () => this.docker.getImage(tag).inspect());
    return info.Id;
  }

  /** Log lines of one progress message: build output as is, status lines without progress bars. */
  private emitProgress(message: ProgressMessage, emit: (line: string) => void): void {
    if (typeof message.stream === "string") {
      for (const line of message.stream.split(/\r?\n/)) emit(line);
      return;
    }
    // Per-layer byte counters ("Pushing 1.2MB/5MB") would bury everything else.
    if (typeof message.status === "string" && !message.progress) {
      emit(message.id ? `${message.id}: ${message.status}` : message.status);
    }
  }
}
