/**
 * Thin wrapper over `@kubernetes/client-node` (object-style 1.x API) for what berth's Kubernetes
 * target needs: per-PR namespaces with quota, test Jobs, and the pod logs and events that explain a
 * failure. Waiting is done by polling, so no watch connection is held open.
 */
import {
  ApiException,
  AppsV1Api,
  BatchV1Api,
  CoreV1Api,
  KubeConfig,
  NetworkingV1Api,
  PatchStrategy,
  RbacAuthorizationV1Api,
  VersionApi,
  setHeaderOptions,
  type CoreV1Event,
  type V1Ingress,
  type V1Job,
  type V1LimitRangeSpec,
  type V1Namespace,
  type V1NetworkPolicy,
  type V1Pod,
  type V1ResourceQuotaSpec,
  type V1Service,
} from "@kubernetes/client-node";
import type { Logger } from "pino";
import { CancelledError } from "../../domain/ports.js";

/** How berth reaches the cluster. */
export interface KubeClientOptions {
  /** Kubeconfig file; default `KUBECONFIG`, then ~/.kube/config, then the in-cluster service account. */
  kubeconfig?: string;
  /** `BERTH_KUBE_CONTEXT`. */
  context?: string;
  /** A ready KubeConfig (tests, or callers that build their own). Wins over `kubeconfig`. */
  kubeConfig?: KubeConfig;
  log?: Logger;
  /** Polling interval of every wait. Default 1 s. */
  pollMs?: number;
}

/** Labels and annotations of a berth namespace. */
export interface NamespaceSpec {
  name: string;
  labels: Record<string, string>;
  /**
   * Labels an existing namespace must already carry, with these values, for berth to use it (the
   * owner: managed-by, repository, host, instance, PR or environment). Anything else is refused.
   */
  identity: Record<string, string>;
  annotations: Record<string, string>;
  /** How long to wait for a previous namespace of the same name to finish terminating. */
  waitTimeoutMs: number;
  signal?: AbortSignal;
}

/** Final state of a Job. */
export interface JobOutcome {
  state: "succeeded" | "failed" | "timed-out";
  /** Condition reason, e.g. `BackoffLimitExceeded`, `DeadlineExceeded`. */
  reason?: string;
  message?: string;
}

/** A namespace that was asked to go is still there (finalizers can take minutes in a real cluster). */
export class NamespaceStillTerminatingError extends Error {
  constructor(readonly namespace: string, timeoutMs: number) {
    super(`namespace ${namespace} was not gone after ${Math.round(timeoutMs / 1000)}s`);
    this.name = "NamespaceStillTerminatingError";
  }
}

/** A namespace exists but does not belong to the repository and berth instance asking for it. */
export class NamespaceNotOwnedError extends Error {
  constructor(
    readonly namespace: string,
    readonly mismatches: string[],
  ) {
    super(`namespace ${namespace} exists and does not belong to this repository on this berth (${mismatches.join(", ")}); berth leaves it alone`);
    this.name = "NamespaceNotOwnedError";
  }
}

/** Identity labels `labels` lacks or holds with another value, as `key=value (expected …)`; empty when it matches. */
export function identityMismatches(labels: Record<string, string> | undefined, identity: Record<string, string>): string[] {
  const out: string[] = [];
  for (const [key, want] of Object.entries(identity)) {
    const have = labels?.[key];
    if (have !== want) out.push(have === undefined ? `no ${key} label, expected ${want}` : `${key}=${have}, expected ${want}`);
  }
  return out;
}

/** Whether an error from client-node is an HTTP status. */
export function isStatus(err: unknown, code: number): boolean {
  return err instanceof ApiException && err.code === code;
}

/** A short message from a client-node error (the Status message when there is one). */
export function apiErrorMessage(err: unknown): string {
  if (err instanceof ApiException) {
    const body: unknown = err.body;
    let message: string | undefined;
    if (typeof body === "string") {
      try {
        message = (JSON.parse(body) as { message?: string }).message;
      } catch {
        message = body.slice(0, 300);
      }
    } else if (body && typeof body === "object") {
      message = (body as { message?: string }).message;
    }
    return `HTTP ${err.code}: ${message ?? "no message"}`;
  }
  return err instanceof Error ? err.message : String(err);
}

const MERGE_PATCH = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);

/** A Deployment or StatefulSet as sleep and wake see it. */
export interface ScalableWorkload {
  kind: "Deployment" | "StatefulSet";
  name: string;
  replicas: number;
  readyReplicas: number;
  annotations: Record<string, string>;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(new CancelledError("cancelled"));
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(new CancelledError("cancelled"));
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** Kubernetes API access for the Kubernetes preview target. */
export class KubeClient {
  readonly config: KubeConfig;
  private readonly core: CoreV1Api;
  private readonly apps: AppsV1Api;
  private readonly batch: BatchV1Api;
  private readonly networking: NetworkingV1Api;
  private readonly rbac: RbacAuthorizationV1Api;
  private readonly versionApi: VersionApi;
  private readonly pollMs: number;

