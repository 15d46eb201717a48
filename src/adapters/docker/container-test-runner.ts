/**
 * One-shot test containers on a Docker engine: run an argv command in a container on a given
 * network, stream its output, enforce a time limit, copy JUnit reports out, always remove it.
 *
 * Used by the Swarm target (the container joins the PR's attachable overlay network). It is the
 * same procedure as `DockerTarget.runTests`, kept free of target details (names, labels and
 * network come from the caller) so that both targets can share it.
 */
import { posix } from "node:path";
import type { Readable } from "node:stream";
import type Docker from "dockerode";
import type { Logger } from "pino";
import * as tar from "tar-stream";
import { formatDuration } from "../../domain/duration.js";
import { CancelledError, type TestRunResult } from "../../domain/ports.js";
import type { Redactor } from "../../domain/redact.js";
import { engineCall, EngineTimeoutError, engineMessage, isNotFound, statusCodeOf } from "./engine-call.js";
import { registryOfReference, splitImageReference, type RegistryCredentials } from "./image-builder.js";
import { LineTail, LogDemuxer } from "./log-lines.js";
import { messageError, readProgress } from "./progress-stream.js";

/** Log lines returned from a test run. */
const TEST_LOG_LINES = 50;
/** Limits on what is copied out of the reports directory. */
const REPORT_LIMITS = { files: 200, fileBytes: 10 * 1024 * 1024, totalBytes: 50 * 1024 * 1024 };
/** Bounded container logs. */
const LOG_CONFIG = { Type: "json-file", Config: { "max-size": "10m", "max-file": "3" } };

/** Time limits of the runner's engine calls. */
export interface ContainerTestRunnerTimeouts {
  /** Short calls: create, start, inspect, remove, logs, archive. */
  callMs: number;
  /** Pulling a test image the engine does not have. */
  pullMs: number;
}

export interface ContainerTestRunnerOptions {
  docker: Docker;
  log: Pick<Logger, "debug" | "info" | "warn" | "error">;
  redact: Redactor;
  /** Sent when the test image must be pulled from a registry other than Docker Hub. */
  registryAuth?: RegistryCredentials | undefined;
  timeouts: ContainerTestRunnerTimeouts;
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
  runLabel: { key: string; value: string };
  /** Network the container joins (a bridge, or an attachable overlay). */
  network: string;
  /** Directory in the container whose `*.xml` files (any depth) are the reports. */
  reportsDir: string;
  timeoutMs: number;
  signal: AbortSignal;
  /** Every output line, redacted. */
  onLog?: (line: string) => void;
  /** Extra fields of the runner's log records (the preview key, ...). */
  logMeta?: Record<string, unknown>;
}

/** Runs test commands in one-shot containers. */
export class ContainerTestRunner {
  private readonly docker: Docker;
  private readonly log: ContainerTestRunnerOptions["log"];
  private readonly redact: Redactor;
  private readonly registryAuth: RegistryCredentials | undefined;
  private readonly timeouts: ContainerTestRunnerTimeouts;

