/**
 * The Swarm engine API calls of the Swarm target: services (create, inspect, update, remove,
 * list), their tasks and task logs, and the registry digest of an image. Specs, names, labels and
 * what a state means come from the caller. Registry credentials go out as X-Registry-Auth only
 * through {@link engineAuthFor}: to the registry they belong to, never to another one.
 */
import type Docker from "dockerode";
import type { Redactor } from "../../domain/redact.js";
import { engineCall, engineMessage, isNotFound } from "./engine-call.js";
import { logTailLines } from "./engine-containers.js";
import { engineAuthFor, type RegistryCredentials } from "./registry-credentials.js";

/** What berth reads of a service (`GET /services/{id}`). */
export interface SwarmService {
  ID: string;
  Version?: { Index?: number };
  Spec: Docker.ServiceSpec & { TaskTemplate?: Docker.ContainerTaskSpec };
  Endpoint?: { Ports?: Docker.PortConfig[] };
}

/** What berth reads of a task (`GET /tasks`). */
export interface SwarmTask {
  ID: string;
  ServiceID?: string;
  CreatedAt?: string;
  DesiredState?: string;
  Spec?: { ForceUpdate?: number; ContainerSpec?: { Labels?: Record<string, string> } };
  Status?: {
    State?: string;
    Err?: string;
    Message?: string;
    ContainerStatus?: { ExitCode?: number; ContainerID?: string };
    PortStatus?: { Ports?: Docker.PortConfig[] };
  };
}

/** `dockerode`'s Task has `logs` at runtime; its type declarations lack it. */
type TaskWithLogs = { logs(options: Record<string, unknown>): Promise<Buffer | string> };

/** dockerode's `update(auth, options)` form is missing from its type declarations. */
type ServiceWithAuthUpdate = { update(auth: Docker.AuthConfig | undefined, options: Record<string, unknown>): Promise<unknown> };

export interface SwarmServicesOptions {
  /** Client of a Swarm manager. */
  docker: Docker;
  /** Sent with service creates and updates and digest look-ups of images on their registry. */
  registryAuth?: RegistryCredentials | undefined;
  /** Limit of each call. */
  callMs: number;
}

/** Services and tasks on one Swarm. */
export class SwarmServices {
  private readonly docker: Docker;
  private readonly registryAuth: RegistryCredentials | undefined;
  private readonly callMs: number;

  constructor(options: SwarmServicesOptions) {
    this.docker = options.docker;
    this.registryAuth = options.registryAuth;
    this.callMs = options.callMs;
  }

  /** A service by id or name; undefined when there is none. */
  async inspect(idOrName: string, signal?: AbortSignal): Promise<SwarmService | undefined> {
    try {
      return (await engineCall("service inspect", this.call(signal), (s) =>
        this.docker.getService(idOrName).inspect({ abortSignal: s }),
      )) as SwarmService;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** Create a service running `image`; its id. */
  async create(spec: Docker.ServiceSpec, image: string, signal: AbortSignal): Promise<string> {
    const auth = this.authFor(image);
    // Always the two-argument form: with one, dockerode sends the whole spec as X-Registry-Auth.
    const service = await engineCall("service create", this.call(signal), (s) =>
      this.docker.createService(auth as Docker.AuthConfig, { ...spec, abortSignal: s } as Docker.ServiceSpec),
    );
    return service.id;
  }

  /** Update `current` to `spec` (running `image`) at its version; one retry when another update got in between. */
  async update(current: SwarmService, spec: Docker.ServiceSpec, image: string, signal?: AbortSignal): Promise<void> {
    const auth = this.authFor(image);
    let version = current.Version?.Index ?? 0;
    for (let attempt = 1; ; attempt++) {
      try {
        const service = this.docker.getService(current.ID) as unknown as ServiceWithAuthUpdate;
        // `_query`/`_body`: dockerode would otherwise put the whole spec into the query string too.
        await engineCall("service update", this.call(signal), (s) => service.update(auth, { _query: { version }, _body: spec, abortSignal: s }));
        return;
      } catch (err) {
        if (attempt > 1 || !/out of sequence/i.test(engineMessage(err))) throw err;
        const fresh = await this.inspect(current.ID, signal);
        if (!fresh) throw err;
        version = fresh.Version?.Index ?? version;
      }
    }
  }

  /** Remove a service. Returns false when it did not exist; other errors are thrown. */
  async remove(id: string): Promise<boolean> {
    try {
      await engineCall("service remove", this.call(), (s) => this.docker.getService(id).remove({ abortSignal: s }));
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  /** The services carrying all these labels (`key=value`). */
  async list(labelFilters: string[]): Promise<SwarmService[]> {
    return (await engineCall("service list", this.call(), (s) =>
      this.docker.listServices({ filters: { label: labelFilters }, abortSignal: s }),
    )) as unknown as SwarmService[];
  }

  /** The tasks of one service. */
  async tasks(serviceId: string, signal?: AbortSignal): Promise<SwarmTask[]> {
    return (await engineCall("task list", this.call(signal), (s) =>
      this.docker.listTasks({ filters: { service: [serviceId] }, abortSignal: s }),
    )) as SwarmTask[];
  }

  /**
   * Every task of the Swarm. Not filtered by service: the engine answers 404 for a service that
   * no longer exists, and its tasks may still be shutting down.
   */
  async allTasks(): Promise<SwarmTask[]> {
    return (await engineCall("task list", this.call(), (s) => this.docker.listTasks({ abortSignal: s }))) as SwarmTask[];
  }

  /** The last `lines` lines a task wrote, redacted. Throws when they cannot be read. */
  async taskLogs(taskId: string, lines: number, redact: Redactor): Promise<string[]> {
    const task = this.docker.getTask(taskId) as unknown as TaskWithLogs;
    const data = await engineCall("task logs", this.call(), () => task.logs({ stdout: true, stderr: true, follow: false, tail: lines }));
    return logTailLines(data, lines, redact);
  }

  /** The registry digest (`sha256:…`) of `image` as the engine resolves it; undefined when the registry names none. */
  async distributionDigest(image: string, signal: AbortSignal): Promise<string | undefined> {
    const auth = this.authFor(image);
    const info = (await engineCall("image resolve", this.call(signal), () =>
      this.docker.getImage(image).distribution(auth ? { authconfig: auth } : {}),
    )) as { Descriptor?: { digest?: string } };
    return info.Descriptor?.digest;
  }

  /** X-Registry-Auth for `image`'s registry, so that nodes can pull it; undefined when anonymous. */
  private authFor(image: string): Docker.AuthConfig | undefined {
    return engineAuthFor(image, this.registryAuth);
  }

  private call(signal?: AbortSignal): { timeoutMs: number; signal?: AbortSignal | undefined } {
    return { timeoutMs: this.callMs, signal };
  }
}
