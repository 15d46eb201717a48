/**
 * One-shot test containers on a Docker engine: run an argv command in a container on a given
 * network, stream its output, enforce a time limit, copy JUnit reports out, always remove it.
 *
 * Shared by the Docker target (the container joins the PR's bridge network) and the Swarm target
 * (the PR's attachable overlay network); it is kept free of target details (names, labels and
 * network come from the caller).
 */
import { posix } from "node:path";
import type { Readable } from "node:stream";
import type Docker from "dockerode";
import type { Logger } from "pino";
import * as tar from "tar-stream";
import { formatDuration } from "../../domain/duration.js";
import { CancelledError, type TestRunResult } from "../../domain/ports.js";
import { JUNIT_LIMITS } from "../../reports/junit.js";
import type { Redactor } from "../../domain/redact.js";
import type { ContainerLimits } from "../../config/container-limits.js";
import { engineCall, EngineTimeoutError, engineMessage, isNotFound, statusCodeOf } from "./engine-call.js";
import { hostConfigLimits } from "./engine-limits.js";
import type { EngineContainers, RunLabel } from "./engine-containers.js";
import { LineTail, LogDemuxer } from "./log-lines.js";

/** Log lines returned from a test run. */
const TEST_LOG_LINES = 50;

function mib(bytes: number): string {
  return (bytes / 1024 / 1024).toFixed(1).replace(/\.0$/, "");
}
/** Limits on what is copied out of the reports directory: what the JUnit parser reads at most. */
const REPORT_LIMITS = { files: JUNIT_LIMITS.files, fileBytes: JUNIT_LIMITS.fileBytes, totalBytes: JUNIT_LIMITS.totalBytes };
/** Bounded container logs. */
const LOG_CONFIG = { Type: "json-file", Config: { "max-size": "10m", "max-file": "3" } };

export interface ContainerTestRunnerOptions {
  /** Pulls the test image, creates and removes the test container. */
  containers: EngineContainers;
  log: Pick<Logger, "debug" | "info" | "warn" | "error">;
  redact: Redactor;
  /** Short engine calls: start, logs, kill, archive. */
  callMs: number;
  /** Memory, CPU and process limits of test containers. */
  limits?: ContainerLimits | undefined;
}

/** One test run. */
export interface ContainerTestRun {
  /** Container name (unique per run). */
  name: string;
  image: string;
  /** argv; the program replaces the image's entrypoint. */
  command: string[];
  env: Record<string, string>;
  labels: Record<string, string>;
  /**
   * Label key/value identifying the run: a container of the same name carrying it (left by an
   * interrupted attempt of the same run) is replaced; any other holder of the name is an error.
   */
  runLabel: RunLabel;
  /**
   * The network the container joins (a bridge, or an attachable overlay), made ready by the
   * caller. Called inside the run, so that a failure or cancellation there ends the run the same
   * way as one of the run itself.
   */
  network: () => Promise<string>;
  /** Directory in the container whose `*.xml` files (any depth) are the reports. */
  reportsDir: string;
  timeoutMs: number;
  signal: AbortSignal;
  /** Every output line, redacted. */
  onLog?: ((line: string) => void) | undefined;
  /** Extra fields of the runner's log records (the preview key, ...). */
  logMeta?: Record<string, unknown>;
}

/** Runs test commands in one-shot containers. */
export class ContainerTestRunner {
  private readonly containers: EngineContainers;
  private readonly log: ContainerTestRunnerOptions["log"];
  private readonly redact: Redactor;
  private readonly callMs: number;
  private readonly limits: ContainerLimits | undefined;

  constructor(options: ContainerTestRunnerOptions) {
    this.containers = options.containers;
    this.log = options.log;
    this.redact = options.redact;
    this.callMs = options.callMs;
    this.limits = options.limits;
  }

  /**
   * Run the command to its end. A run past `timeoutMs` is killed (`timedOut: true`, `exitCode:
   * null`); a missing reports directory means no reports. The container is removed in every case;
   * an aborted signal kills it and throws {@link CancelledError}. Other failures (image missing,
   * network gone) throw `tests could not run: <engine message>` followed by the output so far.
   */
  async run(req: ContainerTestRun): Promise<TestRunResult> {
    const { signal, name } = req;
    if (signal.aborted) throw new CancelledError("tests cancelled");
    const [program, ...args] = req.command;
    if (program === undefined) throw new Error("the test command is empty");
    const emit = (line: string): void => req.onLog?.(this.redact(line));
    const meta = { container: name, ...req.logMeta };
    const tail = new LineTail(TEST_LOG_LINES);
    let container: Docker.Container | undefined;
    const started = Date.now();

    try {
      const network = await req.network();
      await this.containers.ensureImage(req.image, signal, emit);
      container = await this.containers.create(
        name,
        {
          Image: req.image,
          Entrypoint: [program],
          Cmd: args,
          Env: Object.entries(req.env).map(([k, v]) => `${k}=${v}`),
          Labels: req.labels,
          HostConfig: { NetworkMode: network, LogConfig: LOG_CONFIG, ...hostConfigLimits(this.limits) },
        },
        req.runLabel,
        signal,
      );
      const created = container;
      await engineCall("container start", this.call(signal), (s) => created.start({ abortSignal: s }));
      const logsDone = this.followLogs(created, (line) => {
        const clean = this.redact(line);
        tail.push(clean);
        req.onLog?.(clean);
      });

      let exitCode: number | null = null;
      let timedOut = false;
      try {
        const result = await engineCall("test run", { timeoutMs: req.timeoutMs, signal }, (s) => created.wait({ abortSignal: s }));
        exitCode = typeof result?.StatusCode === "number" ? result.StatusCode : null;
      } catch (err) {
        if (!(err instanceof EngineTimeoutError)) throw err;
        timedOut = true;
        emit(`test command timed out after ${formatDuration(req.timeoutMs)}; killing it`);
        await this.kill(created);
      }
      await logsDone;
      const { reports, notRead } = await this.copyReports(created, req.reportsDir, signal);
      this.log.info({ ...meta, exitCode, timedOut, reports: reports.length, notRead: notRead.length, durationMs: Date.now() - started }, "tests finished");
      return { exitCode, timedOut, logTail: tail.lines(), reports, ...(notRead.length ? { reportsNotRead: notRead } : {}) };
    } catch (err) {
      if (signal.aborted || err instanceof CancelledError) {
        this.log.info(meta, "tests cancelled");
        throw new CancelledError("tests cancelled");
      }
      throw new Error(this.redact([`tests could not run: ${engineMessage(err)}`, ...tail.lines()].join("\n")));
    } finally {
      await this.containers.remove(container?.id ?? name);
    }
  }

