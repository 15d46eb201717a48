/**
 * The `docker` preview target: each PR's preview runs as a container on one Docker engine, in a
 * user-defined bridge network of that PR, with its port published on the engine's host.
 *
 * Everything berth creates carries labels (`berth.managed`, `berth.target=docker`, `berth.host`,
 * `berth.repo`, `berth.pr`, `berth.sha`, `berth.run`, `berth.role`), so it can be found again
 * after a restart without any local state.
 */
import { posix } from "node:path";
import type { Readable } from "node:stream";
import type Docker from "dockerode";
import type { Logger } from "pino";
import * as tar from "tar-stream";
import { engineCall, EngineTimeoutError, engineMessage, isNotFound, statusCodeOf } from "../adapters/docker/engine-call.js";
import type { RegistryCredentials } from "../adapters/docker/image-builder.js";
import { registryOfReference, splitImageReference } from "../adapters/docker/image-builder.js";
import { demuxLogBuffer, LineTail, LogDemuxer } from "../adapters/docker/log-lines.js";
import { messageError, readProgress } from "../adapters/docker/progress-stream.js";
import { describeUnhealthy, waitUntilHealthy } from "../adapters/http-health.js";
import { formatDuration } from "../domain/duration.js";
import { dnsLabel, previewName, repoSlug, sha7, shortHash } from "../domain/naming.js";
import {
  CancelledError,
  type DeployRequest,
  type DeployResult,
  type LogSink,
  type PreviewKey,
  type PreviewTarget,
  type TestRequest,
  type TestRunResult,
} from "../domain/ports.js";
import type { Redactor } from "../domain/redact.js";

/** Label keys on every container and network this target creates. */
export const DOCKER_LABELS = {
  managed: "berth.managed",
  target: "berth.target",
  host: "berth.host",
  repo: "berth.repo",
  pr: "berth.pr",
  sha: "berth.sha",
  run: "berth.run",
  /** Tag-flow environment (on objects of environments, whose `berth.pr` is 0). */
  environment: "berth.environment",
  /** `preview`, `test` or `network`. */
  role: "berth.role",
} as const;

/** Time limits of the target's engine calls. */
export interface DockerTargetTimeouts {
  /** Short calls: create, start, inspect, remove, logs, archive. Default 30 s. */
  callMs: number;
  /** Pulling an image the engine does not have. Default 10 min. */
  pullMs: number;
}

export interface DockerTargetOptions {
  docker: Docker;
  /** Host put into preview URLs people open (BERTH_PREVIEW_HOST). Default `127.0.0.1`. */
  previewHost?: string;
  /** Host address published ports bind to. Default `0.0.0.0`. */
  bindAddress?: string;
  /**
   * Host berth itself uses to reach published ports for health checks. Default: `previewHost`
   * (whatever people can open, berth can usually open too).
   */
  probeHost?: string;
  log: Pick<Logger, "debug" | "info" | "warn" | "error">;
  redact: Redactor;
  /** Used when an image (e.g. a test image like `node:20`) must be pulled. */
  registryAuth?: RegistryCredentials | undefined;
  timeouts?: Partial<DockerTargetTimeouts>;
}

const DEFAULT_TIMEOUTS: DockerTargetTimeouts = { callMs: 30_000, pullMs: 10 * 60_000 };
/** Container log lines quoted when a preview fails to come up. */
const DEPLOY_LOG_LINES = 30;
/** Log lines returned from a test run. */
const TEST_LOG_LINES = 50;
/** Limits on what is copied out of the reports directory. */
const REPORT_LIMITS = { files: 200, fileBytes: 10 * 1024 * 1024, totalBytes: 50 * 1024 * 1024 };
/** Bounded container logs: previews can run for weeks. */
const LOG_CONFIG = { Type: "json-file", Config: { "max-size": "10m", "max-file": "3" } };

/** A deploy that failed for a reason berth words itself (not an engine error). */
class DeployFailure extends Error {}

function splitRepo(repo: string): [string, string] {
  const slash = repo.indexOf("/");
  return slash < 0 ? [repo, ""] : [repo.slice(0, slash), repo.slice(slash + 1)];
}

/** `<repo-slug>-pr-<n>` (or `<repo-slug>-env-<environment>`): the base of every name of a key's objects. */
function prBase(key: PreviewKey): string {
  const [owner, name] = splitRepo(key.repo);
  if (key.environment) return dnsLabel(`${repoSlug(owner, name)}-env-${key.environment}`);
  return previewName(owner, name, key.pr);
}

