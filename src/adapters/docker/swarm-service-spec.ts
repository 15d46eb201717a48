/**
 * The Swarm service specs of a preview, in the engine's API shape: the spec a deploy creates or
 * updates the service with, and the spec a rollback puts back. Pure: names, labels, image and
 * ports come from the caller.
 */
import type Docker from "dockerode";
import type { SwarmService } from "./swarm-services.js";

const NANOS_PER_MS = 1_000_000;

/** A replicated service spec whose tasks run containers. */
export type SwarmServiceSpec = Docker.ServiceSpec & { TaskTemplate: Docker.ContainerTaskSpec };

/** How a port is published: on the node running the task, or through the routing mesh. */
export type SwarmPublishMode = "host" | "ingress";

/** What {@link swarmServiceSpec} is built from. */
export interface SwarmServiceSpecInput {
  /** Service name, unique in the Swarm (also its DNS name on its networks). */
  name: string;
  /** On the service and on its containers: a label that changes per deploy makes a new task spec. */
  labels: Record<string, string>;
  image: string;
  env: Record<string, string>;
  /** The overlay network the tasks join. */
  network: string;
  /** The container's TCP port. */
  targetPort: number;
  publishMode: SwarmPublishMode;
  /** The published port to keep; undefined lets Swarm (or Docker, in host mode) choose it. */
  publishedPort?: number | undefined;
  /** `TaskTemplate.ForceUpdate`: marks the tasks of this deploy and forces a new task. */
  forceUpdate: number;
  /** Grace period between SIGTERM and SIGKILL when Swarm stops a task. */
  stopGraceMs: number;
  /** Options of the `json-file` log driver. */
  logOptions: Readonly<Record<string, string>>;
  resources?: Docker.ResourceRequirements | undefined;
  /** Placement constraints; none when empty. */
  constraints: readonly string[];
}

/**
 * One replica, restarted when it crashes later, updated one task at a time. Host mode keeps its
 * port across updates, so it updates `stop-first` (two tasks cannot bind one port on one node)
 * and uses DNS round-robin endpoints (`dnsrr`, no IPVS); ingress needs the virtual IP (`vip`)
 * and updates `start-first`.
 */
export function swarmServiceSpec(input: SwarmServiceSpecInput): SwarmServiceSpec {
  const host = input.publishMode === "host";
  const port: Docker.PortConfig = { Protocol: "tcp", TargetPort: input.targetPort, PublishMode: input.publishMode };
  if (input.publishedPort !== undefined) port.PublishedPort = input.publishedPort;
  return {
    Name: input.name,
    Labels: input.labels,
    TaskTemplate: {
      ContainerSpec: {
        Image: input.image,
        Env: Object.entries(input.env).map(([k, v]) => `${k}=${v}`),
        // On the containers too: the run label makes every deploy a new task spec.
        Labels: input.labels,
        StopGracePeriod: input.stopGraceMs * NANOS_PER_MS,
      },
      // A preview that crashes later is restarted; while deciding health a crash ends the deploy.
      RestartPolicy: { Condition: "any", Delay: 5_000 * NANOS_PER_MS, MaxAttempts: 0 },
      Networks: [{ Target: input.network }],
      LogDriver: { Name: "json-file", Options: { ...input.logOptions } },
      ...(input.resources ? { Resources: input.resources } : {}),
      ...(input.constraints.length ? { Placement: { Constraints: [...input.constraints] } } : {}),
      // Marks the tasks of this deploy (and forces a new task even for an unchanged spec).
      ForceUpdate: input.forceUpdate,
    },
    Mode: { Replicated: { Replicas: 1 } },
    UpdateConfig: {
      Parallelism: 1,
      // A host port kept across updates cannot be bound twice on one node.
      Order: host ? "stop-first" : "start-first",
      // berth decides health and rolls back itself; Swarm only stops on a crashing task.
      FailureAction: "pause",
      Monitor: 5_000 * NANOS_PER_MS,
    },
    EndpointSpec: { Mode: host ? "dnsrr" : "vip", Ports: [port] },
  };
}

/** What a rollback sends: the spec, the `ForceUpdate` mark of its tasks, and the image they run. */
export interface SwarmRollbackSpec {
  spec: SwarmService["Spec"];
  forceUpdate: number;
  image: string;
}

/**
 * `previous` (the spec the service ran before) as an update of `current`: a `ForceUpdate` past the
 * current one, so that a new task starts, and the published ports `current` has for the same
 * target port and mode where `previous` left them to Swarm, so that its URL keeps working.
 * `previous` is not changed.
 */
export function swarmRollbackSpec(previous: SwarmService["Spec"], current: SwarmService): SwarmRollbackSpec {
  const spec = structuredClone(previous);
  const template = spec.TaskTemplate ?? {};
  spec.TaskTemplate = template;
  const forceUpdate = (current.Spec.TaskTemplate?.ForceUpdate ?? 0) + 1;
  template.ForceUpdate = forceUpdate;
  const currentPorts = current.Spec.EndpointSpec?.Ports ?? [];
  for (const port of spec.EndpointSpec?.Ports ?? []) {
    const same = currentPorts.find((p) => p.TargetPort === port.TargetPort && p.PublishMode === port.PublishMode && p.PublishedPort);
    if (!port.PublishedPort && same?.PublishedPort) port.PublishedPort = same.PublishedPort;
  }
  return { spec, forceUpdate, image: template.ContainerSpec?.Image ?? "" };
}
