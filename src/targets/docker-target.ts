/**
 * The `docker` preview target: each PR's preview runs as a container on one Docker engine, in a
 * user-defined bridge network of that PR, with its port published on the engine's host.
 *
 * Everything berth creates carries labels (`berth.managed`, `berth.target=docker`, `berth.host`,
 * `berth.repo`, `berth.pr`, `berth.sha`, `berth.run`, `berth.role`), so it can be found again
 * after a restart without any local state.
 */
import type Docker from "dockerode";
import type { Logger } from "pino";
import { ContainerTestRunner } from "../adapters/docker/container-test-runner.js";
import { engineCall, engineMessage, isNotFound, statusCodeOf } from "../adapters/docker/engine-call.js";
import { EngineContainers } from "../adapters/docker/engine-containers.js";
import { hostConfigLimits } from "../adapters/docker/engine-limits.js";
import type { ContainerLimits } from "../config/container-limits.js";
import type { RegistryCredentials } from "../adapters/docker/registry-credentials.js";
import { demuxLogBuffer } from "../adapters/docker/log-lines.js";
import { describeUnhealthy, waitUntilHealthy } from "../adapters/http-health.js";
import { formatDuration } from "../domain/duration.js";
import { DEFAULT_INSTANCE, dnsLabel, sha7, shortHash } from "../domain/naming.js";
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
import { DOCKER_LABELS, foreignObjectError, isOwnObject, keyFilters, keyLabels, prBase, previewKeysOf, runLabels, targetFilters, urlHost, type EngineScope } from "./engine-labels.js";
import { engineTestRun } from "./engine-test-run.js";

export { DOCKER_LABELS } from "./engine-labels.js";

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
  /** Memory, CPU and process limits of previews and test containers (BERTH_CONTAINER_LIMITS). */
  limits?: ContainerLimits | undefined;
  /** This berth installation (BERTH_INSTANCE): part of every name and label; default `default`. */
  instance?: string;
}

const DEFAULT_TIMEOUTS: DockerTargetTimeouts = { callMs: 30_000, pullMs: 10 * 60_000 };
/** Container log lines quoted when a preview fails to come up. */
const DEPLOY_LOG_LINES = 30;
/** Bounded container logs: previews can run for weeks. */
const LOG_CONFIG = { Type: "json-file", Config: { "max-size": "10m", "max-file": "3" } };

/** A deploy that failed for a reason berth words itself (not an engine error). */
class DeployFailure extends Error {}

/** The PR's network. The code host is part of it: `acme/app#1` may exist on GitHub and on Gitee. */
export function dockerNetworkName(key: PreviewKey, instance: string): string {
  return `berth-${key.host}-${prBase(key, instance)}`;
}

/** The preview container of one run; also its host name inside the PR network (≤ 63 chars). */
export function previewContainerName(key: PreviewKey, sha: string, runId: string, instance: string): string {
  return dnsLabel(`${prBase(key, instance)}-${sha7(sha)}-${shortHash(runId, 6)}`);
}

/** The test container of one run. */
export function testContainerName(key: PreviewKey, sha: string, runId: string, instance: string): string {
  return dnsLabel(`${prBase(key, instance)}-test-${sha7(sha)}-${shortHash(runId, 6)}`);
}

/** Previews as containers on a Docker engine. */
export class DockerTarget implements PreviewTarget {
  readonly kind = "docker" as const;
  private readonly scope: EngineScope;
  private readonly docker: Docker;
  private readonly previewHost: string;
  private readonly bindAddress: string;
  private readonly probeHost: string;
  private readonly log: DockerTargetOptions["log"];
  private readonly redact: Redactor;
  private readonly timeouts: DockerTargetTimeouts;
  private readonly containers: EngineContainers;
  private readonly tests: ContainerTestRunner;
  private readonly limits: ContainerLimits | undefined;