  constructor(private readonly options: KubeClientOptions = {}) {
    let kc = options.kubeConfig;
    if (!kc) {
      kc = new KubeConfig();
      if (options.kubeconfig) kc.loadFromFile(options.kubeconfig);
      else kc.loadFromDefault();
    }
    if (options.context) {
      if (!kc.getContextObject(options.context)) {
        throw new Error(`the kube context "${options.context}" is not in the kubeconfig (it has: ${kc.getContexts().map((c) => c.name).join(", ") || "none"})`);
      }
      kc.setCurrentContext(options.context);
    }
    if (!kc.getCurrentCluster()) throw new Error("the kubeconfig has no current context with a cluster");
    this.config = kc;
    this.core = kc.makeApiClient(CoreV1Api);
    this.batch = kc.makeApiClient(BatchV1Api);
    this.apps = kc.makeApiClient(AppsV1Api);
    this.networking = kc.makeApiClient(NetworkingV1Api);
    this.rbac = kc.makeApiClient(RbacAuthorizationV1Api);
    this.versionApi = kc.makeApiClient(VersionApi);
    this.pollMs = options.pollMs ?? 1000;
  }

  /** The API server's version (`GET /version`): the cheapest call that proves the server answers (readiness). */
  async serverVersion(): Promise<string> {
    return (await this.versionApi.getCode()).gitVersion;
  }

  /** The namespace, or null when it does not exist. */
  async getNamespace(name: string): Promise<V1Namespace | null> {
    try {
      return await this.core.readNamespace({ name });
    } catch (err) {
      if (isStatus(err, 404)) return null;
      throw err;
    }
  }

  /**
   * Create the namespace, or update its labels and annotations when berth already owns it. A namespace
   * still terminating (PR closed and reopened) is waited for first; one berth does not own is refused.
   */
  async ensureNamespace(spec: NamespaceSpec): Promise<{ created: boolean }> {
    const deadline = Date.now() + spec.waitTimeoutMs;
    for (;;) {
      const existing = await this.getNamespace(spec.name);
      if (existing?.metadata?.deletionTimestamp || existing?.status?.phase === "Terminating") {
        if (Date.now() > deadline) throw new Error(`namespace ${spec.name} is still terminating after ${Math.round(spec.waitTimeoutMs / 1000)}s`);
        this.options.log?.info({ namespace: spec.name }, "waiting for the previous namespace to terminate");
        await sleep(this.pollMs, spec.signal);
        continue;
      }
      if (existing) {
        const mismatches = identityMismatches(existing.metadata?.labels, spec.identity);
        if (mismatches.length > 0) throw new NamespaceNotOwnedError(spec.name, mismatches);
        // resourceVersion makes the patch fail (409) if the namespace changed since it was checked.
        try {
          await this.core.patchNamespace(
            { name: spec.name, body: { metadata: { labels: spec.labels, annotations: spec.annotations, resourceVersion: existing.metadata?.resourceVersion } } },
            MERGE_PATCH,
          );
        } catch (err) {
          if (isStatus(err, 409)) continue;
          throw err;
        }
        return { created: false };
      }
      try {
        await this.core.createNamespace({ body: { apiVersion: "v1", kind: "Namespace", metadata: { name: spec.name, labels: spec.labels, annotations: spec.annotations } } });
        return { created: true };
      } catch (err) {
        // Lost a race with another create, or it began terminating in between: look again.
        if (isStatus(err, 409)) continue;
        throw err;
      }
    }
  }

  /** The namespace's Deployments and StatefulSets with their replica counts (sleep and wake scale them). */
  async listWorkloads(namespace: string): Promise<ScalableWorkload[]> {
    const [deployments, statefulSets] = await Promise.all([this.apps.listNamespacedDeployment({ namespace }), this.apps.listNamespacedStatefulSet({ namespace })]);
    const of = (kind: ScalableWorkload["kind"], items: Array<{ metadata?: { name?: string; annotations?: Record<string, string> }; spec?: { replicas?: number }; status?: { readyReplicas?: number } }>) =>
      items.map((w) => ({ kind, name: w.metadata?.name ?? "", replicas: w.spec?.replicas ?? 1, readyReplicas: w.status?.readyReplicas ?? 0, annotations: w.metadata?.annotations ?? {} }));
    return [...of("Deployment", deployments.items), ...of("StatefulSet", statefulSets.items)];
  }

