/**
 * Multi-service previews on the Docker engine, from the repository's Compose file (already
 * planned and checked, see `compose/compose-plan.ts`): every service a container on the PR's
 * bridge network, reachable by its service name (network aliases), named volumes one per PR and
 * kept across pushes, services started in `depends_on` order and waited for (`service_started`,
 * `service_healthy` with the service's healthcheck), the routed service published and health
 * checked like a single-container preview, then the seed, if any.
 *
 * A new push replaces the PR's containers stop-first (as `docker compose up` recreates them): a
 * database keeps its volume and never has two containers on it. A failed deploy therefore leaves
 * no preview running; the comment says why.
 */
import type Docker from "dockerode";
import type { Logger } from "pino";
import { engineCall, isNotFound } from "../adapters/docker/engine-call.js";
import { removeLabelledVolumes } from "../adapters/docker/engine-volumes.js";
import type { EngineContainers } from "../adapters/docker/engine-containers.js";
import { execInContainer } from "../adapters/docker/engine-exec.js";
import { hostConfigLimits } from "../adapters/docker/engine-limits.js";
import type { ComposeService } from "../compose/compose-plan.js";
import type { ContainerLimits } from "../config/container-limits.js";
import { dnsLabel, sha7, shortHash } from "../domain/naming.js";
import { CancelledError, type ComposeDeploy, type DeployRequest, type PreviewKey } from "../domain/ports.js";
import type { PreviewConfig } from "../domain/repo-config.js";
import { awaitPreviewHealth, DEPLOY_LOG_LINES, DeployFailure, PREVIEW_LOG_OPTIONS } from "./engine-deploy.js";
import { DOCKER_LABELS, keyFilters, keyLabels, prBase, runLabels, type EngineScope } from "./engine-labels.js";

/** Label naming the Compose service of a container. */
export const SERVICE_LABEL = "berth.service";

export interface ComposeDeployerOptions {
  docker: Docker;
  containers: EngineContainers;
  scope: EngineScope;
  limits: ContainerLimits | undefined;
  callMs: number;
  log: Pick<Logger, "info" | "warn">;
  /** The PR's network, created when missing. */
  ensureNetwork: (key: PreviewKey, signal: AbortSignal) => Promise<{ name: string; created: boolean }>;
  /** Host-port bindings of the routed service's port (none when previews are reached over their network). */
  portBindings: (portKey: string) => { PortBindings?: Record<string, Array<{ HostIp: string; HostPort: string }>> };
  /** Where berth reaches a started container's port (published, or on the PR's network). */
  reachAt: (container: Docker.Container, port: number, signal: AbortSignal) => Promise<{ previewHost: string; probeHost: string; hostPort: string | number }>;
}

/** The PR's Docker volume for a Compose volume name. */
export function composeVolumeName(key: PreviewKey, volume: string, instance: string): string {
  return dnsLabel(`${prBase(key, instance)}-vol-${volume}`);
}

/** Run the seed command (`preview.seed`) in a container; a failure is a deploy failure with its last lines. */
export async function runSeed(docker: Docker, container: string, seed: NonNullable<PreviewConfig["seed"]>, timeoutMs: number, signal: AbortSignal, emit: (line: string) => void): Promise<void> {
  emit(`seeding: ${seed.command.join(" ")}`);
  const tail: string[] = [];
  const { exitCode } = await execInContainer(docker, container, seed.command, {
    timeoutMs,
    signal,
    onLine: (line) => {
      emit(`seed | ${line}`);
      tail.push(line);
      if (tail.length > DEPLOY_LOG_LINES) tail.shift();
    },
  }).catch((err: unknown) => {
    if (err instanceof CancelledError) throw err;
    throw new DeployFailure(`the seed ${err instanceof Error ? err.message : String(err)}\n${tail.join("\n")}`);
  });
  if (exitCode !== 0) throw new DeployFailure(`the seed failed (exit code ${exitCode ?? "unknown"})\n${tail.join("\n")}`);
  emit("seed done");
}

export class ComposeDeployer {
  constructor(private readonly options: ComposeDeployerOptions) {}