/** The PR's network. The code host is part of it: `acme/app#1` may exist on GitHub and on Gitee. */
export function dockerNetworkName(key: PreviewKey): string {
  return `berth-${key.host}-${prBase(key)}`;
}

/** The preview container of one run; also its host name inside the PR network (≤ 63 chars). */
export function previewContainerName(key: PreviewKey, sha: string, runId: string): string {
  return dnsLabel(`${prBase(key)}-${sha7(sha)}-${shortHash(runId, 6)}`);
}

/** The test container of one run. */
export function testContainerName(key: PreviewKey, sha: string, runId: string): string {
  return dnsLabel(`${prBase(key)}-test-${sha7(sha)}-${shortHash(runId, 6)}`);
}

/** `[::1]` for IPv6 literals in URLs. */
function urlHost(host: string): string {
  return host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
}

/** Docker label filters selecting a PR's objects (optionally one role). */
function keyFilters(key: PreviewKey, role?: string): string[] {
  const filters = [
    `${DOCKER_LABELS.managed}=true`,
    `${DOCKER_LABELS.target}=docker`,
    `${DOCKER_LABELS.host}=${key.host}`,
    `${DOCKER_LABELS.repo}=${key.repo}`,
    `${DOCKER_LABELS.pr}=${key.pr}`,
  ];
  if (key.environment) filters.push(`${DOCKER_LABELS.environment}=${key.environment}`);
  if (role) filters.push(`${DOCKER_LABELS.role}=${role}`);
  return filters;
}

function keyLabels(key: PreviewKey, role: string): Record<string, string> {
  return {
    [DOCKER_LABELS.managed]: "true",
    [DOCKER_LABELS.target]: "docker",
    [DOCKER_LABELS.host]: key.host,
    [DOCKER_LABELS.repo]: key.repo,
    [DOCKER_LABELS.pr]: String(key.pr),
    ...(key.environment ? { [DOCKER_LABELS.environment]: key.environment } : {}),
    [DOCKER_LABELS.role]: role,
  };
}

function keyFromLabels(labels: Record<string, string> | undefined): PreviewKey | undefined {
  if (!labels) return undefined;
  const host = labels[DOCKER_LABELS.host];
  const repo = labels[DOCKER_LABELS.repo];
  const pr = Number(labels[DOCKER_LABELS.pr]);
  if ((host !== "github" && host !== "gitee") || !repo || !Number.isInteger(pr) || pr <= 0) return undefined;
  return { host, repo, pr };
}

/** Previews as containers on a Docker engine. */
export class DockerTarget implements PreviewTarget {
  readonly kind = "docker" as const;
  private readonly docker: Docker;
  private readonly previewHost: string;
  private readonly bindAddress: string;
  private readonly probeHost: string;
  private readonly log: DockerTargetOptions["log"];
  private readonly redact: Redactor;
  private readonly registryAuth: RegistryCredentials | undefined;
  private readonly timeouts: DockerTargetTimeouts;

  constructor(options: DockerTargetOptions) {
    this.docker = options.docker;
    this.previewHost = options.previewHost ?? "127.0.0.1";
    this.bindAddress = options.bindAddress ?? "0.0.0.0";
    this.probeHost = options.probeHost ?? this.previewHost;
    this.log = options.log;
    this.redact = options.redact;
    this.registryAuth = options.registryAuth;
    this.timeouts = { ...DEFAULT_TIMEOUTS, ...options.timeouts };
  }