  /** Set a workload's replicas and merge `annotations` (null removes one) in one merge patch. */
  async scaleWorkload(namespace: string, workload: Pick<ScalableWorkload, "kind" | "name">, replicas: number, annotations: Record<string, string | null>): Promise<void> {
    const body = { metadata: { annotations }, spec: { replicas } };
    if (workload.kind === "Deployment") await this.apps.patchNamespacedDeployment({ name: workload.name, namespace, body }, MERGE_PATCH);
    else await this.apps.patchNamespacedStatefulSet({ name: workload.name, namespace, body }, MERGE_PATCH);
  }

  /** Merge annotations into a namespace (e.g. push `expires-at` forward). */
  async annotateNamespace(name: string, annotations: Record<string, string | null>): Promise<void> {
    await this.core.patchNamespace({ name, body: { metadata: { annotations } } }, MERGE_PATCH);
  }

  /** Create or replace the namespace's ResourceQuota. */
  async applyResourceQuota(namespace: string, name: string, spec: V1ResourceQuotaSpec, labels: Record<string, string>): Promise<void> {
    const body = { apiVersion: "v1", kind: "ResourceQuota", metadata: { name, namespace, labels }, spec };
    try {
      await this.core.createNamespacedResourceQuota({ namespace, body });
    } catch (err) {
      if (!isStatus(err, 409)) throw err;
      const current = await this.core.readNamespacedResourceQuota({ name, namespace });
      await this.core.replaceNamespacedResourceQuota({ name, namespace, body: { ...body, metadata: { ...body.metadata, resourceVersion: current.metadata?.resourceVersion } } });
    }
  }