  private call(signal?: AbortSignal): { timeoutMs: number; signal?: AbortSignal | undefined } {
    return { timeoutMs: this.options.callMs, signal };
  }

  async deploy(req: DeployRequest, compose: ComposeDeploy, emit: (line: string) => void): Promise<{ url: string; upstream: string; internalUrl: string }> {
    const { key, preview, signal } = req;
    const { containers, scope } = this.options;
    const previous = await containers.list(keyFilters(scope, key, "preview"));
    const network = await this.options.ensureNetwork(key, signal);
    for (const service of compose.plan.services) await containers.ensureImage(compose.images[service.name]!, signal, emit);
    for (const volume of compose.plan.volumes) await this.ensureVolume(key, volume, signal);
    // Stop-first: the old containers go before the new ones share their volumes and names.
    for (const old of previous) if (await containers.remove(old.Id)) emit(`removed previous ${old.Names[0]?.replace(/^\//, "") ?? old.Id.slice(0, 12)}`);

    const started = new Map<string, Docker.Container>();
    try {
      for (const service of compose.plan.services) {
        for (const dependency of service.dependsOn) {
          await this.awaitCondition(dependency.service, started.get(dependency.service)!, dependency.condition, preview.timeout, signal, emit);
        }
        started.set(service.name, await this.start(req, compose, service, network.name, emit));
      }
      const routed = started.get(compose.routed);
      if (!routed) throw new DeployFailure(`preview.service '${compose.routed}' is not a service of the Compose file`);
      const { url, upstream } = await awaitPreviewHealth({
        ...(await this.options.reachAt(routed, preview.port, signal)),
        preview,
        signal,
        emit,
        giveUpIf: () => this.ended(routed),
      });
      if (preview.seed && (preview.seed.when === "every-deploy" || previous.length === 0)) {
        const target = started.get(preview.seed.service ?? compose.routed);
        if (!target) throw new DeployFailure(`preview.seed.service '${preview.seed.service}' is not a service of the Compose file`);
        await runSeed(this.options.docker, target.id, preview.seed, preview.timeout, signal, emit);
      }
      for (const container of started.values()) {
        await engineCall("container update", this.call(), () => container.update({ RestartPolicy: { Name: "unless-stopped" } })).catch(() => undefined);
      }
      return { url, upstream, internalUrl: `http://${compose.routed}:${preview.port}` };
    } catch (err) {
      const cancelled = signal.aborted || err instanceof CancelledError;
      const failing = [...started.entries()].at(-1);
      const logs = failing && !cancelled ? await containers.logTail(failing[1].id, DEPLOY_LOG_LINES) : [];
      for (const container of started.values()) await containers.remove(container.id);
      if (cancelled) throw new CancelledError("deploy cancelled");
      if (err instanceof DeployFailure && failing && logs.length) throw new DeployFailure(`${err.message}\n[${failing[0]}] ${logs.join("\n")}`);
      throw err;
    }
  }