  /**
   * Start `req.image` as this run's preview, wait until GET `healthPath` answers < 500 within
   * `preview.timeout`, then remove the PR's older preview containers. On failure the new
   * container goes, the old preview keeps running, and the error message is the reason followed
   * by the container's last log lines. When `req.signal` aborts before the new preview is healthy,
   * everything this run started is removed and a {@link CancelledError} is thrown; once healthy,
   * the replacement completes regardless.
   */
  async deploy(req: DeployRequest): Promise<DeployResult> {
    const { key, preview, signal } = req;
    const started = Date.now();
    if (signal.aborted) throw new CancelledError("deploy cancelled");
    const emit = this.emitter(req.onLog);
    const name = previewContainerName(key, req.sha, req.runId);
    const portKey = `${preview.port}/tcp`;
    let container: Docker.Container | undefined;
    let network: { name: string; created: boolean } | undefined;
    let url: string;

    try {
      network = await this.ensureNetwork(key, signal);
      await this.ensureImage(req.image, signal, emit);
      emit(`starting ${name} from ${req.image}`);
      container = await this.createContainer(
        name,
        {
          Image: req.image,
          Env: Object.entries(preview.env).map(([k, v]) => `${k}=${v}`),
          Labels: { ...keyLabels(key, "preview"), [DOCKER_LABELS.sha]: req.sha, [DOCKER_LABELS.run]: req.runId },
          ExposedPorts: { [portKey]: {} },
          HostConfig: {
            NetworkMode: network.name,
            PortBindings: { [portKey]: [{ HostIp: this.bindAddress, HostPort: "" }] },
            // No restarts while deciding health: a crash must show as a crash. Set after promotion.
            RestartPolicy: { Name: "no" },
            LogConfig: LOG_CONFIG,
          },
        },
        req.runId,
        signal,
      );
      const created = container;
      await engineCall("container start", this.call(signal), (s) => created.start({ abortSignal: s }));
      const hostPort = await this.publishedPort(created, portKey, signal);
      url = `http://${urlHost(this.previewHost)}:${hostPort}/`;
      const probeUrl = `http://${urlHost(this.probeHost)}:${hostPort}${preview.healthPath}`;
      emit(`waiting up to ${formatDuration(preview.timeout)} for ${probeUrl} to answer below 500`);
      const health = await waitUntilHealthy(probeUrl, {
        timeoutMs: preview.timeout,
        intervalMs: 500,
        signal,
        giveUpIf: () => this.stoppedReason(created),
      });
      if (!health.healthy) {
        const why = describeUnhealthy(health);
        throw new DeployFailure(
          health.gaveUp
            ? `preview ${why}`
            : `preview did not become healthy within ${formatDuration(preview.timeout)} at ${preview.healthPath} (${why})`,
        );
      }
      emit(`healthy after ${formatDuration(health.elapsedMs)} (HTTP ${health.status})`);
    } catch (err) {
      const cancelled = signal.aborted || err instanceof CancelledError;
      const logs = container && !cancelled ? await this.logTail(container, DEPLOY_LOG_LINES) : [];
      // A create that was cut off may have left the container without telling us its id.
      await this.removeContainer(container?.id ?? name);
      if (network?.created) await this.dropUnusedNetwork(network.name);
      if (cancelled) {
        this.log.info({ container: name, key }, "preview deploy cancelled");
        throw new CancelledError("deploy cancelled");
      }
      const reason = err instanceof DeployFailure ? err.message : `preview could not be started: ${engineMessage(err)}`;
      this.log.warn({ container: name, key, reason: this.redact(reason) }, "preview deploy failed");
      throw new Error(this.redact([reason, ...logs].join("\n")));
    }

    // Promoted: from here the new preview stays, even if the run is cancelled meanwhile.
    const promoted = container;
    await engineCall("container update", this.call(), () => promoted.update({ RestartPolicy: { Name: "unless-stopped" } })).catch((err: unknown) =>
      this.log.warn({ container: name, error: this.redact(engineMessage(err)) }, "could not set the preview's restart policy"),
    );
    try {
      for (const old of await this.listContainers(keyFilters(key, "preview"))) {
        if (old.Id === promoted.id) continue;
        if (await this.removeContainer(old.Id)) emit(`removed previous preview ${old.Names[0]?.replace(/^\//, "") ?? old.Id.slice(0, 12)}`);
      }
    } catch (err) {
      // The new preview is live; a left-over old one goes with the next deploy or remove().
      this.log.warn({ key, error: this.redact(engineMessage(err)) }, "could not remove the previous preview");
    }
    this.log.info({ container: name, key, url, durationMs: Date.now() - started }, "preview deployed");
    return { url, internalUrl: `http://${name}:${preview.port}` };
  }

