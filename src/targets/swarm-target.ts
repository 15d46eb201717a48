/**
 * The `swarm` preview target: each PR's preview is one replicated Swarm service (one replica) on
 * an attachable overlay network of that PR, with its port published on the nodes. `DOCKER_HOST`
 * points at a Swarm manager.
 *
 * - A new push updates the PR's service in place (a rolling update), so the service, its name and
 *   its published port survive across pushes. With `publishMode: host` the port is bound on the
 *   node running the task; the first deploy lets Docker choose it and later updates keep it, which
 *   forces `stop-first` updates (two tasks cannot bind one port on one node). With `ingress` the
 *   routing mesh publishes a Swarm-assigned port on every node and updates are `start-first`.
 * - Host mode uses DNS round-robin endpoints (`dnsrr`): the service name resolves to task
 *   addresses directly, so the test container reaches the preview without IPVS. Ingress needs
 *   the default virtual IP (`vip`).
 * - Everything berth creates carries the labels of {@link DOCKER_LABELS} with `berth.target=swarm`,
 *   so it can be found again after a restart without any local state.
 */
import type Docker from "dockerode";
import type { Logger } from "pino";
import { ContainerTestRunner } from "../adapters/docker/container-test-runner.js";
import { engineMessage, isNotFound } from "../adapters/docker/engine-call.js";
import { EngineContainers } from "../adapters/docker/engine-containers.js";
import { swarmResources } from "../adapters/docker/engine-limits.js";
import type { ContainerLimits } from "../config/container-limits.js";
import type { RegistryCredentials } from "../adapters/docker/registry-credentials.js";
import { swarmRollbackSpec, swarmServiceSpec, type SwarmServiceSpec } from "../adapters/docker/swarm-service-spec.js";
import { SwarmServices, type SwarmService, type SwarmTask } from "../adapters/docker/swarm-services.js";
import { isEndedTask, isRunningTask, TASK_POLL_MS, waitForTask } from "../adapters/docker/swarm-tasks.js";
import type { PreviewConfig } from "../config/repo-config.js";
import { formatDuration } from "../domain/duration.js";
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
import { previewKeyText } from "../domain/preview-key.js";
import type { Redactor } from "../domain/redact.js";
import { awaitPreviewHealth, DEPLOY_LOG_LINES, DeployFailure, deployComposeReported, deployFailure, PREVIEW_LOG_OPTIONS } from "./engine-deploy.js";
import { DOCKER_LABELS, isOwnObject, keyFilters, prBase, previewKeysOf, runLabels, targetFilters, type EngineScope } from "./engine-labels.js";
import { EngineNetworks } from "./engine-network.js";
import { engineTestRun } from "./engine-test-run.js";
import { SwarmComposeDeployer } from "./swarm-compose-deployer.js";
import { SERVICE_LABEL } from "./docker-compose-deployer.js";

/** Time limits of the target. */
export interface SwarmTargetTimeouts {
  /** Short engine calls: create, update, inspect, list, remove, logs. Default 30 s. */
  callMs: number;
  /**
   * From creating or updating the service until its new task runs (the node pulls the image
   * meanwhile); the health wait (`preview.timeout`) starts after it. Default 10 min. Also bounds
   * pulling a test image.
   */
  startMs: number;
  /** Grace period between SIGTERM and SIGKILL when Swarm stops a preview task. Default 10 s (Docker's). */
  stopGraceMs: number;
  /** How long `remove` waits for the service's tasks and the network to be gone. Default 60 s. */
  removeMs: number;
}

export interface SwarmTargetOptions {
  /** Client of a Swarm manager. */
  docker: Docker;
  /** Host put into preview URLs people open (BERTH_PREVIEW_HOST). Default `127.0.0.1`. */
  previewHost?: string;
  /** Host berth itself uses to reach published ports for health checks. Default: `previewHost`. */
  probeHost?: string;
  log: Pick<Logger, "debug" | "info" | "warn" | "error">;
  redact: Redactor;
  /** Sent with service creates and updates so that every node can pull the image. */
  registryAuth?: RegistryCredentials | undefined;
  timeouts?: Partial<SwarmTargetTimeouts>;
  /**
   * Placement constraints of preview services (e.g. `node.hostname==edge-1`). With host-mode
   * publishing the port opens on the node running the task only, so on a multi-node Swarm pin
   * previews to the node `previewHost` names.
   */
  constraints?: string[];
  /** Memory, CPU and process limits of preview tasks and test containers (BERTH_CONTAINER_LIMITS). */
  limits?: ContainerLimits | undefined;
  /** This berth installation (BERTH_INSTANCE): part of every name and label; default `default`. */
  instance?: string;
}

