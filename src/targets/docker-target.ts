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
import { engineCall, engineMessage } from "../adapters/docker/engine-call.js";
import { EngineContainers } from "../adapters/docker/engine-containers.js";
import { hostConfigLimits } from "../adapters/docker/engine-limits.js";
import type { ContainerLimits } from "../config/container-limits.js";
import type { RegistryCredentials } from "../adapters/docker/registry-credentials.js";
import { DEFAULT_INSTANCE, dnsLabel, sha7, shortHash } from "../domain/naming.js";
import {
  CancelledError,
  type ComposeDeploy,
  type DeployRequest,
  type DeployResult,
  type LogSink,
  type PreviewKey,
  type PreviewTarget,
  type TestRequest,
  type TestRunResult,
} from "../domain/ports.js";
import type { Redactor } from "../domain/redact.js";
import type { PreviewConfig } from "../domain/repo-config.js";
import { awaitPreviewHealth, DEPLOY_LOG_LINES, DeployFailure, deployComposeReported, deployFailure, PREVIEW_LOG_OPTIONS } from "./engine-deploy.js";
import { DOCKER_LABELS, keyFilters, prBase, previewKeysOf, runLabels, targetFilters, type EngineScope } from "./engine-labels.js";
import { EngineNetworks } from "./engine-network.js";
import { engineTestRun } from "./engine-test-run.js";
import { ComposeDeployer, runSeed, SERVICE_LABEL } from "./docker-compose-deployer.js";

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
  /**
   * `publish` (default): each preview's port is published on the engine's host and reached there.
   * `network`: nothing is published; berth reaches the preview at its address on the PR's bridge
   * network (berth must run on the engine's host, or be attached to the PR networks). Only with
   * berth's gateway, which is then the one way in.
   */
  reach?: "publish" | "network";
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
  private readonly reach: "publish" | "network";
  private readonly log: DockerTargetOptions["log"];
  private readonly redact: Redactor;
  private readonly timeouts: DockerTargetTimeouts;
  private readonly containers: EngineContainers;
  private readonly networks: EngineNetworks;
  private readonly tests: ContainerTestRunner;
  private readonly limits: ContainerLimits | undefined;
  private readonly compose: ComposeDeployer;

  constructor(options: DockerTargetOptions) {
    this.scope = { target: this.kind, instance: options.instance ?? DEFAULT_INSTANCE };
    this.limits = options.limits;
    this.docker = options.docker;
    this.previewHost = options.previewHost ?? "127.0.0.1";
    this.bindAddress = options.bindAddress ?? "0.0.0.0";
    this.probeHost = options.probeHost ?? this.previewHost;
    this.reach = options.reach ?? "publish";
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
    // A bridge network per PR on this one engine.
    this.networks = new EngineNetworks({ docker: this.docker, scope: this.scope, kind: { driver: "bridge" }, log: this.log, callMs: this.timeouts.callMs });
    this.tests = new ContainerTestRunner({ containers: this.containers, log: this.log, redact: this.redact, callMs: this.timeouts.callMs, limits: options.limits });
    this.compose = new ComposeDeployer({
      docker: this.docker,
      containers: this.containers,
      scope: this.scope,
      limits: this.limits,
      callMs: this.timeouts.callMs,
      log: this.log,
      ensureNetwork: (key, signal) => this.ensureNetwork(key, signal),
      portBindings: (portKey) => this.portBindings(portKey),
      reachAt: (container, port, signal) => this.reachAt(container, port, signal),
    });
  }

  /** A Compose preview (see `docker-compose-deployer.ts`): errors redacted and logged like a single container's. */
  private deployCompose(req: DeployRequest, compose: ComposeDeploy): Promise<DeployResult> {
    return deployComposeReported(req.key, compose.plan.services.length, () => this.compose.deploy(req, compose, this.emitter(req.onLog)), this.log, this.redact);
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
    if (req.compose) return this.deployCompose(req, req.compose);
    const seedNeeded = preview.seed !== undefined && (preview.seed.when === "every-deploy" || (await this.containers.list(keyFilters(this.scope, key, "preview"))).length === 0);
    const emit = this.emitter(req.onLog);
    const name = previewContainerName(key, req.sha, req.runId, this.scope.instance);
    const portKey = `${preview.port}/tcp`;
    let container: Docker.Container | undefined;
    let network: { name: string; created: boolean } | undefined;
    let url: string;
    let upstream: string;

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
            ...this.portBindings(portKey),
            // No restarts while deciding health: a crash must show as a crash. Set after promotion.
            RestartPolicy: { Name: "no" },
            LogConfig: { Type: "json-file", Config: { ...PREVIEW_LOG_OPTIONS } },
            ...hostConfigLimits(this.limits),
          },
        },
        { key: DOCKER_LABELS.run, value: req.runId },
        signal,
      );
      const created = container;
      await engineCall("container start", this.call(signal), (s) => created.start({ abortSignal: s }));
      ({ url, upstream } = await awaitPreviewHealth({
        ...(await this.reachAt(created, preview.port, signal)),
        preview,
        signal,
        emit,
        giveUpIf: () => this.stoppedReason(created),
      }));
      if (seedNeeded && preview.seed) await runSeed(this.docker, created.id, preview.seed, preview.timeout, signal, emit);
    } catch (err) {
      const cancelled = signal.aborted || err instanceof CancelledError;
      const logs = container && !cancelled ? await this.containers.logTail(container.id, DEPLOY_LOG_LINES) : [];
      // A create that was cut off may have left the container without telling us its id.
      await this.containers.remove(container?.id ?? name);
      if (network?.created) await this.networks.dropIfUnused(network.name);
      if (cancelled) {
        this.log.info({ container: name, key }, "preview deploy cancelled");
        throw new CancelledError("deploy cancelled");
      }
      const { reason, message } = deployFailure(err, logs);
      this.log.warn({ container: name, key, reason: this.redact(reason) }, "preview deploy failed");
      throw new Error(this.redact(message));
    }

    // Promoted: from here the new preview stays, even if the run is cancelled meanwhile.
    const promoted = container;
    await engineCall("container update", this.call(), () => promoted.update({ RestartPolicy: { Name: "unless-stopped" } })).catch((err: unknown) =>
      this.log.warn({ container: name, error: this.redact(engineMessage(err)) }, "could not set the preview's restart policy"),
    );
    try {
      for (const old of await this.containers.list(keyFilters(this.scope, key, "preview"))) {
        if (old.Id === promoted.id) continue;
        if (await this.containers.remove(old.Id)) emit(`removed previous preview ${old.Names[0]?.replace(/^\//, "") ?? old.Id.slice(0, 12)}`);
      }
    } catch (err) {
      // The new preview is live; a left-over old one goes with the next deploy or remove().
      this.log.warn({ key, error: this.redact(engineMessage(err)) }, "could not remove the previous preview");
    }
    this.log.info({ container: name, key, url, durationMs: Date.now() - started }, "preview deployed");
    return { url, internalUrl: `http://${name}:${preview.port}`, upstream };
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
    for (const container of await this.containers.list(keyFilters(this.scope, key))) {
      if (await this.containers.remove(container.Id)) removed++;
    }
    for (const network of await this.networks.list(keyFilters(this.scope, key))) {
      if (await this.networks.remove(network.Id)) removed++;
    }
    removed += await this.compose.removeVolumes(key);
    this.log.info({ key, removed }, "preview removed");
    return { removed };
  }

  /** Stop the PR's preview container; it stays, with its network, until `wake` (or a deploy) starts it. */
  async sleep(key: PreviewKey): Promise<{ stopped: number }> {
    let stopped = 0;
    for (const container of await this.containers.list(keyFilters(this.scope, key, "preview"))) {
      if (container.State !== "running") continue;
      await engineCall("container stop", this.call(), (s) => this.docker.getContainer(container.Id).stop({ t: 10, abortSignal: s }));
      stopped++;
    }
    this.log.info({ key, stopped }, "preview asleep");
    return { stopped };
  }

  /** Start the PR's stopped preview container and wait until it is healthy; its published port may have changed. */
  async wake(key: PreviewKey, preview: PreviewConfig, signal: AbortSignal): Promise<{ upstream: string; url: string }> {
    const all = (await this.containers.list(keyFilters(this.scope, key, "preview"))).sort((a, b) => a.Created - b.Created);
    if (all.length === 0) throw new Error("the preview's container is gone: comment /deploy to start it again");
    // Compose previews: every service again, in the order they were made (dependencies first).
    for (const info of all) {
      if (info.State !== "running") await engineCall("container start", this.call(signal), (s) => this.docker.getContainer(info.Id).start({ abortSignal: s }));
    }
    const routed = all.find((c) => c.Labels[SERVICE_LABEL] === undefined || c.Labels[SERVICE_LABEL] === preview.service) ?? all[all.length - 1]!;
    const container = this.docker.getContainer(routed.Id);
    const woken = await awaitPreviewHealth({
      ...(await this.reachAt(container, preview.port, signal)),
      preview,
      signal,
      emit: (line) => this.log.debug({ key, line }, "waking preview"),
      giveUpIf: () => this.stoppedReason(container),
    });
    this.log.info({ key, upstream: woken.upstream }, "preview awake");
    return woken;
  }

  /** The PRs that have a preview container (or a left-over network) on this engine. */
  async list(): Promise<PreviewKey[]> {
    const containers = await this.containers.list(targetFilters(this.scope, "preview"));
    const networks = await this.networks.list(targetFilters(this.scope));
    return previewKeysOf([...containers.map((c) => c.Labels), ...networks.map((n) => n.Labels)], this.log);
  }

  // ---- engine helpers -------------------------------------------------------------------------

  private call(signal?: AbortSignal): { timeoutMs: number; signal?: AbortSignal | undefined } {
    return { timeoutMs: this.timeouts.callMs, signal };
  }

  private emitter(onLog: LogSink | undefined): (line: string) => void {
    return (line) => onLog?.(this.redact(line));
  }

  /** The PR's bridge network, created when missing; `created` tells whether this call made it. */
  private ensureNetwork(key: PreviewKey, signal: AbortSignal): Promise<{ name: string; created: boolean }> {
    return this.networks.ensure(dockerNetworkName(key, this.scope.instance), key, signal);
  }

  /** Host-port bindings of a preview's port (none when previews are reached over their network). */
  private portBindings(portKey: string): { PortBindings?: Record<string, Array<{ HostIp: string; HostPort: string }>> } {
    return this.reach === "publish" ? { PortBindings: { [portKey]: [{ HostIp: this.bindAddress, HostPort: "" }] } } : {};
  }

  /** Where a started preview container is reached: its published port, or its address on the PR's network. */
  private async reachAt(container: Docker.Container, port: number, signal: AbortSignal): Promise<{ previewHost: string; probeHost: string; hostPort: string | number }> {
    if (this.reach === "publish") return { previewHost: this.previewHost, probeHost: this.probeHost, hostPort: await this.publishedPort(container, `${port}/tcp`, signal) };
    const info = await engineCall("container inspect", this.call(signal), (s) => container.inspect({ abortSignal: s }));
    const address = Object.values(info.NetworkSettings.Networks ?? {}).find((n) => n.IPAddress)?.IPAddress;
    if (!address) {
      const stopped = await this.stoppedReason(container);
      throw new DeployFailure(stopped ? `preview ${stopped}` : "the preview has no address on its network");
    }
    return { previewHost: address, probeHost: address, hostPort: port };
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
}