  /**
   * Run `req.command` (argv; it replaces the image's entrypoint) in a one-shot container on the
   * PR's network, so `PREVIEW_URL` (the preview's internal URL) resolves. A run past `timeoutMs`
   * is killed (`timedOut: true`, `exitCode: null`). JUnit reports are `*.xml` files at any depth
   * under `reportsDir`; a missing directory means no reports. The container is removed in every
   * case; an aborted signal kills it and throws {@link CancelledError}.
   */
  async runTests(req: TestRequest): Promise<TestRunResult> {
    const { key, signal } = req;
    if (signal.aborted) throw new CancelledError("tests cancelled");
    const [program, ...args] = req.command;
    if (program === undefined) throw new Error("the test command is empty");
    const emit = this.emitter(req.onLog);
    const name = testContainerName(key, req.sha, req.runId);
    const tail = new LineTail(TEST_LOG_LINES);
    let container: Docker.Container | undefined;
    const started = Date.now();

    try {
      const network = await this.ensureNetwork(key, signal);
      await this.ensureImage(req.image, signal, emit);
      container = await this.createContainer(
        name,
        {
          Image: req.image,
          Entrypoint: [program],
          Cmd: args,
          Env: Object.entries(req.env).map(([k, v]) => `${k}=${v}`),
          Labels: { ...keyLabels(key, "test"), [DOCKER_LABELS.sha]: req.sha, [DOCKER_LABELS.run]: req.runId },
          HostConfig: { NetworkMode: network.name, LogConfig: LOG_CONFIG },
        },
        req.runId,
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
      const reports = await this.copyReports(created, req.reportsDir, signal);
      this.log.info({ container: name, key, exitCode, timedOut, reports: reports.length, durationMs: Date.now() - started }, "tests finished");
      return { exitCode, timedOut, logTail: tail.lines(), reports };
    } catch (err) {
      if (signal.aborted || err instanceof CancelledError) {
        this.log.info({ container: name, key }, "tests cancelled");
        throw new CancelledError("tests cancelled");
      }
      throw new Error(this.redact([`tests could not run: ${engineMessage(err)}`, ...tail.lines()].join("\n")));
    } finally {
      await this.removeContainer(container?.id ?? name);
    }
  }

  /** Remove every container and the network of the PR. Not found is success. */
  async remove(key: PreviewKey): Promise<{ removed: number }> {
    let removed = 0;
    for (const container of await this.listContainers(keyFilters(key))) {
      if (await this.removeContainer(container.Id)) removed++;
    }
    const networks = await engineCall("network list", this.call(), (s) =>
      this.docker.listNetworks({ filters: { label: keyFilters(key) }, abortSignal: s } as Docker.NetworkListOptions),
    );
    for (const network of networks) {
      if (await this.removeNetwork(network.Id)) removed++;
    }
    this.log.info({ key, removed }, "preview removed");
    return { removed };
  }

  /** The PRs that have a preview container (or a left-over network) on this engine. */
  async list(): Promise<PreviewKey[]> {
    const base = [`${DOCKER_LABELS.managed}=true`, `${DOCKER_LABELS.target}=docker`];
    const containers = await this.listContainers([...base, `${DOCKER_LABELS.role}=preview`]);
    const networks = await engineCall("network list", this.call(), (s) =>
      this.docker.listNetworks({ filters: { label: base }, abortSignal: s } as Docker.NetworkListOptions),
    );
    const keys = new Map<string, PreviewKey>();
    for (const labels of [...containers.map((c) => c.Labels), ...networks.map((n) => n.Labels)]) {
      const key = keyFromLabels(labels);
      if (key) keys.set(`${key.host}\n${key.repo}\n${key.pr}`, key);
    }
    return [...keys.values()];
  }

  // ---- engine helpers -------------------------------------------------------------------------

  private call(signal?: AbortSignal): { timeoutMs: number; signal?: AbortSignal | undefined } {
    return { timeoutMs: this.timeouts.callMs, signal };
  }

  private emitter(onLog: LogSink | undefined): (line: string) => void {
    return (line) => onLog?.(this.redact(line));
  }

  private listContainers(labelFilters: string[]): Promise<Docker.ContainerInfo[]> {
    return engineCall("container list", this.call(), (s) =>
      this.docker.listContainers({ all: true, filters: { label: labelFilters }, abortSignal: s }),
    );
  }

  /** The PR's network, created when missing; `created` tells whether this call made it. */
  private async ensureNetwork(key: PreviewKey, signal: AbortSignal): Promise<{ name: string; created: boolean }> {
    const name = dockerNetworkName(key);
    try {
      await engineCall("network inspect", this.call(signal), () => this.docker.getNetwork(name).inspect());
      return { name, created: false };
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    try {
      await engineCall("network create", this.call(signal), (s) =>
        this.docker.createNetwork({ Name: name, Driver: "bridge", CheckDuplicate: true, Labels: keyLabels(key, "network"), abortSignal: s }),
      );
      this.log.info({ network: name, key }, "preview network created");
      return { name, created: true };
    } catch (err) {
      // Created meanwhile by another call for the same PR: that network serves as well.
      if (statusCodeOf(err) !== 409) throw err;
      return { name, created: false };
    }
  }

  /** Remove a network this run created when nothing uses it any more (a first deploy that failed). */
  private async dropUnusedNetwork(name: string): Promise<void> {
    try {
      await engineCall("network remove", this.call(), (s) => this.docker.getNetwork(name).remove({ abortSignal: s }));
    } catch (err) {
      // In use (a test container of another run, a preview) or gone already: leave it to remove().
      this.log.debug({ network: name, error: engineMessage(err) }, "network kept");
    }
  }

  /** Make sure the engine has `image`, pulling it when it does not (test images like `node:20`). */
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

  /**
   * Create a container named `name`. A container of the same name left by an interrupted attempt
   * of the same run is replaced; any other holder of the name is an error.
   */
  private async createContainer(name: string, spec: Docker.ContainerCreateOptions, runId: string, signal: AbortSignal): Promise<Docker.Container> {
    const create = (): Promise<Docker.Container> =>
      engineCall("container create", this.call(signal), (s) => this.docker.createContainer({ ...spec, name, abortSignal: s }));
    try {
      return await create();
    } catch (err) {
      if (statusCodeOf(err) !== 409) throw err;
      const existing = await engineCall("container inspect", this.call(signal), () => this.docker.getContainer(name).inspect());
      if (existing.Config.Labels?.[DOCKER_LABELS.run] !== runId) throw err;
      await this.removeContainer(existing.Id);
      return create();
    }
  }

  private async publishedPort(container: Docker.Container, portKey: string, signal: AbortSignal): Promise<string> {
    const info = await engineCall("container inspect", this.call(signal), (s) => container.inspect({ abortSignal: s }));
    const bindings = (info.NetworkSettings.Ports as Record<string, Array<{ HostIp: string; HostPort: string }> | null> | undefined)?.[portKey];
    const hostPort = bindings?.find((b) => b.HostPort)?.HostPort;
    if (!hostPort) {
      // A process that dies at once takes its port bindings with it.
      const stopped = await this.stoppedReason(container);
      throw new DeployFailure(stopped ? `preview ${stopped}` : `the engine published no host port for ${portKey}`);
    }
    return hostPort;
  }

  /** Why a container is no longer running (for an early end of the health wait), or undefined. */
  private async stoppedReason(container: Docker.Container): Promise<string | undefined> {
    try {
      const { State: state } = await engineCall("container inspect", this.call(), (s) => container.inspect({ abortSignal: s }));
      if (state.Running) return undefined;
      if (state.OOMKilled) return "was killed: out of memory";
      return `stopped before it became healthy (exit code ${state.ExitCode})`;
    } catch {
      // An engine hiccup must not fail the deploy: the HTTP probe still decides.
      return undefined;
    }
  }

  /** Last `lines` lines of a container's output; empty when they cannot be read. */
  private async logTail(container: Docker.Container, lines: number): Promise<string[]> {
    try {
      const data = await engineCall("container logs", this.call(), (s) =>
        container.logs({ stdout: true, stderr: true, follow: false, tail: lines, abortSignal: s }),
      );
      return demuxLogBuffer(Buffer.isBuffer(data) ? data : Buffer.from(String(data))).slice(-lines);
    } catch (err) {
      this.log.warn({ container: container.id, error: engineMessage(err) }, "could not read container logs");
      return [];
    }
  }

  /**
   * Stream a running container's output into `onLine` until it stops. Resolves (never rejects)
   * when the stream ends; the returned promise is bounded so a stuck stream cannot hang a run.
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
      // The engine ends the stream when the container stops; removal (finally) closes it too.
      container
        .wait()
        .catch(() => undefined)
        .finally(() => setTimeout(() => {
          if (!done) stream.destroy();
          finish();
        }, 2000).unref());
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

  /** Force-remove a container (id or name). Returns false when it did not exist. Never throws. */
  private async removeContainer(idOrName: string): Promise<boolean> {
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

  /** Remove a network, disconnecting anything still attached (a container someone attached by hand). */
  private async removeNetwork(id: string): Promise<boolean> {
    const network = this.docker.getNetwork(id);
    try {
      await engineCall("network remove", this.call(), (s) => network.remove({ abortSignal: s }));
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      const info = await engineCall("network inspect", this.call(), () => network.inspect()).catch(() => undefined);
      const attached = Object.keys((info?.Containers as Record<string, unknown> | undefined) ?? {});
      if (attached.length === 0) throw err;
      for (const container of attached) {
        await engineCall("network disconnect", this.call(), () => network.disconnect({ Container: container, Force: true })).catch(() => undefined);
      }
      await engineCall("network remove", this.call(), (s) => network.remove({ abortSignal: s }));
      return true;
    }
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