const DEFAULT_TIMEOUTS: SwarmTargetTimeouts = { callMs: 30_000, startMs: 10 * 60_000, stopGraceMs: 10_000, removeMs: 60_000 };

/** The tasks of one deploy: those created from the spec carrying this `ForceUpdate` value and run. */
interface DeployMark {
  forceUpdate: number;
  runId: string;
}

/**
 * The PR's service, also its DNS name on the PR network: `<repo-slug>-pr-<n>`. Previews of other
 * code hosts than GitHub get the host as prefix: a repository mirrored to Gitee has the same
 * `owner/name` and PR numbers, and service names are unique in the whole Swarm.
 */
export function swarmServiceName(key: PreviewKey, instance: string): string {
  return prBase(key, instance);
}

/** The PR's attachable overlay network. */
export function swarmNetworkName(key: PreviewKey, instance: string): string {
  return `berth-swarm-${key.host}-${prBase(key, instance)}`;
}

/** The test container of one run (on the manager's engine). */
export function swarmTestContainerName(key: PreviewKey, sha: string, runId: string, instance: string): string {
  return dnsLabel(`${swarmServiceName(key, instance)}-test-${sha7(sha)}-${shortHash(runId, 6)}`);
}

function isDeployTask(task: SwarmTask, mark: DeployMark): boolean {
  return (task.Spec?.ForceUpdate ?? 0) === mark.forceUpdate && task.Spec?.ContainerSpec?.Labels?.[DOCKER_LABELS.run] === mark.runId;
}

/** The image a service runs (for the registry credentials of an update). */
function imageOf(service: SwarmService): string {
  return service.Spec.TaskTemplate?.ContainerSpec?.Image ?? "";
}