  constructor(options: DockerTargetOptions) {
    this.scope = { target: this.kind, instance: options.instance ?? DEFAULT_INSTANCE };
    this.limits = options.limits;
    this.docker = options.docker;
    this.previewHost = options.previewHost ?? "127.0.0.1";
    this.bindAddress = options.bindAddress ?? "0.0.0.0";
    this.probeHost = options.probeHost ?? this.previewHost;
    this.log = options.log;
    this.redact = options.redact;
    this.timeouts = { ...DEFAULT_TIMEOUTS, ...options.timeouts };
    this.containers = new EngineContainers({
      docker: this.docker,
      log: this.log,
      redact: this.redact,
      registryAuth: options.registryAuth,
      timeouts: this.timeouts,
    });
    this.tests = new ContainerTestRunner({ containers: this.containers, log: this.log, redact: this.redact, callMs: this.timeouts.callMs, limits: options.limits });
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
    const name = previewContainerName(key, req.sha, req.runId, this.scope.instance);
    const portKey = `${preview.port}/tcp`;
    let container: Docker.Container | undefined;
    let network: { name: string; created: boolean } | undefined;
    let url: string;

    try {
      network = await this.ensureNetwork(key, signal);
      await this.containers.ensureImage(req.image, signal, emit);
      emit(`starting ${name} from ${req.image}`);
      container = await this.containers.create(
        name,
        {
          Image: req.image,
          Env: Object.entries(preview.env).map(([k, v]) => `${k}=${v}`),
          Labels: runLabels(this.scope, key, "preview", req.sha, req.runId),
          ExposedPorts: { [portKey]: {} },
          HostConfig: {
            NetworkMode: network.name,
            PortBindings: { [portKey]: [{ HostIp: this.bindAddress, HostPort: "" }] },
            // No restarts while deciding health: a crash must show as a crash. Set after promotion.
            RestartPolicy: { Name: "no" },
            LogConfig: LOG_CONFIG,
            ...hostConfigLimits(this.limits),
          },
        },
        { key: DOCKER_LABELS.run, value: req.runId },
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
      await this.containers.remove(container?.id ?? name);
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
      for (const old of await this.listContainers(keyFilters(this.scope, key, "preview"))) {
        if (old.Id === promoted.id) continue;
        if (await this.containers.remove(old.Id)) emit(`removed previous preview ${old.Names[0]?.replace(/^\//, "") ?? old.Id.slice(0, 12)}`);
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
    const name = testContainerName(req.key, req.sha, req.runId, this.scope.instance);
    return this.tests.run(engineTestRun(this.scope, req, name, async () => (await this.ensureNetwork(req.key, req.signal)).name));
  }


  /** Remove every container and the network of the PR. Not found is success. */
  async remove(key: PreviewKey): Promise<{ removed: number }> {
    let removed = 0;
    for (const container of await this.listContainers(keyFilters(this.scope, key))) {
      if (await this.containers.remove(container.Id)) removed++;
    }
    const networks = await engineCall("network list", this.call(), (s) =>
      this.docker.listNetworks({ filters: { label: keyFilters(this.scope, key) }, abortSignal: s } as Docker.NetworkListOptions),
    );
    for (const network of networks) {
      if (await this.removeNetwork(network.Id)) removed++;
    }
    this.log.info({ key, removed }, "preview removed");
    return { removed };
  }

  /** The PRs that have a preview container (or a left-over network) on this engine. */
  async list(): Promise<PreviewKey[]> {
    const containers = await this.listContainers(targetFilters(this.scope, "preview"));
    const networks = await engineCall("network list", this.call(), (s) =>
      this.docker.listNetworks({ filters: { label: targetFilters(this.scope) }, abortSignal: s } as Docker.NetworkListOptions),
    );
    return previewKeysOf([...containers.map((c) => c.Labels), ...networks.map((n) => n.Labels)]);
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
    const name = dockerNetworkName(key, this.scope.instance);
    const existing = await this.inspectNetwork(name, signal);
    if (existing) {
      if (!isOwnObject(existing.Labels, this.scope, key)) throw foreignObjectError("network", name, key);
      return { name, created: false };
    }
    try {
      await engineCall("network create", this.call(signal), (s) =>
        this.docker.createNetwork({ Name: name, Driver: "bridge", CheckDuplicate: true, Labels: keyLabels(this.scope, key, "network"), abortSignal: s }),
      );
      this.log.info({ network: name, key }, "preview network created");
      return { name, created: true };
    } catch (err) {
      // Created meanwhile by another call for the same PR: that network serves as well.
      if (statusCodeOf(err) !== 409) throw err;
      const raced = await this.inspectNetwork(name, signal);
      if (!raced || !isOwnObject(raced.Labels, this.scope, key)) throw foreignObjectError("network", name, key);
      return { name, created: false };
    }
  }

  /** A network's labels, or undefined when there is none of that name. */
  private async inspectNetwork(name: string, signal: AbortSignal): Promise<{ Labels?: Record<string, string> } | undefined> {
    try {
      return (await engineCall("network inspect", this.call(signal), () => this.docker.getNetwork(name).inspect())) as { Labels?: Record<string, string> };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
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
      return demuxLogBuffer(Buffer.isBuffer(data) ? data : Buffer.from(String(data)), this.redact).slice(-lines);
    } catch (err) {
      this.log.warn({ container: container.id, error: engineMessage(err) }, "could not read container logs");
      return [];
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
}