  private async start(req: DeployRequest, compose: ComposeDeploy, service: ComposeService, network: string, emit: (line: string) => void): Promise<Docker.Container> {
    const { key, preview, signal } = req;
    const { scope } = this.options;
    const routed = service.name === compose.routed;
    const portKey = `${preview.port}/tcp`;
    const name = dnsLabel(`${prBase(key, scope.instance)}-${service.name}-${sha7(req.sha)}-${shortHash(req.runId, 6)}`);
    const health = service.healthcheck;
    const spec: Docker.ContainerCreateOptions = {
      Image: compose.images[service.name]!,
      Env: Object.entries(compose.env[service.name] ?? {}).map(([k, v]) => `${k}=${v}`),
      Labels: { ...runLabels(scope, key, "preview", req.sha, req.runId), [SERVICE_LABEL]: service.name },
      ...(service.command ? { Cmd: service.command } : {}),
      ...(service.entrypoint ? { Entrypoint: service.entrypoint } : {}),
      ...(service.workingDir ? { WorkingDir: service.workingDir } : {}),
      ...(service.user ? { User: service.user } : {}),
      ...(health === "disabled"
        ? { Healthcheck: { Test: ["NONE"] } }
        : health
          ? { Healthcheck: { Test: health.test, Interval: health.intervalMs * 1e6, Timeout: health.timeoutMs * 1e6, Retries: health.retries, StartPeriod: health.startPeriodMs * 1e6 } }
          : {}),
      ...(routed ? { ExposedPorts: { [portKey]: {} } } : {}),
      HostConfig: {
        NetworkMode: network,
        ...(routed ? this.options.portBindings(portKey) : {}),
        RestartPolicy: { Name: "no" },
        LogConfig: { Type: "json-file", Config: { ...PREVIEW_LOG_OPTIONS } },
        Mounts: service.volumes.map((v) => ({ Type: "volume" as const, Source: composeVolumeName(key, v.volume, scope.instance), Target: v.target, ReadOnly: v.readOnly })),
        ...hostConfigLimits(this.options.limits),
      },
      NetworkingConfig: { EndpointsConfig: { [network]: { Aliases: [service.name, ...service.aliases] } } },
    };
    emit(`starting ${service.name} (${name}) from ${spec.Image}`);
    const container = await this.options.containers.create(name, spec, { key: DOCKER_LABELS.run, value: req.runId }, signal);
    await engineCall("container start", this.call(signal), (s) => container.start({ abortSignal: s }));
    return container;
  }

  /** Wait until a dependency is started or healthy, as `depends_on` asks; its end or unhealthiness fails the deploy. */
  private async awaitCondition(name: string, container: Docker.Container, condition: "service_started" | "service_healthy", timeoutMs: number, signal: AbortSignal, emit: (line: string) => void): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (let said = false; ; ) {
      if (signal.aborted) throw new CancelledError("deploy cancelled");
      const { State: state } = await engineCall("container inspect", this.call(signal), (s) => container.inspect({ abortSignal: s }));
      if (!state.Running) throw new DeployFailure(`service ${name} stopped (exit code ${state.ExitCode}) before the services that depend on it started`);
      if (condition === "service_started") return;
      const status = state.Health?.Status;
      if (!status) throw new DeployFailure(`service ${name} has no healthcheck, but a service depends on it with condition service_healthy`);
      if (status === "healthy") {
        emit(`${name} is healthy`);
        return;
      }
      if (status === "unhealthy") throw new DeployFailure(`service ${name} is unhealthy: ${state.Health?.Log?.at(-1)?.Output?.trim().slice(0, 300) ?? "its healthcheck failed"}`);
      if (!said) emit(`waiting for ${name} to be healthy`);
      said = true;
      if (Date.now() > deadline) throw new DeployFailure(`service ${name} was not healthy within ${Math.round(timeoutMs / 1000)} s`);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
  }

  private async ended(container: Docker.Container): Promise<string | undefined> {
    try {
      const { State: state } = await engineCall("container inspect", this.call(), (s) => container.inspect({ abortSignal: s }));
      return state.Running ? undefined : `stopped before it became healthy (exit code ${state.ExitCode})`;
    } catch {
      return undefined;
    }
  }

  /** The PR's named volume, created when missing; one that is not this PR's is refused. */
  private async ensureVolume(key: PreviewKey, volume: string, signal: AbortSignal): Promise<void> {
    const name = composeVolumeName(key, volume, this.options.scope.instance);
    const labels = keyLabels(this.options.scope, key, "volume");
    try {
      const existing = await engineCall("volume inspect", this.call(signal), (s) => this.options.docker.getVolume(name).inspect({ abortSignal: s }));
      const owned = Object.entries(labels).every(([k, v]) => existing.Labels?.[k] === v);
      if (!owned) throw new DeployFailure(`volume ${name} exists but was not made by berth for this PR`);
      return;
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    await engineCall("volume create", this.call(signal), (s) => this.options.docker.createVolume({ Name: name, Labels: labels, abortSignal: s } as Docker.VolumeCreateOptions));
  }

  /** Remove the PR's volumes (the PR is closed or its preview deleted). */
  removeVolumes(key: PreviewKey): Promise<number> {
    return removeLabelledVolumes(this.options.docker, keyFilters(this.options.scope, key, "volume"), this.options.callMs, this.options.log);
  }
}