  /**
   * The identity helm deploys a namespace's charts as: a ServiceAccount there, bound by a RoleBinding
   * to `clusterRole` in that namespace only (so a chart's `lookup` cannot read other namespaces).
   */
  async applyDeployerAccess(namespace: string, serviceAccount: string, clusterRole: string, labels: Record<string, string>): Promise<void> {
    try {
      await this.core.createNamespacedServiceAccount({ namespace, body: { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: serviceAccount, namespace, labels } } });
    } catch (err) {
      if (!isStatus(err, 409)) throw err;
    }
    const body = {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata: { name: serviceAccount, namespace, labels },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: clusterRole },
      subjects: [{ kind: "ServiceAccount", name: serviceAccount, namespace }],
    };
    try {
      await this.rbac.createNamespacedRoleBinding({ namespace, body });
    } catch (err) {
      if (!isStatus(err, 409)) throw err;
      const current = await this.rbac.readNamespacedRoleBinding({ name: serviceAccount, namespace });
      if (current.roleRef.name === clusterRole) return;
      // roleRef cannot change in place: replace the binding.
      await this.rbac.deleteNamespacedRoleBinding({ name: serviceAccount, namespace });
      await this.rbac.createNamespacedRoleBinding({ namespace, body });
    }
  }

  /** Create or replace a NetworkPolicy of the namespace. */
  async applyNetworkPolicy(policy: V1NetworkPolicy): Promise<void> {
    const namespace = policy.metadata!.namespace!;
    const name = policy.metadata!.name!;
    try {
      await this.networking.createNamespacedNetworkPolicy({ namespace, body: policy });
    } catch (err) {
      if (!isStatus(err, 409)) throw err;
      const current = await this.networking.readNamespacedNetworkPolicy({ name, namespace });
      await this.networking.replaceNamespacedNetworkPolicy({ name, namespace, body: { ...policy, metadata: { ...policy.metadata, resourceVersion: current.metadata?.resourceVersion } } });
    }
  }

  /** NetworkPolicies of a namespace. */
  async listNetworkPolicies(namespace: string, labelSelector?: string): Promise<V1NetworkPolicy[]> {
    return (await this.networking.listNamespacedNetworkPolicy({ namespace, labelSelector })).items;
  }

  /** Create or replace the namespace's LimitRange (defaults for containers without resources). */
  async applyLimitRange(namespace: string, name: string, spec: V1LimitRangeSpec, labels: Record<string, string>): Promise<void> {
    const body = { apiVersion: "v1", kind: "LimitRange", metadata: { name, namespace, labels }, spec };
    try {
      await this.core.createNamespacedLimitRange({ namespace, body });
    } catch (err) {
      if (!isStatus(err, 409)) throw err;
      const current = await this.core.readNamespacedLimitRange({ name, namespace });
      await this.core.replaceNamespacedLimitRange({ name, namespace, body: { ...body, metadata: { ...body.metadata, resourceVersion: current.metadata?.resourceVersion } } });
    }
  }

  /** Delete a namespace and wait until it is gone. Returns false when it did not exist. */
  async deleteNamespace(name: string, opts: { timeoutMs: number; signal?: AbortSignal }): Promise<boolean> {
    try {
      await this.core.deleteNamespace({ name, propagationPolicy: "Background" });
    } catch (err) {
      if (isStatus(err, 404)) return false;
      throw err;
    }
    await this.waitNamespaceGone(name, opts);
    return true;
  }

  /** Poll until the namespace no longer exists. */
  async waitNamespaceGone(name: string, opts: { timeoutMs: number; signal?: AbortSignal }): Promise<void> {
    const deadline = Date.now() + opts.timeoutMs;
    while ((await this.getNamespace(name)) !== null) {
      if (Date.now() > deadline) throw new NamespaceStillTerminatingError(name, opts.timeoutMs);
      await sleep(this.pollMs, opts.signal);
    }
  }

  /** Namespaces matching a label selector. */
  async listNamespaces(labelSelector: string): Promise<V1Namespace[]> {
    const list = await this.core.listNamespace({ labelSelector });
    return list.items;
  }

  async listPods(namespace: string, labelSelector?: string): Promise<V1Pod[]> {
    return (await this.core.listNamespacedPod({ namespace, labelSelector })).items;
  }

  async listServices(namespace: string, labelSelector?: string): Promise<V1Service[]> {
    return (await this.core.listNamespacedService({ namespace, labelSelector })).items;
  }

  async listIngresses(namespace: string): Promise<V1Ingress[]> {
    return (await this.networking.listNamespacedIngress({ namespace })).items;
  }

  /**
   * Warning events of controllers that could not create pods (`FailedCreate`: Pod Security admission
   * or quota refused them), oldest first. These explain a rollout without any pod to diagnose.
   */
  async failedCreateEvents(namespace: string): Promise<CoreV1Event[]> {
    const list = await this.core.listNamespacedEvent({ namespace, fieldSelector: "type=Warning,reason=FailedCreate" });
    const time = (e: CoreV1Event): number => new Date(e.lastTimestamp ?? e.eventTime ?? e.firstTimestamp ?? 0).getTime();
    return list.items.sort((a, b) => time(a) - time(b));
  }

  /** Events about one object, oldest first. */
  async eventsFor(namespace: string, name: string, kind = "Pod"): Promise<CoreV1Event[]> {
    const list = await this.core.listNamespacedEvent({ namespace, fieldSelector: `involvedObject.name=${name},involvedObject.kind=${kind}` });
    const time = (e: CoreV1Event): number => new Date(e.lastTimestamp ?? e.eventTime ?? e.firstTimestamp ?? 0).getTime();
    return list.items.sort((a, b) => time(a) - time(b));
  }

  /**
   * A container's log (`previous` = the last crashed instance). Empty when the pod or its log is gone.
   */
  async podLog(namespace: string, pod: string, opts: { container?: string; tailLines?: number; previous?: boolean; limitBytes?: number } = {}): Promise<string> {
    try {
      return await this.core.readNamespacedPodLog({
        name: pod,
        namespace,
        container: opts.container,
        tailLines: opts.tailLines,
        previous: opts.previous,
        limitBytes: opts.limitBytes,
      });
    } catch (err) {
      if (isStatus(err, 404) || isStatus(err, 400)) return "";
      throw err;
    }
  }

  async createJob(namespace: string, job: V1Job): Promise<V1Job> {
    return this.batch.createNamespacedJob({ namespace, body: job });
  }

  /** Delete a Job and its pods (Jobs orphan their pods unless told otherwise). Not found is fine. */
  async deleteJob(namespace: string, name: string): Promise<void> {
    try {
      await this.batch.deleteNamespacedJob({ name, namespace, propagationPolicy: "Background" });
    } catch (err) {
      if (!isStatus(err, 404)) throw err;
    }
  }

  /** Poll a Job until it has a `Complete` or `Failed` condition, or `timeoutMs` passes. */
  async waitForJob(namespace: string, name: string, opts: { timeoutMs: number; signal?: AbortSignal }): Promise<JobOutcome> {
    const deadline = Date.now() + opts.timeoutMs;
    for (;;) {
      let job: V1Job | undefined;
      try {
        job = await this.batch.readNamespacedJob({ name, namespace });
      } catch (err) {
        if (!isStatus(err, 404)) throw err;
        return { state: "failed", reason: "Deleted", message: `job ${name} disappeared before it finished` };
      }
      const conditions = job.status?.conditions ?? [];
      const failed = conditions.find((c) => c.type === "Failed" && c.status === "True");
      if (failed) return { state: "failed", reason: failed.reason, message: failed.message };
      const complete = conditions.find((c) => c.type === "Complete" && c.status === "True");
      if (complete) return { state: "succeeded", reason: complete.reason, message: complete.message };
      if (Date.now() > deadline) return { state: "timed-out", reason: "Timeout", message: `job ${name} did not finish within ${Math.round(opts.timeoutMs / 1000)}s` };
      await sleep(this.pollMs, opts.signal);
    }
  }
}