  private call(signal?: AbortSignal): { timeoutMs: number; signal?: AbortSignal | undefined } {
    return { timeoutMs: this.callMs, signal };
  }

  /**
   * Stream a running container's output into `onLine` until it stops. Resolves (never rejects)
   * when the stream ends; bounded so a stuck stream cannot hang a run.
   */
  private async followLogs(container: Docker.Container, onLine: (line: string) => void): Promise<void> {
    let stream: Readable;
    try {
      stream = (await engineCall("container logs", this.call(), (s) =>
        container.logs({ stdout: true, stderr: true, follow: true, abortSignal: s }),
      )) as Readable;
    } catch (err) {
      this.log.warn({ container: container.id, error: engineMessage(err) }, "could not follow container logs");
      return;
    }
    const demuxer = new LogDemuxer((line) => onLine(line), this.redact);
    return new Promise<void>((resolve) => {
      let done = false;
      const finish = (): void => {
        if (done) return;
        done = true;
        demuxer.end();
        resolve();
      };
      stream.on("data", (chunk: Buffer) => demuxer.write(chunk));
      stream.on("end", finish);
      stream.on("close", finish);
      stream.on("error", finish);
      // The engine ends the stream when the container stops; removal closes it too.
      container
        .wait()
        .catch(() => undefined)
        .finally(() =>
          setTimeout(() => {
            if (!done) stream.destroy();
            finish();
          }, 2000).unref(),
        );
    });
  }

  private async kill(container: Docker.Container): Promise<void> {
    try {
      await engineCall("container kill", this.call(), (s) => container.kill({ signal: "SIGKILL", abortSignal: s }));
    } catch (err) {
      // 409: it exited by itself meanwhile; 404: already gone.
      if (statusCodeOf(err) !== 409 && !isNotFound(err)) throw err;
    }
    await engineCall("container wait", this.call(), (s) => container.wait({ abortSignal: s })).catch(() => undefined);
  }

  /** `*.xml` files anywhere under `dir` in the (stopped) container. */
  private async copyReports(
    container: Docker.Container,
    dir: string,
    signal: AbortSignal,
  ): Promise<{ reports: Array<{ path: string; content: string }>; notRead: string[] }> {
    const reports: Array<{ path: string; content: string }> = [];
    const notRead: string[] = [];
    const parent = posix.dirname(posix.normalize(dir));
    await engineCall("report copy", this.call(signal), async (s) => {
      let archive: Readable;
      try {
        archive = (await container.getArchive({ path: dir, abortSignal: s } as { path: string })) as Readable;
      } catch (err) {
        if (isNotFound(err)) return; // no reports directory: no reports
        throw err;
      }
      const extract = tar.extract();
      archive.on("error", (err) => extract.destroy(err));
      archive.pipe(extract);
      let total = 0;
      for await (const entry of extract) {
        const { name, type, size = 0 } = entry.header;
        const isReport = type === "file" && name.toLowerCase().endsWith(".xml");
        if (!isReport) {
          entry.resume();
          continue;
        }
        if (reports.length >= REPORT_LIMITS.files || size > REPORT_LIMITS.fileBytes || total + size > REPORT_LIMITS.totalBytes) {
          // Never dropped silently: a report berth did not read fails the stage, saying why.
          const why = reports.length >= REPORT_LIMITS.files ? `more than ${REPORT_LIMITS.files} report files` : size > REPORT_LIMITS.fileBytes ? `${mib(size)} MiB, over ${mib(REPORT_LIMITS.fileBytes)} MiB per file` : `over ${mib(REPORT_LIMITS.totalBytes)} MiB of reports in all`;
          notRead.push(`${posix.join(parent, name)} (${why})`);
          this.log.warn({ file: name, size }, "report file not read: over the limits");
          entry.resume();
          continue;
        }
        const chunks: Buffer[] = [];
        for await (const chunk of entry) chunks.push(chunk as Buffer);
        total += size;
        // Entries are relative to the directory's parent (`reports/junit/x.xml`).
        reports.push({ path: posix.join(parent, name), content: Buffer.concat(chunks).toString("utf8") });
      }
    });
    return { reports, notRead };
  }
}
