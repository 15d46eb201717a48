/**
 * Multi-service previews on Docker Swarm, from the repository's Compose file (planned and checked
 * in `compose/compose-plan.ts`): a stack-like set of services, one per Compose service, on the
 * PR's attachable overlay network, each reachable by its service name (network aliases), named
 * volumes one per PR (labelled, kept across pushes, removed with the preview), started in
 * `depends_on` order and waited for (`service_healthy` reads the task container's health on this
 * node), the routed service published in host mode and health-checked, then the seed.
 *
 * A new push replaces the PR's services stop-first (as for Compose on the Docker target): a
 * database keeps its volume and never runs twice on it; a failed deploy leaves no preview running.
 */
import type Docker from "dockerode";
import type { Logger } from "pino";
import { engineCall } from "../adapters/docker/engine-call.js";
import { removeLabelledVolumes } from "../adapters/docker/engine-volumes.js";
import { swarmServiceSpec, type SwarmServiceSpec } from "../adapters/docker/swarm-service-spec.js";
import type { SwarmServices, SwarmTask } from "../adapters/docker/swarm-services.js";
import { isEndedTask, waitForTask } from "../adapters/docker/swarm-tasks.js";
import type { ComposeService } from "../compose/compose-plan.js";
import { dnsLabel } from "../domain/naming.js";
import { CancelledError, type ComposeDeploy, type DeployRequest, type PreviewKey } from "../domain/ports.js";
import { composeVolumeName, runSeed, SERVICE_LABEL } from "./docker-compose-deployer.js";
import { awaitPreviewHealth, DeployFailure, PREVIEW_LOG_OPTIONS } from "./engine-deploy.js";
import { keyFilters, keyLabels, prBase, runLabels, type EngineScope } from "./engine-labels.js";

const NANOS_PER_MS = 1_000_000;

export interface SwarmComposeDeployerOptions {
  docker: Docker;
  services: SwarmServices;
  scope: EngineScope;
  previewHost: string;
  probeHost: string;
  callMs: number;
  startMs: number;
  stopGraceMs: number;
  resources: Docker.ResourceRequirements | undefined;
  constraints: readonly string[];
  log: Pick<Logger, "info" | "warn">;
  ensureNetwork: (key: PreviewKey, signal: AbortSignal) => Promise<{ name: string; created: boolean }>;
  /** Pin a tag to its registry digest (every node runs the same image). */
  pinnedImage: (image: string, signal: AbortSignal) => Promise<string>;
  /** Remove the PR's services and wait until their tasks and containers are gone. */
  removeServices: (key: PreviewKey) => Promise<void>;
}

/** The Swarm service of one Compose service of a PR. */
export function swarmComposeServiceName(key: PreviewKey, service: string, instance: string): string {
  return dnsLabel(`${prBase(key, instance)}-${service}`);
}


export class SwarmComposeDeployer {
  constructor(private readonly options: SwarmComposeDeployerOptions) {}

  async deploy(req: DeployRequest, compose: ComposeDeploy, emit: (line: string) => void): Promise<{ url: string; upstream: string; internalUrl: string }> {
    const { key, preview, signal } = req;
    const network = await this.options.ensureNetwork(key, signal);
    const images: Record<string, string> = {};
    for (const service of compose.plan.services) images[service.name] = await this.options.pinnedImage(compose.images[service.name]!, signal);
    // Stop-first: the previous services go before the new ones share their volumes and names.
    const previous = await this.options.services.list(keyFilters(this.options.scope, key, "preview"));
    await this.options.removeServices(key);
    const started = new Map<string, string>();
    try {
      for (const service of compose.plan.services) {
        for (const dependency of service.dependsOn) {
          await this.awaitCondition(dependency.service, started.get(dependency.service)!, dependency.condition, preview.timeout, signal, emit);
        }
        const spec = this.spec(req, compose, service, images[service.name]!, network.name);
        emit(`starting ${service.name} (service ${spec.Name}) from ${compose.images[service.name]}`);
        started.set(service.name, await this.options.services.create(spec, images[service.name]!, signal));
      }
      const routedId = started.get(compose.routed)!;
      const task = await this.runningTask(compose.routed, routedId, preview.timeout, signal);
      const port = task.Status?.PortStatus?.Ports?.find((p) => p.TargetPort === preview.port && p.PublishedPort)?.PublishedPort;
      if (!port) throw new DeployFailure(`the swarm published no host port for ${preview.port}/tcp of ${compose.routed}`);
      const { url, upstream } = await awaitPreviewHealth({
        previewHost: this.options.previewHost,
        probeHost: this.options.probeHost,
        hostPort: port,
        preview,
        signal,
        emit,
        giveUpIf: async () => {
          const ended = (await this.options.services.tasks(routedId).catch(() => [])).find((t) => t.ID === task.ID && isEndedTask(t));
          return ended ? `stopped before it became healthy (${ended.Status?.Err ?? ended.Status?.State ?? "ended"})` : undefined;
        },
      });
      if (preview.seed && (preview.seed.when === "every-deploy" || previous.length === 0)) {
        const seedService = preview.seed.service ?? compose.routed;
        const seedTask = await this.runningTask(seedService, started.get(seedService)!, preview.timeout, signal);
        const container = seedTask.Status?.ContainerStatus?.ContainerID;
        if (!container) throw new DeployFailure(`the task of ${seedService} has no container on this node to seed`);
        await runSeed(this.options.docker, container, preview.seed, preview.timeout, signal, emit);
      }
      return { url, upstream, internalUrl: `http://${compose.routed}:${preview.port}` };
    } catch (err) {
      await this.options.removeServices(key).catch(() => undefined);
      if (signal.aborted || err instanceof CancelledError) throw new CancelledError("deploy cancelled");
      throw err;
    }
  }