/** Why a task ended, worded like the Docker target's container checks. */
function endedReason(task: SwarmTask): string {
  const status = task.Status ?? {};
  const exitCode = status.ContainerStatus?.ExitCode;
  if ((status.State === "failed" || status.State === "complete") && typeof exitCode === "number") {
    return `stopped before it became healthy (exit code ${exitCode})`;
  }
  const err = status.Err?.trim();
  return `task ${status.State ?? "ended"}${err ? `: ${err}` : ""}`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Previews as Swarm services. */
export class SwarmTarget implements PreviewTarget {
  readonly kind = "swarm" as const;
  private readonly scope: EngineScope;
  private readonly previewHost: string;
  private readonly probeHost: string;
  private readonly log: SwarmTargetOptions["log"];
  private readonly redact: Redactor;
  private readonly timeouts: SwarmTargetTimeouts;
  private readonly constraints: string[];
  private readonly containers: EngineContainers;
  private readonly networks: EngineNetworks;
  private readonly services: SwarmServices;
  private readonly tests: ContainerTestRunner;
  private readonly resources: Docker.ResourceRequirements | undefined;
  private readonly compose: SwarmComposeDeployer;

  constructor(options: SwarmTargetOptions) {
    this.scope = { target: this.kind, instance: options.instance ?? DEFAULT_INSTANCE };
    this.resources = swarmResources(options.limits);
    this.previewHost = options.previewHost ?? "127.0.0.1";
    this.probeHost = options.probeHost ?? this.previewHost;
    this.log = options.log;
    this.redact = options.redact;
    this.timeouts = { ...DEFAULT_TIMEOUTS, ...options.timeouts };
    this.constraints = options.constraints ?? [];
    this.containers = new EngineContainers({
      docker: options.docker,
      log: this.log,
      redact: this.redact,
      registryAuth: options.registryAuth,
      timeouts: { callMs: this.timeouts.callMs, pullMs: this.timeouts.startMs },
    });
    // Attachable, so that the one-shot test container on the manager can join the services' network.
    this.networks = new EngineNetworks({ docker: options.docker, scope: this.scope, kind: { driver: "overlay", attachable: true }, log: this.log, callMs: this.timeouts.callMs });
    this.services = new SwarmServices({ docker: options.docker, registryAuth: options.registryAuth, callMs: this.timeouts.callMs });
    this.tests = new ContainerTestRunner({ containers: this.containers, log: this.log, redact: this.redact, callMs: this.timeouts.callMs, limits: options.limits });
    this.compose = new SwarmComposeDeployer({
      docker: options.docker,
      services: this.services,
      scope: this.scope,
      previewHost: this.previewHost,
      probeHost: this.probeHost,
      callMs: this.timeouts.callMs,
      startMs: this.timeouts.startMs,
      stopGraceMs: this.timeouts.stopGraceMs,
      resources: this.resources,
      constraints: this.constraints,
      log: this.log,
      ensureNetwork: (key, signal) => this.ensureNetwork(key, signal),
      pinnedImage: (image, signal) => this.pinnedImage(image, signal),
      removeServices: (key) => this.removeServices(key),
    });
  }

  /** The PR's services gone, with their tasks and containers (the network and volumes stay). */
  private async removeServices(key: PreviewKey): Promise<void> {
    const services = await this.services.list(keyFilters(this.scope, key, "preview"));
    for (const service of services) await this.services.remove(service.ID);
    const deadline = Date.now() + this.timeouts.removeMs;
    for (;;) {
      const tasks = (await this.services.allTasks()).filter((t) => t.ServiceID && services.some((s) => s.ID === t.ServiceID));
      const containers = await this.containers.list(keyFilters(this.scope, key, "preview"));
      if ((tasks.length === 0 && containers.length === 0) || Date.now() >= deadline) return;
      await sleep(TASK_POLL_MS);
    }
  }

  /** A Compose preview (see `swarm-compose-deployer.ts`), errors redacted and logged like a single service's. */
  private deployCompose(req: DeployRequest, compose: ComposeDeploy): Promise<DeployResult> {
    return deployComposeReported(req.key, compose.plan.services.length, () => this.compose.deploy(req, compose, this.emitter(req.onLog)), this.log, this.redact);
  }


  /**
   * Create the PR's service from `req.image`, or update it (a rolling update) when it exists,
   * wait until the task of this deploy runs and GET `healthPath` answers < 500 within
   * `preview.timeout`. On failure a service this deploy created is removed and an updated one is
   * rolled back to its previous spec; the error message is the reason (plus `; rolled back to
   * <sha7>`) followed by the failing task's last log lines. When `req.signal` aborts before the
   * preview is healthy, or while a failed deploy is still being cleaned up, the same clean-up runs
   * and a {@link CancelledError} is thrown.
   */
  async deploy(req: DeployRequest): Promise<DeployResult> {
    const { key, preview, signal } = req;
    const started = Date.now();
    if (signal.aborted) throw new CancelledError("deploy cancelled");
    if (req.compose) return this.deployCompose(req, req.compose);
    const emit = this.emitter(req.onLog);
    const name = swarmServiceName(key, this.scope.instance);
    let network: { name: string; created: boolean } | undefined;
    let previous: SwarmService | undefined;
    let serviceId: string | undefined;
    let mark: DeployMark | undefined;
    let url: string;
    let upstream: string;

    try {
      network = await this.ensureNetwork(key, signal);
      const image = await this.pinnedImage(req.image, signal);
      previous = await this.services.inspect(name, signal);
      if (previous && !isOwnObject(previous.Spec.Labels, this.scope, key)) {
        throw new DeployFailure(`service ${name} exists but is not berth's preview of ${previewKeyText(key)}; remove or rename it`);
      }
      const existing = previous;
      mark = { forceUpdate: existing ? (existing.Spec.TaskTemplate?.ForceUpdate ?? 0) + 1 : 0, runId: req.runId };
      const port = existing ? await this.keptPort(existing, preview) : undefined;
      const spec = this.serviceSpec(req, image, network.name, mark.forceUpdate, port);
      if (!existing) {
        emit(`creating service ${name} from ${req.image}`);
        serviceId = await this.services.create(spec, image, signal);
        this.log.info({ service: spec.Name }, "preview service created");
      } else {
        serviceId = existing.ID;
        emit(`updating service ${name} to ${req.image} (${spec.UpdateConfig?.Order})`);
        await this.services.update(existing, spec, image, signal);
      }

      const task = await this.deployTask(serviceId, mark, preview.timeout, signal, emit);
      const hostPort = await this.publishedPort(serviceId, task, preview, signal);
      const watched = { id: serviceId, mark };
      ({ url, upstream } = await awaitPreviewHealth({
        previewHost: this.previewHost,
        probeHost: this.probeHost,
        hostPort,
        preview,
        signal,
        emit,
        giveUpIf: () => this.taskEnded(watched.id, watched.mark),
      }));
    } catch (err) {
      const cancelled = (): boolean => signal.aborted || err instanceof CancelledError;
      const logs = serviceId && mark && !cancelled() ? await this.deployLogs(serviceId, mark) : [];
      let outcome = "";
      if (previous && isOwnObject(previous.Spec.Labels, this.scope, key) && serviceId) {
        outcome = await this.rollBack(previous, preview.timeout, emit);
      } else if (!previous) {
        if (serviceId) emit(`removing service ${name}`);
        // A create that was cut off may have made the service without telling us its id.
        const removedId = await this.removeOwnService(serviceId ?? name, req.runId);
        if (network?.created) await this.dropNetwork(key, network.name, removedId);
      }
      // Asked again after the clean-up, which takes seconds (stopping the task, dropping the
      // network): an abort that arrives meanwhile cancels the deploy even when the wait had seen
      // the task end first, since the caller stopped the deploy before it settled.
      if (cancelled()) {
        this.log.info({ service: name, key }, "preview deploy cancelled");
        throw new CancelledError("deploy cancelled");
      }
      const { reason, message } = deployFailure(err, logs, outcome);
      this.log.warn({ service: name, key, reason: this.redact(reason), outcome }, "preview deploy failed");
      throw new Error(this.redact(message));
    }

    this.log.info({ service: name, key, url, durationMs: Date.now() - started }, "preview deployed");
    return { url, internalUrl: `http://${name}:${preview.port}`, upstream };
  }

  /**
   * Run `req.command` (argv; it replaces the image's entrypoint) in a one-shot container on the
   * manager's engine, attached to the PR's attachable overlay network so that the service name
   * in `PREVIEW_URL` resolves. Timeouts, reports and clean-up as with the Docker target.
   */
  async runTests(req: TestRequest): Promise<TestRunResult> {
    const name = swarmTestContainerName(req.key, req.sha, req.runId, this.scope.instance);
    return this.tests.run(engineTestRun(this.scope, req, name, async () => (await this.ensureNetwork(req.key, req.signal)).name));
  }


  /**
   * Remove the PR's service, test containers and network, and wait (bounded) until Swarm has
   * stopped the tasks and dropped the network. Not found is success.
   */
  async remove(key: PreviewKey): Promise<{ removed: number }> {
    let removed = 0;
    const services = await this.services.list(keyFilters(this.scope, key));
    for (const service of services) {
      if (await this.services.remove(service.ID)) removed++;
    }
    for (const container of await this.containers.list(keyFilters(this.scope, key, "test"))) {
      if (await this.containers.remove(container.Id)) removed++;
    }
    const deadline = Date.now() + this.timeouts.removeMs;
    for (const network of await this.networks.list(keyFilters(this.scope, key))) {
      if (await this.networks.removeWhenFree(network.Id, deadline)) removed++;
    }
    await this.waitUntilGone(key, services.map((s) => s.ID), deadline);
    removed += await this.compose.removeVolumes(key);
    this.log.info({ key, removed }, "preview removed");
    return { removed };
  }

  /** Scale the PR's preview service to 0 replicas; its spec, network and volumes stay for `wake`. */
  async sleep(key: PreviewKey): Promise<{ stopped: number }> {
    let stopped = 0;
    for (const service of await this.services.list(keyFilters(this.scope, key, "preview"))) {
      if ((service.Spec.Mode?.Replicated?.Replicas ?? 1) === 0) continue;
      await this.services.update(service, { ...service.Spec, Mode: { Replicated: { Replicas: 0 } } }, imageOf(service));
      stopped++;
    }
    this.log.info({ key, stopped }, "preview asleep");
    return { stopped };
  }

  /** Scale the PR's preview service back to one replica and wait until its task is running and healthy. */
  async wake(key: PreviewKey, preview: PreviewConfig, signal: AbortSignal): Promise<{ upstream: string; url: string }> {
    const all = await this.services.list(keyFilters(this.scope, key, "preview"));
    // Compose previews: every service again; the routed one is waited for.
    const service = all.find((s) => s.Spec.Labels?.[SERVICE_LABEL] === undefined || s.Spec.Labels[SERVICE_LABEL] === preview.service) ?? all[0];
    if (!service) throw new Error("the preview's service is gone: comment /deploy to start it again");
    const since = Date.now();
    for (const each of all) {
      if ((each.Spec.Mode?.Replicated?.Replicas ?? 1) === 0) await this.services.update(each, { ...each.Spec, Mode: { Replicated: { Replicas: 1 } } }, imageOf(each), signal);
    }
    // A task created by this wake (or the one still running when the service was not asleep).
    const isWakeTask = (t: SwarmTask): boolean => t.DesiredState === "running" && (Date.parse(t.CreatedAt ?? "") >= since - 1000 || isRunningTask(t));
    const wait = await waitForTask(this.services, service.ID, { select: isWakeTask, startMs: this.timeouts.startMs, unschedulableMs: preview.timeout, signal, onState: () => undefined });
    if (wait.outcome === "cancelled") throw new CancelledError("wake cancelled");
    if (wait.outcome !== "running") throw new Error(`the preview did not start again (${wait.outcome === "ended" ? endedReason(wait.task) : wait.outcome === "unschedulable" ? wait.error : `last state: ${wait.lastState}`})`);
    const hostPort = await this.publishedPort(service.ID, wait.task, preview, signal);
    const woken = await awaitPreviewHealth({
      previewHost: this.previewHost,
      probeHost: this.probeHost,
      hostPort,
      preview,
      signal,
      emit: (line) => this.log.debug({ key, line }, "waking preview"),
      giveUpIf: async () => {
        const tasks = (await this.services.tasks(service.ID).catch(() => [])).filter((t) => t.ID === wait.task.ID);
        const ended = tasks.find(isEndedTask);
        return ended ? endedReason(ended) : undefined;
      },
    });
    this.log.info({ key, upstream: woken.upstream }, "preview awake");
    return woken;
  }

  /** The PRs that have a preview service (or a left-over network) on this Swarm. */
  async list(): Promise<PreviewKey[]> {
    const services = await this.services.list(targetFilters(this.scope, "preview"));
    const networks = await this.networks.list(targetFilters(this.scope));
    return previewKeysOf([...services.map((s) => s.Spec.Labels), ...networks.map((n) => n.Labels)], this.log);
  }

  // ---- service spec -----------------------------------------------------------------------------

  private serviceSpec(req: DeployRequest, image: string, network: string, forceUpdate: number, publishedPort: number | undefined): SwarmServiceSpec {
    const { key, preview } = req;
    return swarmServiceSpec({
      name: swarmServiceName(key, this.scope.instance),
      labels: runLabels(this.scope, key, "preview", req.sha, req.runId),
      image,
      env: preview.env,
      network,
      targetPort: preview.port,
      publishMode: preview.publishMode,
      publishedPort,
      forceUpdate,
      stopGraceMs: this.timeouts.stopGraceMs,
      logOptions: PREVIEW_LOG_OPTIONS,
      resources: this.resources,
      constraints: this.constraints,
    });
  }

  /** The published port of the current service that its update keeps (same mode and target port). */
  private async keptPort(existing: SwarmService, preview: PreviewConfig): Promise<number | undefined> {
    const matches = (p: Docker.PortConfig): boolean => p.TargetPort === preview.port && (p.PublishMode ?? "ingress") === preview.publishMode;
    const specPort = existing.Spec.EndpointSpec?.Ports?.find(matches)?.PublishedPort;
    if (specPort) return specPort;
    if (preview.publishMode === "ingress") return existing.Endpoint?.Ports?.find(matches)?.PublishedPort || undefined;
    // Host mode, chosen by Docker at the first deploy: read it from the running task.
    const tasks = await this.services.tasks(existing.ID).catch(() => [] as SwarmTask[]);
    const running = tasks.find(isRunningTask);
    return running?.Status?.PortStatus?.Ports?.find(matches)?.PublishedPort || undefined;
  }

  // ---- engine helpers ---------------------------------------------------------------------------

  private emitter(onLog: LogSink | undefined): (line: string) => void {
    return (line) => onLog?.(this.redact(line));
  }

  /**
   * `repo:tag@sha256:…` as the Docker CLI pins it, so every node runs the same bits and a tag
   * pushed again still rolls; the tag alone when the registry cannot be asked.
   */
  private async pinnedImage(image: string, signal: AbortSignal): Promise<string> {
    if (image.includes("@")) return image;
    try {
      const digest = await this.services.distributionDigest(image, signal);
      return digest ? `${image}@${digest}` : image;
    } catch (err) {
      if (signal.aborted || err instanceof CancelledError) throw err;
      this.log.warn({ image, error: this.redact(engineMessage(err)) }, "could not resolve the image digest; deploying the tag");
      return image;
    }
  }

  /**
   * Wait until the task of this deploy runs. Ends early with a {@link DeployFailure} when the
   * task ends (crash, image that cannot be pulled) or stays unschedulable for `unschedulableMs`
   * (the scheduler reports "host-mode port already in use" for a moment while the old task of a
   * stop-first update releases the port; a port held by something else never frees).
   */
  private async deployTask(
    serviceId: string,
    mark: DeployMark,
    unschedulableMs: number,
    signal: AbortSignal,
    emit: (line: string) => void,
  ): Promise<SwarmTask> {
    const { startMs } = this.timeouts;
    const wait = await waitForTask(this.services, serviceId, {
      select: (t) => isDeployTask(t, mark),
      startMs,
      unschedulableMs,
      signal,
      onState: (state, schedulerError) => emit(`task ${state}${schedulerError ? ` (${schedulerError})` : ""}`),
    });
    switch (wait.outcome) {
      case "running":
        return wait.task;
      case "cancelled":
        throw new CancelledError("deploy cancelled");
      case "ended":
        throw new DeployFailure(`preview ${endedReason(wait.task)}`);
      case "unschedulable":
        throw new DeployFailure(`preview task could not be scheduled for ${formatDuration(unschedulableMs)}: ${wait.error}`);
      case "timeout":
        throw new DeployFailure(`preview task did not start within ${formatDuration(startMs)} (last state: ${wait.lastState})`);
    }
  }

  /** Why the task of this deploy is no longer running (for an early end of the health wait), or undefined. */
  private async taskEnded(serviceId: string, mark: DeployMark): Promise<string | undefined> {
    try {
      const tasks = (await this.services.tasks(serviceId)).filter((t) => isDeployTask(t, mark));
      const ended = tasks.find(isEndedTask);
      return ended ? endedReason(ended) : undefined;
    } catch {
      // An engine hiccup must not fail the deploy: the HTTP probe still decides.
      return undefined;
    }
  }

  private async publishedPort(serviceId: string, task: SwarmTask, preview: PreviewConfig, signal: AbortSignal): Promise<number> {
    const matches = (p: Docker.PortConfig): boolean => p.TargetPort === preview.port && Boolean(p.PublishedPort);
    let port: number | undefined;
    if (preview.publishMode === "host") {
      // Docker binds 0.0.0.0 first (then ::, possibly on another port): the first one serves IPv4.
      port = task.Status?.PortStatus?.Ports?.find(matches)?.PublishedPort;
    } else {
      port = (await this.services.inspect(serviceId, signal))?.Endpoint?.Ports?.find(matches)?.PublishedPort;
    }
    if (!port) throw new DeployFailure(`the swarm published no ${preview.publishMode} port for ${preview.port}/tcp`);
    return port;
  }

  /** Last log lines of this deploy's newest task; empty when they cannot be read. */
  private async deployLogs(serviceId: string, mark: DeployMark): Promise<string[]> {
    try {
      const byAge = (await this.services.tasks(serviceId))
        .filter((t) => isDeployTask(t, mark))
        .sort((a, b) => (a.CreatedAt ?? "").localeCompare(b.CreatedAt ?? ""));
      // The task that ended, not the replacement Swarm's restart policy may have started already.
      const newest = byAge.filter(isEndedTask).at(-1) ?? byAge.at(-1);
      if (!newest) return [];
      return await this.services.taskLogs(newest.ID, DEPLOY_LOG_LINES, this.redact);
    } catch (err) {
      this.log.warn({ service: serviceId, error: engineMessage(err) }, "could not read task logs");
      return [];
    }
  }

  /**
   * Put the spec the service ran before this deploy back (with the published port it has now,
   * so its URL stays), and wait until its task runs. Returns the note for the error message.
   * Never throws.
   */
  private async rollBack(previous: SwarmService, unschedulableMs: number, emit: (line: string) => void): Promise<string> {
    const labels = previous.Spec.Labels ?? {};
    const previousSha = labels[DOCKER_LABELS.sha];
    const what = previousSha ? sha7(previousSha) : "the previous spec";
    try {
      const current = await this.services.inspect(previous.ID);
      if (!current) return "; the service is gone";
      // Keeps the port the service has now: the URL of the previous deploy must keep working.
      const { spec, forceUpdate, image } = swarmRollbackSpec(previous.Spec, current);
      const mark = { forceUpdate, runId: labels[DOCKER_LABELS.run] ?? "" };
      emit(`rolling back to ${what}`);
      await this.services.update(current, spec, image);
      await this.deployTask(previous.ID, mark, unschedulableMs, new AbortController().signal, () => undefined);
      emit(`rolled back to ${what}`);
      this.log.info({ service: previous.Spec.Name, to: what }, "preview rolled back");
      return `; rolled back to ${what}`;
    } catch (err) {
      const why = err instanceof DeployFailure ? err.message : engineMessage(err);
      this.log.error({ service: previous.Spec.Name, error: this.redact(why) }, "preview rollback failed");
      return `; rollback to ${what} failed: ${why}`;
    }
  }

  /** Remove a service this run created (matched by its run label); its id, if removed. Never throws. */
  private async removeOwnService(idOrName: string, runId: string): Promise<string | undefined> {
    try {
      const info = await this.services.inspect(idOrName);
      if (!info || info.Spec.Labels?.[DOCKER_LABELS.run] !== runId) return undefined;
      return (await this.services.remove(info.ID)) ? info.ID : undefined;
    } catch (err) {
      if (!isNotFound(err)) this.log.warn({ service: idOrName, error: engineMessage(err) }, "could not remove service");
      return undefined;
    }
  }

  /** The PR's attachable overlay network, created when missing; `created` tells whether this call made it. */
  private ensureNetwork(key: PreviewKey, signal: AbortSignal): Promise<{ name: string; created: boolean }> {
    return this.networks.ensure(swarmNetworkName(key, this.scope.instance), key, signal);
  }

  /**
   * Remove the network a failed first deploy created, once the service it removed is gone, so
   * that `list()` does not report the PR afterwards. Never throws.
   */
  private async dropNetwork(key: PreviewKey, name: string, removedServiceId: string | undefined): Promise<void> {
    const deadline = Date.now() + this.timeouts.removeMs;
    try {
      await this.networks.removeWhenFree(name, deadline);
      await this.waitUntilGone(key, removedServiceId ? [removedServiceId] : [], deadline);
    } catch (err) {
      // In use by a test container of another run, or gone already: leave it to remove().
      this.log.debug({ network: name, error: engineMessage(err) }, "network kept");
    }
  }

  /**
   * Wait until the removed services have no tasks left, their containers on this engine are
   * gone (the agent removes them a moment after the task) and the PR's networks are gone.
   */
  private async waitUntilGone(key: PreviewKey, serviceIds: string[], deadline: number): Promise<void> {
    const removed = new Set(serviceIds);
    for (;;) {
      let left = (await this.networks.list(keyFilters(this.scope, key))).length;
      left += (await this.containers.list(keyFilters(this.scope, key, "preview"))).length;
      if (removed.size) {
        const tasks = await this.services.allTasks();
        left += tasks.filter((t) => t.ServiceID && removed.has(t.ServiceID)).length;
      }
      if (left === 0) return;
      if (Date.now() >= deadline) {
        this.log.warn({ key, left }, "preview objects still shutting down");
        return;
      }
      await sleep(TASK_POLL_MS);
    }
  }
}