  constructor(options: ContainerTestRunnerOptions) {
    this.docker = options.docker;
    this.log = options.log;
    this.redact = options.redact;
    this.registryAuth = options.registryAuth;
    this.timeouts = options.timeouts;
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
    const meta = { container: name, ...req.logMeta };
    const tail = new LineTail(TEST_LOG_LINES);
    let container: Docker.Container | undefined;
    const started = Date.now();

    try {
      await this.ensureImage(req.image, signal, (line) => req.onLog?.(this.redact(line)));
      container = await this.createContainer(
        name,
        {
          Image: req.image,
          Entrypoint: [program],
          Cmd: args,
          Env: Object.entries(req.env).map(([k, v]) => `${k}=${v}`),
          Labels: req.labels,
          HostConfig: { NetworkMode: req.network, LogConfig: LOG_CONFIG },
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
        req.onLog?.(`test command timed out after ${formatDuration(req.timeoutMs)}; killing it`);
        await this.kill(created);
      }
      await logsDone;
      const reports = await this.copyReports(created, req.reportsDir, signal);
      this.log.info({ ...meta, exitCode, timedOut, reports: reports.length, durationMs: Date.now() - started }, "tests finished");
      return { exitCode, timedOut, logTail: tail.lines(), reports };
    } catch (err) {
      if (signal.aborted || err instanceof CancelledError) {
        this.log.info(meta, "tests cancelled");
        throw new CancelledError("tests cancelled");
      }
      throw new Error(this.redact([`tests could not run: ${engineMessage(err)}`, ...tail.lines()].join("\n")));
    } finally {
      await this.removeContainer(container?.id ?? name);
    }
  }

  /** Force-remove a container (id or name). Returns false when it did not exist. Never throws. */
  async removeContainer(idOrName: string): Promise<boolean> {
    try {
      await engineCall("container remove", this.call(), (s) => this.docker.getContainer(idOrName).remove({ force: true, v: true, abortSignal: s }));
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      // 409 "removal already in progress" means it is going away anyway.
      if (statusCodeOf(err) === 409) return true;
      this.log.warn({ container: idOrName, error: engineMessage(err) }, "could not remove container");
      return false;
    }
  }

  private call(signal?: AbortSignal): { timeoutMs: number; signal?: AbortSignal | undefined } {
    return { timeoutMs: this.timeouts.callMs, signal };
  }

  /** Make sure the engine has `image`, pulling it when it does not. */
  private async ensureImage(image: string, signal: AbortSignal, emit: (line: string) => void): Promise<void> {
    try {
      await engineCall("image inspect", this.call(signal), () => this.docker.getImage(image).inspect());
      return;
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    emit(`pulling ${image}`);
    const { repository, tag } = splitImageReference(image);
    const serveraddress = registryOfReference(image);
    const auth = this.registryAuth && serveraddress !== "docker.io" ? { ...this.registryAuth, serveraddress } : undefined;
    await engineCall("image pull", { timeoutMs: this.timeouts.pullMs, signal }, async (s) => {
      const stream = (await this.docker.createImage(auth ?? {}, { fromImage: repository, tag, abortSignal: s })) as Readable;
      for await (const message of readProgress(stream)) {
        const error = messageError(message);
        if (error) throw new Error(`image ${image} is not on the engine and could not be pulled: ${this.redact(error)}`);
      }
    });
  }

  private async createContainer(
    name: string,
    spec: Docker.ContainerCreateOptions,
    runLabel: ContainerTestRun["runLabel"],
    signal: AbortSignal,
  ): Promise<Docker.Container> {
    const create = (): Promise<Docker.Container> =>
      engineCall("container create", this.call(signal), (s) => this.docker.createContainer({ ...spec, name, abortSignal: s }));
    try {
      return await create();
    } catch (err) {
      if (statusCodeOf(err) !== 409) throw err;
      const existing = await engineCall("container inspect", this.call(signal), () => this.docker.getContainer(name).inspect());
      if (existing.Config.Labels?.[runLabel.key] !== runLabel.value) throw err;
      await this.removeContainer(existing.Id);
      return create();
    }
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
    const demuxer = new LogDemuxer((line) => onLine(line));
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
  private async copyReports(container: Docker.Container, dir: string, signal: AbortSignal): Promise<Array<{ path: string; content: string }>> {
    const reports: Array<{ path: string; content: string }> = [];
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
        const wanted = type === "file" && name.toLowerCase().endsWith(".xml") && reports.length < REPORT_LIMITS.files;
        if (!wanted || size > REPORT_LIMITS.fileBytes || total + size > REPORT_LIMITS.totalBytes) {
          if (wanted) this.log.warn({ file: name, size }, "report file skipped: too large");
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
    return reports;
  }
}