  private spec(req: DeployRequest, compose: ComposeDeploy, service: ComposeService, image: string, network: string): SwarmServiceSpec {
    const { key, preview } = req;
    const { scope } = this.options;
    const routed = service.name === compose.routed;
    const labels = { ...runLabels(scope, key, "preview", req.sha, req.runId), [SERVICE_LABEL]: service.name };
    const base = swarmServiceSpec({
      name: swarmComposeServiceName(key, service.name, scope.instance),
      labels,
      image,
      env: compose.env[service.name] ?? {},
      network,
      targetPort: preview.port,
      publishMode: "host",
      forceUpdate: 0,
      stopGraceMs: this.options.stopGraceMs,
      logOptions: PREVIEW_LOG_OPTIONS,
      resources: this.options.resources,
      constraints: this.options.constraints,
    });
    const health = service.healthcheck;
    base.TaskTemplate.ContainerSpec = {
      ...base.TaskTemplate.ContainerSpec,
      ...(service.entrypoint ? { Command: service.entrypoint } : {}),
      ...(service.command ? { Args: service.command } : {}),
      ...(service.workingDir ? { Dir: service.workingDir } : {}),
      ...(service.user ? { User: service.user } : {}),
      ...(health === "disabled"
        ? { HealthCheck: { Test: ["NONE"] } }
        : health
          ? { HealthCheck: { Test: health.test, Interval: health.intervalMs * NANOS_PER_MS, Timeout: health.timeoutMs * NANOS_PER_MS, Retries: health.retries, StartPeriod: health.startPeriodMs * NANOS_PER_MS } }
          : {}),
      Mounts: service.volumes.map((v) => ({
        Type: "volume" as const,
        Source: composeVolumeName(key, v.volume, scope.instance),
        Target: v.target,
        ReadOnly: v.readOnly,
        VolumeOptions: { Labels: keyLabels(scope, key, "volume") },
      })),
    } as Docker.ContainerSpec;
    base.TaskTemplate.Networks = [{ Target: network, Aliases: [service.name, ...service.aliases] } as Docker.NetworkAttachmentConfig];
    // Only the routed service is published; the others are reached on the overlay network.
    base.EndpointSpec = routed ? base.EndpointSpec : { Mode: "dnsrr" };
    return base;
  }

  private async runningTask(name: string, serviceId: string, timeoutMs: number, signal: AbortSignal): Promise<SwarmTask> {
    const wait = await waitForTask(this.options.services, serviceId, { select: (t) => t.DesiredState === "running", startMs: this.options.startMs, unschedulableMs: timeoutMs, signal, onState: () => undefined });
    if (wait.outcome === "running") return wait.task;
    if (wait.outcome === "cancelled") throw new CancelledError("deploy cancelled");
    const why = wait.outcome === "ended" ? (wait.task.Status?.Err ?? wait.task.Status?.State ?? "ended") : wait.outcome === "unschedulable" ? wait.error : `last state ${wait.lastState}`;
    throw new DeployFailure(`service ${name} did not start: ${why}`);
  }

  /** Wait until a dependency runs, or (service_healthy) its task's container on this node reports healthy. */
  private async awaitCondition(name: string, serviceId: string, condition: "service_started" | "service_healthy", timeoutMs: number, signal: AbortSignal, emit: (line: string) => void): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const task = await this.runningTask(name, serviceId, timeoutMs, signal);
    if (condition === "service_started") return;
    const id = task.Status?.ContainerStatus?.ContainerID;
    if (!id) throw new DeployFailure(`service ${name}: its task's container is not on this node, its health cannot be read`);
    emit(`waiting for ${name} to be healthy`);
    for (;;) {
      if (signal.aborted) throw new CancelledError("deploy cancelled");
      const { State: state } = await engineCall("container inspect", { timeoutMs: this.options.callMs, signal }, (s) => this.options.docker.getContainer(id).inspect({ abortSignal: s }));
      const status = state.Health?.Status;
      if (!status) throw new DeployFailure(`service ${name} has no healthcheck, but a service depends on it with condition service_healthy`);
      if (status === "healthy") {
        emit(`${name} is healthy`);
        return;
      }
      if (!state.Running || status === "unhealthy") throw new DeployFailure(`service ${name} is ${state.Running ? "unhealthy" : "stopped"}: ${state.Health?.Log?.at(-1)?.Output?.trim().slice(0, 300) ?? ""}`);
      if (Date.now() > deadline) throw new DeployFailure(`service ${name} was not healthy within ${Math.round(timeoutMs / 1000)} s`);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }

  /** Remove the PR's volumes (after its services' containers are gone). */
  removeVolumes(key: PreviewKey): Promise<number> {
    return removeLabelledVolumes(this.options.docker, keyFilters(this.options.scope, key, "volume"), this.options.callMs, this.options.log);
  }
}
