/**
 * An in-process Kubernetes API server for tests, spoken to by both `@kubernetes/client-node` and the
 * real helm binary. It serves `/version` and discovery, generic CRUD (create, get, list with label and
 * field selectors, replace, merge / strategic-merge / server-side-apply patch, delete with owner
 * cascade) for the kinds berth and its charts use, `Status` bodies for errors, Namespace termination,
 * pod logs, and a small controller that plays kube-controller-manager and kubelet: Deployments get
 * ReplicaSets and Pods, Services a cluster IP, Jobs a Pod and a final condition, PersistentVolumeClaims
 * a volume (as a default StorageClass's dynamic provisioner binds them). Tests can make a
 * rollout or a Job fail. Request bodies are validated against the Kubernetes schemas and rejected
 * with 422 like a real server.
 *
 * Pod Security admission (`pod-security.kubernetes.io/enforce` on the namespace, see
 * kube-pod-security.ts): a Pod above the level is refused with 403 Forbidden, as the API server
 * does. Workloads are admitted, as they are for real, and their controllers fail to create pods: a
 * Deployment's ReplicaSet records a `FailedCreate` Warning event and gets no pods (the Deployment a
 * `ReplicaFailure` condition, so a rollout never becomes ready); a Job records `FailedCreate` and
 * fails at its `activeDeadlineSeconds`. Kinds the fake runs no controller for (StatefulSet,
 * DaemonSet, CronJob, a bare ReplicaSet) get the same `FailedCreate` event when they are written.
 *
 * Request bodies may be JSON, YAML (apply) or protobuf (helm's typed client, for Secrets and
 * DeleteOptions); responses are always JSON.
 *
 * Not served: watch (helm 3 polls; helm 4's kstatus watcher needs it), JSON patch, the OpenAPI v2
 * document and real OpenAPI v3 schemas, authorisation (every request with the right token may do anything).
 */
import { randomBytes, randomUUID, createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import { matchesFields, matchesLabels, mergePatch, parseLabelSelector, strategicMergePatch, type Json } from "./kube-patch.js";
import { validateObject } from "./k8s-schema.js";
import { decodeKubeProtobuf } from "./kube-protobuf.js";
import { enforceLevel, podSecurityMessage, podSecurityViolations } from "./kube-pod-security.js";

/** A stored Kubernetes object (JSON). */
export type KubeObject = {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    generation?: number;
    creationTimestamp?: string;
    deletionTimestamp?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: Array<{ apiVersion: string; kind: string; name: string; uid: string; controller?: boolean }>;
    [key: string]: unknown;
  };
  [key: string]: unknown;
};

interface ResourceType {
  group: string;
  version: string;
  kind: string;
  plural: string;
  singular: string;
  namespaced: boolean;
  shortNames?: string[];
  subresources?: string[];
}

const RESOURCES: ResourceType[] = [
  { group: "", version: "v1", kind: "Namespace", plural: "namespaces", singular: "namespace", namespaced: false, shortNames: ["ns"], subresources: ["status", "finalize"] },
  { group: "", version: "v1", kind: "Secret", plural: "secrets", singular: "secret", namespaced: true },
  { group: "", version: "v1", kind: "ConfigMap", plural: "configmaps", singular: "configmap", namespaced: true, shortNames: ["cm"] },
  { group: "", version: "v1", kind: "Service", plural: "services", singular: "service", namespaced: true, shortNames: ["svc"], subresources: ["status"] },
  { group: "", version: "v1", kind: "Pod", plural: "pods", singular: "pod", namespaced: true, shortNames: ["po"], subresources: ["status", "log"] },
  { group: "", version: "v1", kind: "Event", plural: "events", singular: "event", namespaced: true, shortNames: ["ev"] },
  { group: "", version: "v1", kind: "ResourceQuota", plural: "resourcequotas", singular: "resourcequota", namespaced: true, shortNames: ["quota"], subresources: ["status"] },
  { group: "", version: "v1", kind: "LimitRange", plural: "limitranges", singular: "limitrange", namespaced: true, shortNames: ["limits"] },
  { group: "", version: "v1", kind: "ServiceAccount", plural: "serviceaccounts", singular: "serviceaccount", namespaced: true, shortNames: ["sa"] },
  { group: "", version: "v1", kind: "PersistentVolumeClaim", plural: "persistentvolumeclaims", singular: "persistentvolumeclaim", namespaced: true, shortNames: ["pvc"], subresources: ["status"] },
  { group: "", version: "v1", kind: "Endpoints", plural: "endpoints", singular: "endpoints", namespaced: true, shortNames: ["ep"] },
  { group: "apps", version: "v1", kind: "Deployment", plural: "deployments", singular: "deployment", namespaced: true, shortNames: ["deploy"], subresources: ["status", "scale"] },
  { group: "apps", version: "v1", kind: "ReplicaSet", plural: "replicasets", singular: "replicaset", namespaced: true, shortNames: ["rs"], subresources: ["status", "scale"] },
  { group: "apps", version: "v1", kind: "StatefulSet", plural: "statefulsets", singular: "statefulset", namespaced: true, shortNames: ["sts"], subresources: ["status", "scale"] },
  { group: "apps", version: "v1", kind: "DaemonSet", plural: "daemonsets", singular: "daemonset", namespaced: true, shortNames: ["ds"], subresources: ["status"] },
  { group: "batch", version: "v1", kind: "Job", plural: "jobs", singular: "job", namespaced: true, subresources: ["status"] },
  { group: "batch", version: "v1", kind: "CronJob", plural: "cronjobs", singular: "cronjob", namespaced: true, shortNames: ["cj"], subresources: ["status"] },
  { group: "networking.k8s.io", version: "v1", kind: "Ingress", plural: "ingresses", singular: "ingress", namespaced: true, shortNames: ["ing"], subresources: ["status"] },
  { group: "networking.k8s.io", version: "v1", kind: "NetworkPolicy", plural: "networkpolicies", singular: "networkpolicy", namespaced: true, shortNames: ["netpol"] },
  { group: "networking.k8s.io", version: "v1", kind: "IngressClass", plural: "ingressclasses", singular: "ingressclass", namespaced: false },
  { group: "policy", version: "v1", kind: "PodDisruptionBudget", plural: "poddisruptionbudgets", singular: "poddisruptionbudget", namespaced: true, shortNames: ["pdb"], subresources: ["status"] },
  { group: "autoscaling", version: "v2", kind: "HorizontalPodAutoscaler", plural: "horizontalpodautoscalers", singular: "horizontalpodautoscaler", namespaced: true, shortNames: ["hpa"], subresources: ["status"] },
  { group: "rbac.authorization.k8s.io", version: "v1", kind: "Role", plural: "roles", singular: "role", namespaced: true },
  { group: "rbac.authorization.k8s.io", version: "v1", kind: "RoleBinding", plural: "rolebindings", singular: "rolebinding", namespaced: true },
  { group: "rbac.authorization.k8s.io", version: "v1", kind: "ClusterRole", plural: "clusterroles", singular: "clusterrole", namespaced: false },
  { group: "rbac.authorization.k8s.io", version: "v1", kind: "ClusterRoleBinding", plural: "clusterrolebindings", singular: "clusterrolebinding", namespaced: false },
];

const VERBS_ALL = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];

/** How a failing rollout looks to berth. */
export interface RolloutFailure {
  /** Pods whose container image matches fail. */
  image: RegExp;
  /** `crash`: CrashLoopBackOff with logs; `image-pull`: ErrImagePull; `unready`: running, readiness probe fails. */
  mode?: "crash" | "image-pull" | "unready";
  /** Lines the failing container printed. */
  logs?: string[];
}

/** What a Job's single pod does, decided by the test from the Job object. */
export interface JobOutcome {
  /** `deadline` hangs until `activeDeadlineSeconds` passes. */
  result: "succeed" | "fail" | "deadline";
  exitCode?: number;
  /** Container output (stdout + stderr). */
  logs?: string;
  /** Run time before the pod finishes. Default 50 ms. */
  delayMs?: number;
}

/** A list request with `watch=true`: served as a stream, not as one answer. */
interface WatchStart {
  watch: true;
  rt: ResourceType;
  namespace: string | undefined;
  query: URLSearchParams;
}

/** An open watch stream. */
interface Watcher {
  rt: ResourceType;
  namespace: string | undefined;
  query: URLSearchParams;
  res: ServerResponse;
}

/** One request as seen by the fake (for assertions). */
export interface RecordedRequest {
  method: string;
  path: string;
  query: string;
  contentType?: string;
  userAgent?: string;
  /** `Impersonate-User` header (helm's --kube-as-user). */
  impersonateUser?: string;
  status: number;
}

export interface FakeKubeApiOptions {
  /** How long a deleted Namespace stays `Terminating`. Default 300 ms. */
  namespaceTerminationMs?: number;
  /** Reported server version (minor). Default 31. */
  minorVersion?: number;
}

/** A running fake; see {@link startFakeKubeApi}. */
export interface FakeKubeApi {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  /** Kubeconfig whose current context `broken` points at a closed port and whose context `fake` works. */
  readonly kubeconfigPath: string;
  /** Bearer token in the kubeconfig; a request with another token gets 401. */
  readonly token: string;
  readonly requests: RecordedRequest[];
  /** Every stored object of a kind (optionally in one namespace). */
  list(kind: string, namespace?: string): KubeObject[];
  /** One stored object or undefined. */
  get(kind: string, namespace: string | undefined, name: string): KubeObject | undefined;
  /** Store an object directly (bypassing validation), e.g. a release Secret in a crafted state. */
  put(object: KubeObject): KubeObject;
  failRollout(failure: RolloutFailure): void;
  clearRolloutFailures(): void;
  /** Decide how Jobs end; the default handler succeeds with no output. */
  onJob(handler: (job: KubeObject) => JobOutcome | Promise<JobOutcome>): void;
  setNamespaceTerminationMs(ms: number): void;
  close(): Promise<void>;
}

class HttpError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
  }
}

function statusBody(code: number, reason: string, message: string, details?: Record<string, unknown>): Record<string, unknown> {
  return { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message, reason, ...(details ? { details } : {}), code };
}

function resourceLabel(rt: ResourceType): string {
  return rt.group ? `${rt.plural}.${rt.group}` : rt.plural;
}

function notFound(rt: ResourceType, name: string): HttpError {
  return new HttpError(404, "NotFound", `${resourceLabel(rt)} "${name}" not found`, { name, group: rt.group, kind: rt.plural });
}

function groupVersion(rt: ResourceType): string {
  return rt.group ? `${rt.group}/${rt.version}` : rt.version;
}

function now(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, "Z");
}

function clone<T>(value: T): T {
  return structuredClone(value);
}

const PORT_UNUSED = "http://127.0.0.1:9";

/** Start the fake on 127.0.0.1 with a fresh kubeconfig. */
export async function startFakeKubeApi(options: FakeKubeApiOptions = {}): Promise<FakeKubeApi> {
  const token = randomBytes(16).toString("hex");
  const objects = new Map<string, KubeObject>();
  const podLogs = new Map<string, string>();
  const requests: RecordedRequest[] = [];
  const failures: RolloutFailure[] = [];
  const jobsStarted = new Set<string>();
  const timers = new Set<NodeJS.Timeout>();
  const watchers = new Set<Watcher>();
  let jobHandler: (job: KubeObject) => JobOutcome | Promise<JobOutcome> = () => ({ result: "succeed" });
  let terminationMs = options.namespaceTerminationMs ?? 300;
  let resourceVersion = 1000;
  let ipCounter = 10;
  let closed = false;
  let eventCounter = 0x17a000000000;

  const byKind = new Map(RESOURCES.map((rt) => [rt.kind, rt]));
  const key = (rt: ResourceType, namespace: string | undefined, name: string): string =>
    `${rt.group}|${rt.plural}|${rt.namespaced ? (namespace ?? "") : ""}|${name}`;

  const later = (ms: number, fn: () => void): void => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      fn();
    }, ms);
    timers.add(timer);
  };

  // ---------- store ----------

  function listStored(rt: ResourceType, namespace?: string): KubeObject[] {
    const prefix = `${rt.group}|${rt.plural}|${namespace !== undefined && rt.namespaced ? `${namespace}|` : ""}`;
    return [...objects.entries()].filter(([k]) => k.startsWith(prefix)).map(([, v]) => v);
  }

  function store(rt: ResourceType, object: KubeObject): KubeObject {
    object.metadata.resourceVersion = String(++resourceVersion);
    const k = key(rt, object.metadata.namespace, object.metadata.name);
    const existed = objects.has(k);
    objects.set(k, object);
    notifyWatchers(existed ? "MODIFIED" : "ADDED", rt, object);
    scheduleReconcile();
    return object;
  }

  /** Delete from the store and tell watchers (the object carries a new resourceVersion, as in etcd). */
  function forget(rt: ResourceType, object: KubeObject): void {
    if (!objects.delete(key(rt, object.metadata.namespace, object.metadata.name))) return;
    object.metadata.resourceVersion = String(++resourceVersion);
    notifyWatchers("DELETED", rt, object);
  }

  // ---------- impersonation (RBAC subset) ----------

  /**
   * Requests made as `Impersonate-User: system:serviceaccount:<ns>:<name>` (helm's --kube-as-user)
   * are authorized the way RBAC would for a service account whose only grant is a RoleBinding to
   * the `admin` or `edit` ClusterRole: namespaced resources of namespaces holding such a binding,
   * its own Namespace object read-only, quotas and limit ranges read-only, nothing cluster-wide.
   * (Whether berth itself may impersonate is not checked: the fake trusts its token.)
   */
  function authorizeImpersonated(
    user: string,
    method: string,
    query: URLSearchParams,
    rt: ResourceType,
    namespace: string | undefined,
    name: string | undefined,
    subresource: string | undefined,
  ): void {
    const verb =
      method === "GET"
        ? name === undefined
          ? query.get("watch") === "true" || query.get("watch") === "1"
            ? "watch"
            : "list"
          : "get"
        : ({ POST: "create", PUT: "update", PATCH: "patch", DELETE: "delete" } as Record<string, string>)[method] ?? method.toLowerCase();
    const scope = rt.namespaced ? (namespace ?? "") : rt.kind === "Namespace" && name !== undefined ? name : "";
    const resource = subresource ? `${rt.plural}/${subresource}` : rt.plural;
    const forbidden = (): HttpError =>
      new HttpError(
        403,
        "Forbidden",
        `${resource}${name ? ` "${name}"` : ""} is forbidden: User "${user}" cannot ${verb} resource "${resource}" in API group "${rt.group}"${scope ? ` in the namespace "${scope}"` : " at the cluster scope"}`,
        { ...(name ? { name } : {}), group: rt.group, kind: rt.plural },
      );
    const account = /^system:serviceaccount:([a-z0-9-]+):([a-z0-9-]+)$/.exec(user);
    if (!account || !scope) throw forbidden();
    const bound = listStored(byKind.get("RoleBinding")!, scope).find(
      (binding) =>
        (binding.roleRef as { kind?: string; name?: string } | undefined)?.kind === "ClusterRole" &&
        ["admin", "edit"].includes(String((binding.roleRef as { name?: string }).name)) &&
        ((binding.subjects as Array<{ kind?: string; name?: string; namespace?: string }> | undefined) ?? []).some(
          (s) => s.kind === "ServiceAccount" && s.name === account[2] && s.namespace === account[1],
        ),
    );
    if (!bound) throw forbidden();
    const readOnly = ["get", "list", "watch"].includes(verb);
    if (rt.kind === "Namespace" && !readOnly) throw forbidden();
    if ((rt.kind === "ResourceQuota" || rt.kind === "LimitRange") && !readOnly) throw forbidden();
    if (!rt.namespaced && rt.kind !== "Namespace") throw forbidden();
    if ((rt.kind === "Role" || rt.kind === "RoleBinding") && !readOnly && (bound.roleRef as { name?: string }).name !== "admin") throw forbidden();
  }

  // ---------- watch ----------

  /** Keep the items a list or watch selects (`labelSelector`, `fieldSelector`); 400 on a bad one. */
  function selectItems(items: KubeObject[], query: URLSearchParams): KubeObject[] {
    let selected = items;
    const labelSelector = query.get("labelSelector");
    if (labelSelector) {
      let requirements;
      try {
        requirements = parseLabelSelector(labelSelector);
      } catch (err) {
        throw new HttpError(400, "BadRequest", `unable to parse requirement: ${String(err)}`);
      }
      selected = selected.filter((o) => matchesLabels(o.metadata.labels, requirements));
    }
    const fieldSelector = query.get("fieldSelector");
    if (fieldSelector) {
      try {
        selected = selected.filter((o) => matchesFields(o, fieldSelector));
      } catch (err) {
        throw new HttpError(400, "BadRequest", String(err));
      }
    }
    return selected;
  }

  function notifyWatchers(type: "ADDED" | "MODIFIED" | "DELETED", rt: ResourceType, object: KubeObject): void {
    for (const watcher of watchers) {
      if (watcher.rt !== rt) continue;
      if (rt.namespaced && watcher.namespace !== undefined && object.metadata.namespace !== watcher.namespace) continue;
      if (selectItems([object], watcher.query).length === 0) continue;
      watcher.res.write(`${JSON.stringify({ type, object: clone(object) })}\n`);
    }
  }

  /**
   * A watch as the API server serves it: a chunked stream of `{type, object}` lines. With
   * `sendInitialEvents=true` (watch-list), ADDED events for what exists, then a BOOKMARK marked
   * `k8s.io/initial-events-end`; without a resourceVersion (or "0"), synthetic ADDED events too;
   * from resourceVersion N, every stored object changed after N (deletions before the watch
   * started are not replayed: the fake keeps no history). Ends after `timeoutSeconds`.
   */
  function startWatch(watch: WatchStart, req: IncomingMessage, res: ServerResponse): void {
    const { rt, namespace, query } = watch;
    const initial = query.get("sendInitialEvents") === "true";
    const existing = selectItems(listStored(rt, namespace), query).sort((a, b) => Number(a.metadata.resourceVersion) - Number(b.metadata.resourceVersion));
    const from = query.get("resourceVersion");
    const replay = initial || from === null || from === "" || from === "0" ? existing : existing.filter((o) => Number(o.metadata.resourceVersion) > Number(from));
    res.writeHead(200, { "content-type": "application/json", "transfer-encoding": "chunked" });
    // The API server answers a watch at once; events follow as they happen.
    res.flushHeaders();
    for (const object of replay) res.write(`${JSON.stringify({ type: initial || from === null || from === "" || from === "0" ? "ADDED" : "MODIFIED", object: clone(object) })}\n`);
    if (initial) {
      const bookmark = { kind: rt.kind, apiVersion: groupVersion(rt), metadata: { resourceVersion: String(resourceVersion), annotations: { "k8s.io/initial-events-end": "true" } } };
      res.write(`${JSON.stringify({ type: "BOOKMARK", object: bookmark })}\n`);
    }
    const watcher: Watcher = { rt, namespace, query, res };
    watchers.add(watcher);
    const seconds = Number(query.get("timeoutSeconds") ?? "1800");
    const timer = setTimeout(() => res.end(), Math.max(1, Number.isFinite(seconds) ? seconds : 1800) * 1000);
    timers.add(timer);
    const stop = (): void => {
      watchers.delete(watcher);
      clearTimeout(timer);
      timers.delete(timer);
    };
    res.on("close", stop);
    req.on("close", stop);
  }

  function insert(rt: ResourceType, object: KubeObject): KubeObject {
    object.apiVersion = groupVersion(rt);
    object.kind = rt.kind;
    object.metadata.uid = randomUUID();
    object.metadata.creationTimestamp = now();
    object.metadata.generation = 1;
    if (!rt.namespaced) delete object.metadata.namespace;
    return store(rt, object);
  }

  /** Write an object the controller changed (callers only call it after a real change). */
  function update(rt: ResourceType, object: KubeObject): void {
    if (!objects.has(key(rt, object.metadata.namespace, object.metadata.name))) return;
    store(rt, object);
  }

  function remove(rt: ResourceType, object: KubeObject, propagation: string): void {
    forget(rt, object);
    if (rt.kind === "Pod") podLogs.delete(`${object.metadata.namespace}/${object.metadata.name}`);
    if (propagation !== "Orphan") {
      const uid = object.metadata.uid;
      for (const [, child] of [...objects]) {
        if (child.metadata.ownerReferences?.some((ref) => ref.uid === uid)) {
          const childType = byKind.get(child.kind);
          if (childType) remove(childType, child, "Background");
        }
      }
    }
    scheduleReconcile();
  }

  // ---------- controller ----------

  let reconcileQueued = false;
  function scheduleReconcile(): void {
    if (reconcileQueued) return;
    reconcileQueued = true;
    setImmediate(() => {
      reconcileQueued = false;
      reconcile();
    });
  }

  function namespaceOf(name: string | undefined): KubeObject | undefined {
    return name ? objects.get(key(byKind.get("Namespace")!, undefined, name)) : undefined;
  }

  function recordEvent(involved: KubeObject, type: "Normal" | "Warning", reason: string, message: string, count = 1): void {
    const rt = byKind.get("Event")!;
    const ns = involved.metadata.namespace ?? "default";
    if (namespaceOf(ns)?.metadata.deletionTimestamp) return;
    const timestamp = now();
    insert(rt, {
      apiVersion: "v1",
      kind: "Event",
      // Real event names end in a hex timestamp, so listing by name is chronological.
      metadata: { name: `${involved.metadata.name}.${(++eventCounter).toString(16).padStart(16, "0")}`, namespace: ns },
      involvedObject: { apiVersion: involved.apiVersion, kind: involved.kind, name: involved.metadata.name, namespace: ns, uid: involved.metadata.uid },
      reason,
      message,
      type,
      count,
      firstTimestamp: timestamp,
      lastTimestamp: timestamp,
      source: { component: involved.kind === "Pod" ? "kubelet" : `${involved.kind.toLowerCase()}-controller` },
    });
  }

  /** Pod Security admission for a pod (or pod template) in `namespace`: the refusal message, or undefined. */
  function podSecurityRefusal(namespace: string | undefined, metadata: Record<string, any> | undefined, spec: Record<string, any> | undefined): string | undefined {
    const level = enforceLevel(namespaceOf(namespace)?.metadata.labels);
    const violations = podSecurityViolations(level, metadata, spec);
    return violations.length > 0 ? podSecurityMessage(level, violations) : undefined;
  }

  /** The pod template of a workload kind, if it has one. */
  function podTemplateOf(object: KubeObject): Record<string, any> | undefined {
    const spec = object.spec as Record<string, any> | undefined;
    if (["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"].includes(object.kind)) return spec?.template;
    if (object.kind === "CronJob") return spec?.jobTemplate?.spec?.template;
    return undefined;
  }

  /** Controllers that could not create a pod say so once per object (real ones repeat with a count). */
  const failedCreates = new Set<string>();
  function recordFailedCreate(owner: KubeObject, podName: string, message: string): void {
    const marker = `${owner.metadata.uid}|${message}`;
    if (failedCreates.has(marker)) return;
    failedCreates.add(marker);
    recordEvent(owner, "Warning", "FailedCreate", `Error creating: pods "${podName}" is forbidden: ${message}`);
  }

  /** Workloads the fake runs no controller for: the event their controller would record. */
  function admitWorkload(object: KubeObject): void {
    if (!["StatefulSet", "DaemonSet", "CronJob", "ReplicaSet"].includes(object.kind)) return;
    if (object.kind === "ReplicaSet" && object.metadata.ownerReferences?.some((r) => r.kind === "Deployment")) return;
    const template = podTemplateOf(object);
    const refusal = podSecurityRefusal(object.metadata.namespace, template?.metadata, template?.spec);
    if (refusal) recordFailedCreate(object, `${object.metadata.name}-0`, refusal);
  }

  function podTemplateHash(template: unknown): string {
    return createHash("sha256").update(JSON.stringify(template)).digest("hex").slice(0, 10);
  }

  function createPod(owner: KubeObject, template: Record<string, any>, labels: Record<string, string>, namePrefix: string): KubeObject {
    const podType = byKind.get("Pod")!;
    const ns = owner.metadata.namespace!;
    const pod = insert(podType, {
      apiVersion: "v1",
      kind: "Pod",
      metadata: {
        name: `${namePrefix}-${randomBytes(3).toString("hex").slice(0, 5)}`,
        namespace: ns,
        labels,
        ...(template.metadata?.annotations ? { annotations: clone(template.metadata.annotations) } : {}),
        ownerReferences: [{ apiVersion: owner.apiVersion, kind: owner.kind, name: owner.metadata.name, uid: owner.metadata.uid!, controller: true }],
      },
      spec: { ...clone(template.spec ?? {}), nodeName: "fake-node" },
      status: { phase: "Pending" },
    });
    recordEvent(pod, "Normal", "Scheduled", `Successfully assigned ${ns}/${pod.metadata.name} to fake-node`);
    return pod;
  }

  /** Kubelet: decide the fate of a new pod from its image. */
  function startPod(pod: KubeObject): void {
    const spec = pod.spec as { containers: Array<{ name: string; image: string }> };
    const container = spec.containers[0]!;
    const failure = failures.find((f) => f.image.test(container.image));
    const ns = pod.metadata.namespace!;
    const started = now();
    const conditionsFor = (ready: boolean): unknown[] => [
      { type: "PodScheduled", status: "True", lastTransitionTime: started },
      { type: "Initialized", status: "True", lastTransitionTime: started },
      { type: "ContainersReady", status: ready ? "True" : "False", lastTransitionTime: started, ...(ready ? {} : { reason: "ContainersNotReady" }) },
      { type: "Ready", status: ready ? "True" : "False", lastTransitionTime: started, ...(ready ? {} : { reason: "ContainersNotReady" }) },
    ];
    const base = { hostIP: "10.0.0.1", podIP: `10.244.0.${++ipCounter % 250}`, startTime: started };
    if (!failure) {
      recordEvent(pod, "Normal", "Pulled", `Container image "${container.image}" already present on machine`);
      recordEvent(pod, "Normal", "Started", `Started container ${container.name}`);
      pod.status = {
        ...base,
        phase: "Running",
        conditions: conditionsFor(true),
        containerStatuses: spec.containers.map((c) => ({ name: c.name, image: c.image, imageID: "", ready: true, started: true, restartCount: 0, state: { running: { startedAt: started } } })),
      };
      return;
    }
    const mode = failure.mode ?? "crash";
    podLogs.set(`${ns}/${pod.metadata.name}`, (failure.logs ?? []).map((l) => `${l}\n`).join(""));
    if (mode === "image-pull") {
      recordEvent(pod, "Normal", "Pulling", `Pulling image "${container.image}"`);
      recordEvent(pod, "Warning", "Failed", `Failed to pull image "${container.image}": not found`);
      recordEvent(pod, "Warning", "Failed", "Error: ErrImagePull");
      pod.status = {
        ...base,
        phase: "Pending",
        conditions: conditionsFor(false),
        containerStatuses: [{ name: container.name, image: container.image, imageID: "", ready: false, started: false, restartCount: 0, state: { waiting: { reason: "ImagePullBackOff", message: `Back-off pulling image "${container.image}"` } } }],
      };
      return;
    }
    if (mode === "unready") {
      recordEvent(pod, "Normal", "Started", `Started container ${container.name}`);
      recordEvent(pod, "Warning", "Unhealthy", "Readiness probe failed: HTTP probe failed with statuscode: 503", 5);
      pod.status = {
        ...base,
        phase: "Running",
        conditions: conditionsFor(false),
        containerStatuses: [{ name: container.name, image: container.image, imageID: "", ready: false, started: true, restartCount: 0, state: { running: { startedAt: started } } }],
      };
      return;
    }
    recordEvent(pod, "Normal", "Started", `Started container ${container.name}`);
    recordEvent(pod, "Warning", "BackOff", `Back-off restarting failed container ${container.name} in pod ${pod.metadata.name}_${ns}(${pod.metadata.uid})`, 4);
    pod.status = {
      ...base,
      phase: "Running",
      conditions: conditionsFor(false),
      containerStatuses: [
        {
          name: container.name,
          image: container.image,
          imageID: "",
          ready: false,
          started: false,
          restartCount: 4,
          state: { waiting: { reason: "CrashLoopBackOff", message: `back-off 1m20s restarting failed container=${container.name} pod=${pod.metadata.name}` } },
          lastState: { terminated: { exitCode: 1, reason: "Error", startedAt: started, finishedAt: started } },
        },
      ],
    };
  }

  function podReady(pod: KubeObject): boolean {
    const conditions = ((pod.status as { conditions?: Array<{ type: string; status: string }> } | undefined)?.conditions ?? []);
    return conditions.some((c) => c.type === "Ready" && c.status === "True");
  }

  function ownedBy(owner: KubeObject, kind: string): KubeObject[] {
    const rt = byKind.get(kind)!;
    return listStored(rt, owner.metadata.namespace).filter((o) => o.metadata.ownerReferences?.some((r) => r.uid === owner.metadata.uid));
  }

  function reconcileDeployment(deployment: KubeObject): void {
    const rsType = byKind.get("ReplicaSet")!;
    const spec = deployment.spec as { replicas?: number; template: Record<string, any>; selector: { matchLabels?: Record<string, string> } };
    const replicas = spec.replicas ?? 1;
    const hash = podTemplateHash(spec.template);
    const rsName = `${deployment.metadata.name}-${hash}`;
    const ns = deployment.metadata.namespace!;
    let current = objects.get(key(rsType, ns, rsName));
    if (!current) {
      const labels = { ...(spec.template.metadata?.labels ?? {}), "pod-template-hash": hash };
      current = insert(rsType, {
        apiVersion: "apps/v1",
        kind: "ReplicaSet",
        metadata: {
          name: rsName,
          namespace: ns,
          labels,
          annotations: { "deployment.kubernetes.io/revision": String(ownedBy(deployment, "ReplicaSet").length + 1) },
          ownerReferences: [{ apiVersion: "apps/v1", kind: "Deployment", name: deployment.metadata.name, uid: deployment.metadata.uid!, controller: true }],
        },
        spec: {
          replicas,
          selector: { matchLabels: { ...(spec.selector.matchLabels ?? {}), "pod-template-hash": hash } },
          template: { ...clone(spec.template), metadata: { ...clone(spec.template.metadata ?? {}), labels } },
        },
      });
      recordEvent(deployment, "Normal", "ScalingReplicaSet", `Scaled up replica set ${rsName} from 0 to ${replicas}`);
    }
    let ready = 0;
    let total = 0;
    let updated = 0;
    let replicaFailure: string | undefined;
    for (const rs of ownedBy(deployment, "ReplicaSet")) {
      const isNew = rs.metadata.name === rsName;
      const rsSpec = rs.spec as { replicas?: number; template: Record<string, any> };
      const want = isNew ? replicas : 0;
      if (rsSpec.replicas !== want) {
        rsSpec.replicas = want;
        update(rsType, rs);
      }
      const pods = ownedBy(rs, "Pod");
      for (const pod of pods.slice(want)) remove(byKind.get("Pod")!, pod, "Background");
      const refusal = pods.length < want ? podSecurityRefusal(ns, rsSpec.template.metadata, rsSpec.template.spec) : undefined;
      if (refusal) {
        recordFailedCreate(rs, `${rs.metadata.name}-${randomBytes(3).toString("hex").slice(0, 5)}`, refusal);
        replicaFailure = refusal;
      }
      for (let i = pods.length; i < want && !refusal; i++) {
        const labels = { ...((rsSpec.template.metadata?.labels as Record<string, string>) ?? {}) };
        const pod = createPod(rs, rsSpec.template, labels, rs.metadata.name);
        startPod(pod);
        update(byKind.get("Pod")!, pod);
      }
      const live = ownedBy(rs, "Pod");
      const rsReady = live.filter(podReady).length;
      const status = { replicas: live.length, readyReplicas: rsReady, availableReplicas: rsReady, fullyLabeledReplicas: live.length, observedGeneration: rs.metadata.generation };
      if (JSON.stringify(rs.status) !== JSON.stringify(status)) {
        rs.status = status;
        update(rsType, rs);
      }
      ready += rsReady;
      total += live.length;
      if (isNew) updated = live.length;
    }
    const newReady = ownedBy(current, "Pod").filter(podReady).length;
    const complete = newReady >= replicas && total === replicas;
    const status = {
      observedGeneration: deployment.metadata.generation,
      replicas: total,
      updatedReplicas: updated,
      readyReplicas: ready,
      availableReplicas: ready,
      ...(total - ready > 0 ? { unavailableReplicas: total - ready } : {}),
      conditions: [
        { type: "Available", status: ready >= replicas ? "True" : "False", reason: ready >= replicas ? "MinimumReplicasAvailable" : "MinimumReplicasUnavailable", message: ready >= replicas ? "Deployment has minimum availability." : "Deployment does not have minimum availability." },
        { type: "Progressing", status: "True", reason: complete ? "NewReplicaSetAvailable" : "ReplicaSetUpdated", message: complete ? `ReplicaSet "${rsName}" has successfully progressed.` : `ReplicaSet "${rsName}" is progressing.` },
        ...(replicaFailure ? [{ type: "ReplicaFailure", status: "True", reason: "FailedCreate", message: `pods "${rsName}-" is forbidden: ${replicaFailure}` }] : []),
      ],
    };
    if (JSON.stringify(deployment.status) !== JSON.stringify(status)) {
      deployment.status = status;
      update(byKind.get("Deployment")!, deployment);
    }
  }

  function finishJob(job: KubeObject, pod: KubeObject | undefined, outcome: JobOutcome): void {
    const jobType = byKind.get("Job")!;
    const current = objects.get(key(jobType, job.metadata.namespace, job.metadata.name));
    if (!current || current.metadata.uid !== job.metadata.uid) return;
    const spec = current.spec as { backoffLimit?: number; ttlSecondsAfterFinished?: number };
    const finished = now();
    const ok = outcome.result === "succeed";
    const exitCode = ok ? 0 : (outcome.exitCode ?? 1);
    const livePod = pod ? objects.get(key(byKind.get("Pod")!, pod.metadata.namespace, pod.metadata.name)) : undefined;
    if (livePod) {
      if (outcome.result === "deadline") {
        remove(byKind.get("Pod")!, livePod, "Background");
      } else {
        const containers = (livePod.spec as { containers: Array<{ name: string; image: string }> }).containers;
        livePod.status = {
          ...(livePod.status as object),
          phase: ok ? "Succeeded" : "Failed",
          conditions: [{ type: "Ready", status: "False", reason: "PodCompleted" }],
          containerStatuses: containers.map((c) => ({ name: c.name, image: c.image, imageID: "", ready: false, started: false, restartCount: 0, state: { terminated: { exitCode, reason: ok ? "Completed" : "Error", startedAt: finished, finishedAt: finished } } })),
        };
        update(byKind.get("Pod")!, livePod);
      }
    }
    const failedReason = outcome.result === "deadline" ? "DeadlineExceeded" : "BackoffLimitExceeded";
    const failedMessage = outcome.result === "deadline" ? "Job was active longer than specified deadline" : "Job has reached the specified backoff limit";
    current.status = {
      ...(current.status as object),
      active: 0,
      ready: 0,
      ...(ok ? { succeeded: 1 } : { failed: (spec.backoffLimit ?? 6) + 1 }),
      completionTime: ok ? finished : undefined,
      conditions: ok
        ? [
            { type: "SuccessCriteriaMet", status: "True", reason: "CompletionsReached", lastTransitionTime: finished },
            { type: "Complete", status: "True", reason: "CompletionsReached", lastTransitionTime: finished },
          ]
        : [
            { type: "FailureTarget", status: "True", reason: failedReason, message: failedMessage, lastTransitionTime: finished },
            { type: "Failed", status: "True", reason: failedReason, message: failedMessage, lastTransitionTime: finished },
          ],
    };
    if (!ok) delete (current.status as Record<string, unknown>).completionTime;
    update(jobType, current);
    recordEvent(current, ok ? "Normal" : "Warning", ok ? "Completed" : failedReason, ok ? "Job completed" : failedMessage);
    if (spec.ttlSecondsAfterFinished !== undefined) {
      later(spec.ttlSecondsAfterFinished * 1000, () => {
        const stillThere = objects.get(key(jobType, current.metadata.namespace, current.metadata.name));
        if (stillThere && stillThere.metadata.uid === current.metadata.uid) remove(jobType, stillThere, "Background");
      });
    }
  }

  function reconcileJob(job: KubeObject): void {
    if (jobsStarted.has(job.metadata.uid!)) return;
    jobsStarted.add(job.metadata.uid!);
    const spec = job.spec as { template: Record<string, any>; activeDeadlineSeconds?: number };
    const refusal = podSecurityRefusal(job.metadata.namespace, spec.template.metadata, spec.template.spec);
    if (refusal) {
      // The Job controller keeps failing to create its pod until the deadline ends the Job.
      recordFailedCreate(job, `${job.metadata.name}-${randomBytes(3).toString("hex").slice(0, 5)}`, refusal);
      job.status = { active: 0, startTime: now() };
      update(byKind.get("Job")!, job);
      later((spec.activeDeadlineSeconds ?? 600) * 1000, () => finishJob(job, undefined, { result: "deadline" }));
      return;
    }
    const labels = { ...(spec.template.metadata?.labels ?? {}), "batch.kubernetes.io/job-name": job.metadata.name, "job-name": job.metadata.name, "controller-uid": job.metadata.uid! };
    const pod = createPod(job, spec.template, labels, job.metadata.name);
    const containers = (pod.spec as { containers: Array<{ name: string; image: string }> }).containers;
    pod.status = {
      phase: "Running",
      startTime: now(),
      conditions: [{ type: "Ready", status: "True" }],
      containerStatuses: containers.map((c) => ({ name: c.name, image: c.image, imageID: "", ready: true, started: true, restartCount: 0, state: { running: { startedAt: now() } } })),
    };
    update(byKind.get("Pod")!, pod);
    job.status = { active: 1, ready: 1, startTime: now() };
    update(byKind.get("Job")!, job);
    const started = Date.now();
    Promise.resolve()
      .then(() => jobHandler(clone(job)))
      .catch((err: unknown): JobOutcome => ({ result: "fail", logs: `fake job handler threw: ${String(err)}` }))
      .then((outcome) => {
        if (closed) return;
        podLogs.set(`${pod.metadata.namespace}/${pod.metadata.name}`, outcome.logs ?? "");
        if (outcome.result === "deadline") {
          later(Math.max(0, (spec.activeDeadlineSeconds ?? 1) * 1000 - (Date.now() - started)), () => finishJob(job, pod, outcome));
        } else {
          later(outcome.delayMs ?? 50, () => finishJob(job, pod, outcome));
        }
      });
  }

  function reconcile(): void {
    for (const service of listStored(byKind.get("Service")!)) {
      const spec = service.spec as { type?: string; clusterIP?: string; clusterIPs?: string[] };
      if (spec.type !== "ExternalName" && !spec.clusterIP) {
        spec.clusterIP = `10.96.0.${++ipCounter % 250}`;
        spec.clusterIPs = [spec.clusterIP];
        update(byKind.get("Service")!, service);
      }
    }
    // A default StorageClass with a dynamic provisioner (Immediate binding): every claim gets a volume.
    for (const claim of listStored(byKind.get("PersistentVolumeClaim")!)) {
      if ((claim.status as { phase?: string } | undefined)?.phase === "Bound") continue;
      const spec = claim.spec as { accessModes?: string[]; resources?: { requests?: { storage?: string } }; volumeName?: string; storageClassName?: string };
      spec.volumeName ??= `pvc-${claim.metadata.uid}`;
      spec.storageClassName ??= "standard";
      claim.status = { phase: "Bound", accessModes: spec.accessModes ?? [], capacity: { storage: spec.resources?.requests?.storage ?? "1Gi" } };
      update(byKind.get("PersistentVolumeClaim")!, claim);
    }
    for (const deployment of listStored(byKind.get("Deployment")!)) reconcileDeployment(deployment);
    for (const job of listStored(byKind.get("Job")!)) reconcileJob(job);
  }

  // ---------- HTTP ----------

  const apiResourceList = (group: string, version: string): Record<string, unknown> => {
    const resources: Record<string, unknown>[] = [];
    for (const rt of RESOURCES.filter((r) => r.group === group && r.version === version)) {
      resources.push({ name: rt.plural, singularName: rt.singular, namespaced: rt.namespaced, kind: rt.kind, verbs: VERBS_ALL, ...(rt.shortNames ? { shortNames: rt.shortNames } : {}) });
      for (const sub of rt.subresources ?? []) {
        resources.push({ name: `${rt.plural}/${sub}`, singularName: "", namespaced: rt.namespaced, kind: sub === "scale" ? "Scale" : rt.kind, verbs: sub === "log" ? ["get"] : ["get", "patch", "update"] });
      }
    }
    return { kind: "APIResourceList", apiVersion: "v1", groupVersion: group ? `${group}/${version}` : version, resources };
  };

  const groups = [...new Set(RESOURCES.filter((r) => r.group).map((r) => r.group))];
  const apiGroupList = {
    kind: "APIGroupList",
    apiVersion: "v1",
    groups: groups.map((name) => {
      const versions = [...new Set(RESOURCES.filter((r) => r.group === name).map((r) => r.version))];
      const list = versions.map((v) => ({ groupVersion: `${name}/${v}`, version: v }));
      return { name, versions: list, preferredVersion: list[0] };
    }),
  };

  // OpenAPI v3: just enough for client-go's field-validation probe. A PATCH operation that accepts
  // `fieldValidation` tells kubectl/helm that the server validates, so they skip client-side schema
  // validation (which would need the protobuf OpenAPI v2 document the fake does not serve).
  const groupVersions = [...new Set(RESOURCES.map((r) => (r.group ? `apis/${r.group}/${r.version}` : `api/${r.version}`)))];
  const openApiV3Root = {
    paths: Object.fromEntries(groupVersions.map((gv) => [gv, { serverRelativeURL: `/openapi/v3/${gv}?hash=${createHash("sha256").update(gv).digest("hex").slice(0, 16).toUpperCase()}` }])),
  };
  function openApiV3Document(gvPath: string): Record<string, unknown> | undefined {
    if (!groupVersions.includes(gvPath)) return undefined;
    const paths: Record<string, unknown> = {};
    for (const rt of RESOURCES) {
      const prefix = rt.group ? `apis/${rt.group}/${rt.version}` : `api/${rt.version}`;
      if (prefix !== gvPath) continue;
      const itemPath = rt.namespaced ? `/${prefix}/namespaces/{namespace}/${rt.plural}/{name}` : `/${prefix}/${rt.plural}/{name}`;
      paths[itemPath] = {
        patch: {
          operationId: `patch${rt.kind}`,
          parameters: [
            { name: "fieldValidation", in: "query", schema: { type: "string", uniqueItems: true } },
            { name: "fieldManager", in: "query", schema: { type: "string", uniqueItems: true } },
          ],
          responses: { "200": { description: "OK" } },
          "x-kubernetes-action": "patch",
          "x-kubernetes-group-version-kind": { group: rt.group, version: rt.version, kind: rt.kind },
        },
      };
    }
    return { openapi: "3.0.0", info: { title: "Kubernetes", version: `v1.${options.minorVersion ?? 31}.0` }, paths, components: { schemas: {} } };
  }

  async function readBody(req: IncomingMessage): Promise<Buffer> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > 3 * 1024 * 1024) throw new HttpError(413, "RequestEntityTooLarge", "request is larger than 3 MiB");
      chunks.push(chunk as Buffer);
    }
    return Buffer.concat(chunks);
  }

  /** A request body as JSON, whatever the client sent it as (JSON, YAML or protobuf). */
  function parseBody(body: Buffer, contentType: string | undefined): Record<string, unknown> {
    const type = (contentType ?? "application/json").split(";")[0]!.trim();
    if (type === "application/vnd.kubernetes.protobuf") {
      try {
        return decodeKubeProtobuf(body);
      } catch (err) {
        throw new HttpError(415, "UnsupportedMediaType", String(err));
      }
    }
    return parseJsonBody(body.toString("utf8"), type.endsWith("yaml"));
  }

  function parseJsonBody(text: string, yaml = false): Record<string, unknown> {
    try {
      const value: unknown = yaml ? parseYaml(text) : JSON.parse(text);
      if (!value || typeof value !== "object" || Array.isArray(value)) throw new Error("not an object");
      return value as Record<string, unknown>;
    } catch (err) {
      throw new HttpError(400, "BadRequest", `the body of the request was in an unknown format: ${String(err)}`);
    }
  }

  /** Pod Security admission of a Pod write: 403 Forbidden with the server's message. */
  function assertPodAdmitted(rt: ResourceType, object: KubeObject): void {
    if (rt.kind !== "Pod") return;
    const refusal = podSecurityRefusal(object.metadata.namespace, object.metadata, object.spec as Record<string, any> | undefined);
    if (refusal) throw new HttpError(403, "Forbidden", `pods "${object.metadata.name}" is forbidden: ${refusal}`, { name: object.metadata.name, kind: "pods" });
  }

  async function assertValid(rt: ResourceType, object: KubeObject): Promise<void> {
    const errors = await validateObject(object);
    if (errors.length === 0) return;
    const name = object.metadata?.name ?? "";
    const gk = rt.group ? `${rt.kind}.${rt.group}` : rt.kind;
    throw new HttpError(422, "Invalid", `${gk} "${name}" is invalid: [${errors.join(", ")}]`, {
      name,
      group: rt.group,
      kind: rt.kind,
      causes: errors.map((message) => ({ reason: "FieldValueInvalid", message })),
    });
  }

  function assertNamespaceWritable(rt: ResourceType, namespace: string | undefined, name: string): void {
    if (!rt.namespaced) return;
    const ns = namespaceOf(namespace);
    if (!ns) throw new HttpError(404, "NotFound", `namespaces "${namespace}" not found`, { name: namespace, kind: "namespaces" });
    if (ns.metadata.deletionTimestamp) {
      throw new HttpError(403, "Forbidden", `${resourceLabel(rt)} "${name}" is forbidden: unable to create new content in namespace ${namespace} because it is being terminated`, {
        name,
        group: rt.group,
        kind: rt.plural,
        causes: [{ reason: "NamespaceTerminating", message: `namespace ${namespace} is being terminated`, field: "metadata.namespace" }],
      });
    }
  }

  function normaliseBody(rt: ResourceType, body: Record<string, unknown>, namespace: string | undefined, name?: string): KubeObject {
    const object = body as KubeObject;
    if (object.kind !== undefined && object.kind !== rt.kind) {
      throw new HttpError(400, "BadRequest", `the API version in the data (${String(object.apiVersion)}) does not match the expected API version (${groupVersion(rt)}) or kind ${String(object.kind)} != ${rt.kind}`);
    }
    object.apiVersion = groupVersion(rt);
    object.kind = rt.kind;
    object.metadata = { ...((object.metadata as object) ?? {}) } as KubeObject["metadata"];
    if (rt.namespaced) {
      if (object.metadata.namespace && object.metadata.namespace !== namespace) {
        throw new HttpError(400, "BadRequest", "the namespace of the provided object does not match the namespace sent on the request");
      }
      object.metadata.namespace = namespace;
    }
    if (!object.metadata.name && object.metadata.generateName) {
      object.metadata.name = `${String(object.metadata.generateName)}${randomBytes(3).toString("hex").slice(0, 5)}`;
    }
    if (name !== undefined && object.metadata.name !== name) {
      throw new HttpError(400, "BadRequest", `the name of the object (${object.metadata.name}) does not match the name on the URL (${name})`);
    }
    if (!object.metadata.name) {
      throw new HttpError(422, "Invalid", `${rt.kind} "" is invalid: metadata.name: Required value: name or generateName is required`, { kind: rt.kind, causes: [{ reason: "FieldValueRequired", field: "metadata.name" }] });
    }
    return object;
  }

  function applyDefaults(rt: ResourceType, object: KubeObject): void {
    // Server-side defaults helm's readiness check and berth read back.
    if (rt.kind === "Namespace") object.status = { phase: "Active" };
    if (rt.kind === "Deployment") {
      const spec = object.spec as Record<string, unknown>;
      spec.replicas ??= 1;
      spec.strategy ??= { type: "RollingUpdate", rollingUpdate: { maxUnavailable: "25%", maxSurge: "25%" } };
      spec.revisionHistoryLimit ??= 10;
      spec.progressDeadlineSeconds ??= 600;
    }
    if (rt.kind === "Job") {
      const spec = object.spec as Record<string, unknown>;
      spec.backoffLimit ??= 6;
      spec.completions ??= 1;
      spec.parallelism ??= 1;
    }
    if (rt.kind === "Service") {
      const spec = object.spec as Record<string, unknown>;
      spec.type ??= "ClusterIP";
    }
    if (rt.kind === "Secret" && object.stringData !== undefined) {
      // stringData is write-only: merged into data (base64), winning over the same key there.
      const data = { ...((object.data as Record<string, string> | undefined) ?? {}) };
      for (const [name, value] of Object.entries(object.stringData as Record<string, string>)) data[name] = Buffer.from(value, "utf8").toString("base64");
      object.data = data;
      delete object.stringData;
    }
  }

  async function handleCreate(rt: ResourceType, namespace: string | undefined, body: Record<string, unknown>, dryRun: boolean): Promise<[number, unknown]> {
    const object = normaliseBody(rt, body, namespace);
    assertNamespaceWritable(rt, namespace, object.metadata.name);
    await assertValid(rt, object);
    const existing = objects.get(key(rt, namespace, object.metadata.name));
    if (existing) {
      throw new HttpError(409, "AlreadyExists", `${resourceLabel(rt)} "${object.metadata.name}" already exists`, { name: object.metadata.name, group: rt.group, kind: rt.plural });
    }
    for (const field of ["uid", "resourceVersion", "creationTimestamp", "deletionTimestamp", "generation"]) delete object.metadata[field];
    delete object.status;
    applyDefaults(rt, object);
    assertPodAdmitted(rt, object);
    if (dryRun) return [201, object];
    const created = insert(rt, object);
    admitWorkload(created);
    return [201, clone(created)];
  }

  async function handleReplace(rt: ResourceType, namespace: string | undefined, name: string, body: Record<string, unknown>, subresource: string | undefined, dryRun: boolean): Promise<[number, unknown]> {
    const object = normaliseBody(rt, body, namespace, name);
    const existing = objects.get(key(rt, namespace, name));
    if (!existing) throw notFound(rt, name);
    if (object.metadata.resourceVersion && object.metadata.resourceVersion !== existing.metadata.resourceVersion) {
      throw new HttpError(409, "Conflict", `Operation cannot be fulfilled on ${resourceLabel(rt)} "${name}": the object has been modified; please apply your changes to the latest version and try again`, { name, group: rt.group, kind: rt.plural });
    }
    return writeUpdate(rt, existing, object, subresource, dryRun);
  }

  async function writeUpdate(rt: ResourceType, existing: KubeObject, incoming: KubeObject, subresource: string | undefined, dryRun: boolean): Promise<[number, unknown]> {
    let next: KubeObject;
    if (subresource === "status") {
      next = { ...clone(existing), status: incoming.status };
    } else {
      next = { ...incoming, metadata: { ...incoming.metadata } };
      // Identity and system fields are the server's; status changes only through /status.
      for (const field of ["uid", "creationTimestamp", "deletionTimestamp"] as const) {
        if (existing.metadata[field] !== undefined) next.metadata[field] = existing.metadata[field];
      }
      next.metadata.generation = existing.metadata.generation;
      if (existing.status !== undefined) next.status = existing.status;
      else delete next.status;
      if (JSON.stringify(existing.spec) !== JSON.stringify(next.spec)) next.metadata.generation = (existing.metadata.generation ?? 1) + 1;
      if (rt.kind === "Service") {
        // clusterIP is immutable once set; clients that drop it keep the allocated one.
        const spec = next.spec as Record<string, unknown>;
        const old = existing.spec as Record<string, unknown>;
        spec.clusterIP ??= old.clusterIP;
        spec.clusterIPs ??= old.clusterIPs;
      }
      applyDefaults(rt, next);
      if (rt.kind === "Namespace") next.status = existing.status;
    }
    await assertValid(rt, next);
    if (subresource !== "status") assertPodAdmitted(rt, next);
    if (dryRun) return [200, next];
    if (JSON.stringify({ ...next, metadata: { ...next.metadata, resourceVersion: undefined } }) === JSON.stringify({ ...existing, metadata: { ...existing.metadata, resourceVersion: undefined } })) {
      return [200, clone(existing)];
    }
    const stored = store(rt, next);
    if (subresource !== "status") admitWorkload(stored);
    return [200, clone(stored)];
  }

  async function handlePatch(rt: ResourceType, namespace: string | undefined, name: string, text: string, contentType: string, query: URLSearchParams, subresource: string | undefined, dryRun: boolean): Promise<[number, unknown]> {
    const type = contentType.split(";")[0]!.trim();
    const existing = objects.get(key(rt, namespace, name));
    if (type === "application/apply-patch+yaml" || type === "application/apply-patch+json") {
      if (!query.get("fieldManager")) throw new HttpError(400, "BadRequest", "PATCH /apply requires fieldManager to be set");
      const body = parseJsonBody(text, true);
      if (!existing) {
        if (subresource) throw notFound(rt, name);
        const object = normaliseBody(rt, body, namespace, name);
        assertNamespaceWritable(rt, namespace, name);
        await assertValid(rt, object);
        applyDefaults(rt, object);
        assertPodAdmitted(rt, object);
        if (dryRun) return [201, object];
        const created = insert(rt, object);
        admitWorkload(created);
        return [201, clone(created)];
      }
      // Approximation of server-side apply: the applied configuration merges over the live object.
      const merged = strategicMergePatch(clone(existing) as unknown as Json, body as Json) as unknown as KubeObject;
      return writeUpdate(rt, existing, normaliseBody(rt, merged, namespace, name), subresource, dryRun);
    }
    if (!existing) throw notFound(rt, name);
    const patch = parseJsonBody(text) as Json;
    let merged: unknown;
    if (type === "application/merge-patch+json") merged = mergePatch(clone(existing) as unknown as Json, patch);
    else if (type === "application/strategic-merge-patch+json") merged = strategicMergePatch(clone(existing) as unknown as Json, patch);
    else throw new HttpError(415, "UnsupportedMediaType", `the fake API server does not support patch type ${type}`);
    const object = merged as KubeObject;
    if (object.metadata?.resourceVersion && object.metadata.resourceVersion !== existing.metadata.resourceVersion) {
      throw new HttpError(409, "Conflict", `Operation cannot be fulfilled on ${resourceLabel(rt)} "${name}": the object has been modified`, { name, kind: rt.plural });
    }
    return writeUpdate(rt, existing, normaliseBody(rt, object as unknown as Record<string, unknown>, namespace, name), subresource, dryRun);
  }

  function handleDelete(rt: ResourceType, namespace: string | undefined, name: string, rawBody: Buffer, contentType: string | undefined, query: URLSearchParams, dryRun: boolean): [number, unknown] {
    const existing = objects.get(key(rt, namespace, name));
    if (!existing) throw notFound(rt, name);
    let propagation = query.get("propagationPolicy") ?? undefined;
    if (rawBody.length > 0 && rawBody.toString("utf8").trim() !== "") {
      const body = parseBody(rawBody, contentType);
      if (typeof body.propagationPolicy === "string") propagation = body.propagationPolicy;
      if (body.orphanDependents === true) propagation = "Orphan";
    }
    // batch/v1 Jobs orphan their pods unless told otherwise, like the real API.
    propagation ??= rt.kind === "Job" ? "Orphan" : "Background";
    if (dryRun) return [200, clone(existing)];
    if (rt.kind === "Namespace") {
      if (!existing.metadata.deletionTimestamp) {
        existing.metadata.deletionTimestamp = now();
        existing.status = { phase: "Terminating" };
        existing.spec = { finalizers: ["kubernetes"] };
        store(rt, existing);
        later(terminationMs, () => {
          for (const [, child] of [...objects]) {
            const childType = byKind.get(child.kind);
            if (child.metadata.namespace === name && childType?.namespaced) {
              forget(childType, child);
              if (child.kind === "Pod") podLogs.delete(`${name}/${child.metadata.name}`);
            }
          }
          forget(rt, existing);
        });
      }
      return [200, clone(existing)];
    }
    remove(rt, existing, propagation);
    return [200, { kind: "Status", apiVersion: "v1", metadata: {}, status: "Success", details: { name, group: rt.group, kind: rt.plural, uid: existing.metadata.uid } }];
  }

  function handleList(rt: ResourceType, namespace: string | undefined, query: URLSearchParams): [number, unknown] | WatchStart {
    if (query.get("watch") === "true" || query.get("watch") === "1") {
      // A bad selector is refused before the stream starts, as the API server does.
      selectItems([], query);
      if (query.get("sendInitialEvents") === "true" && (query.get("allowWatchBookmarks") !== "true" || query.get("resourceVersionMatch") !== "NotOlderThan")) {
        throw new HttpError(422, "Invalid", "sendInitialEvents requires allowWatchBookmarks=true and resourceVersionMatch=NotOlderThan");
      }
      return { watch: true, rt, namespace, query };
    }
    const items = selectItems(listStored(rt, namespace), query);
    items.sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
    return [200, { kind: `${rt.kind}List`, apiVersion: groupVersion(rt), metadata: { resourceVersion: String(resourceVersion) }, items: clone(items) }];
  }

  function handlePodLog(namespace: string, name: string, query: URLSearchParams): [number, string] {
    const pod = objects.get(key(byKind.get("Pod")!, namespace, name));
    if (!pod) throw notFound(byKind.get("Pod")!, name);
    let text = podLogs.get(`${namespace}/${name}`) ?? "";
    const tail = query.get("tailLines");
    if (tail !== null) {
      const lines = text.split("\n");
      if (lines.at(-1) === "") lines.pop();
      text = lines.slice(-Number(tail)).map((l) => `${l}\n`).join("");
    }
    const limit = query.get("limitBytes");
    if (limit !== null) text = text.slice(0, Number(limit));
    return [200, text];
  }

  async function route(req: IncomingMessage, url: URL): Promise<[number, unknown] | WatchStart> {
    const method = req.method ?? "GET";
    const path = url.pathname.replace(/\/+$/, "") || "/";
    if (method === "GET" && path === "/version") {
      const minor = options.minorVersion ?? 31;
      return [200, { major: "1", minor: String(minor), gitVersion: `v1.${minor}.0`, gitCommit: "fake", gitTreeState: "clean", buildDate: "2024-08-13T00:00:00Z", goVersion: "go1.22.5", compiler: "gc", platform: "linux/amd64" }];
    }
    if (method === "GET" && (path === "/healthz" || path === "/readyz" || path === "/livez")) return [200, "ok"];
    if (method === "GET" && path === "/api") {
      return [200, { kind: "APIVersions", versions: ["v1"], serverAddressByClientCIDRs: [{ clientCIDR: "0.0.0.0/0", serverAddress: url.host }] }];
    }
    if (method === "GET" && path === "/apis") return [200, apiGroupList];
    if (method === "GET" && path === "/openapi/v3") return [200, openApiV3Root];
    if (method === "GET" && path.startsWith("/openapi/v3/")) {
      const doc = openApiV3Document(path.slice("/openapi/v3/".length));
      if (!doc) throw new HttpError(404, "NotFound", "the server could not find the requested resource");
      return [200, doc];
    }

    const segments = path.split("/").filter(Boolean).map(decodeURIComponent);
    let group: string;
    let version: string;
    let rest: string[];
    if (segments[0] === "api" && segments.length >= 2) {
      group = "";
      version = segments[1]!;
      rest = segments.slice(2);
    } else if (segments[0] === "apis" && segments.length >= 3) {
      group = segments[1]!;
      version = segments[2]!;
      rest = segments.slice(3);
    } else if (segments[0] === "apis" && segments.length === 2) {
      const entry = apiGroupList.groups.find((g) => g.name === segments[1]);
      if (!entry) throw new HttpError(404, "NotFound", "the server could not find the requested resource");
      return [200, { kind: "APIGroup", apiVersion: "v1", ...entry }];
    } else {
      throw new HttpError(404, "NotFound", "the server could not find the requested resource");
    }
    if (!RESOURCES.some((r) => r.group === group && r.version === version)) {
      throw new HttpError(404, "NotFound", "the server could not find the requested resource");
    }
    if (rest.length === 0 && method === "GET") return [200, apiResourceList(group, version)];

    let namespace: string | undefined;
    let plural: string;
    let name: string | undefined;
    let subresource: string | undefined;
    const namespacedType = rest[0] === "namespaces" && rest.length >= 3 ? RESOURCES.find((r) => r.group === group && r.version === version && r.plural === rest[2] && r.namespaced) : undefined;
    if (namespacedType) {
      namespace = rest[1];
      plural = rest[2]!;
      name = rest[3];
      subresource = rest[4];
    } else {
      plural = rest[0]!;
      name = rest[1];
      subresource = rest[2];
    }
    const rt = RESOURCES.find((r) => r.group === group && r.version === version && r.plural === plural);
    if (!rt) throw new HttpError(404, "NotFound", "the server could not find the requested resource");
    if (subresource && !(rt.subresources ?? []).includes(subresource)) throw new HttpError(404, "NotFound", "the server could not find the requested resource");

    const impersonated = req.headers["impersonate-user"];
    if (typeof impersonated === "string") authorizeImpersonated(impersonated, method, url.searchParams, rt, namespace, name, subresource);

    const dryRun = url.searchParams.getAll("dryRun").includes("All");
    if (name === undefined) {
      if (method === "GET") return handleList(rt, namespace, url.searchParams);
      if (method === "POST") {
        if (rt.namespaced && namespace === undefined) throw new HttpError(405, "MethodNotAllowed", "POST needs a namespace");
        return handleCreate(rt, namespace, parseBody(await readBody(req), req.headers["content-type"]), dryRun);
      }
      throw new HttpError(405, "MethodNotAllowed", `${method} is not supported on a collection by the fake`);
    }
    if (rt.namespaced && namespace === undefined) throw new HttpError(404, "NotFound", "the server could not find the requested resource");
    if (subresource === "log") {
      if (method !== "GET") throw new HttpError(405, "MethodNotAllowed", "logs are read-only");
      return handlePodLog(namespace!, name, url.searchParams);
    }
    switch (method) {
      case "GET": {
        const object = objects.get(key(rt, namespace, name));
        if (!object) throw notFound(rt, name);
        return [200, clone(object)];
      }
      case "PUT":
        return handleReplace(rt, namespace, name, parseBody(await readBody(req), req.headers["content-type"]), subresource, dryRun);
      case "PATCH":
        return handlePatch(rt, namespace, name, (await readBody(req)).toString("utf8"), req.headers["content-type"] ?? "", url.searchParams, subresource, dryRun);
      case "DELETE":
        return handleDelete(rt, namespace, name, await readBody(req), req.headers["content-type"], url.searchParams, dryRun);
      default:
        throw new HttpError(405, "MethodNotAllowed", `${method} is not supported`);
    }
  }

  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const record: RecordedRequest = {
      method: req.method ?? "GET",
      path: url.pathname,
      query: url.search,
      contentType: req.headers["content-type"],
      userAgent: req.headers["user-agent"],
      ...(typeof req.headers["impersonate-user"] === "string" ? { impersonateUser: req.headers["impersonate-user"] } : {}),
      status: 0,
    };
    requests.push(record);
    const send = (code: number, body: unknown): void => {
      record.status = code;
      if (typeof body === "string") {
        res.writeHead(code, { "content-type": "text/plain; charset=utf-8" });
        res.end(body);
        return;
      }
      res.writeHead(code, { "content-type": "application/json" });
      res.end(JSON.stringify(body));
    };
    // client-go never sends a bearer token over plain HTTP, so only a wrong token is refused; the
    // kubeconfig's `broken` current context is what proves callers pick the right context.
    if (req.headers.authorization !== undefined && req.headers.authorization !== `Bearer ${token}`) {
      req.resume();
      send(401, statusBody(401, "Unauthorized", "Unauthorized"));
      return;
    }
    route(req, url).then(
      (answer) => {
        if (!Array.isArray(answer)) {
          record.status = 200;
          startWatch(answer, req, res);
          return;
        }
        const [code, body] = answer;
        send(code, body);
      },
      (err: unknown) => {
        if (err instanceof HttpError) send(err.code, statusBody(err.code, err.reason, err.message, err.details));
        else send(500, statusBody(500, "InternalError", `fake API server error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`));
      },
    );
  });

  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}`;

  const dir = mkdtempSync(join(tmpdir(), "berth-kube-fake-"));
  const kubeconfigPath = join(dir, "kubeconfig.yaml");
  writeFileSync(
    kubeconfigPath,
    stringifyYaml({
      apiVersion: "v1",
      kind: "Config",
      clusters: [
        // client-node refuses plain http unless TLS verification is marked as skipped.
        { name: "fake", cluster: { server: url, "insecure-skip-tls-verify": true } },
        { name: "broken", cluster: { server: PORT_UNUSED } },
      ],
      users: [{ name: "fake", user: { token } }],
      contexts: [
        { name: "fake", context: { cluster: "fake", user: "fake", namespace: "default" } },
        { name: "broken", context: { cluster: "broken", user: "fake", namespace: "default" } },
      ],
      "current-context": "broken",
    }),
    { mode: 0o600 },
  );

  // A fresh cluster has the default namespaces.
  for (const name of ["default", "kube-system"]) insert(byKind.get("Namespace")!, { apiVersion: "v1", kind: "Namespace", metadata: { name }, status: { phase: "Active" } });
  const reconcileTimer = setInterval(reconcile, 100);
  reconcileTimer.unref();

  const typeOf = (kind: string): ResourceType => {
    const rt = byKind.get(kind);
    if (!rt) throw new Error(`the fake does not serve kind ${kind}`);
    return rt;
  };

  return {
    url,
    kubeconfigPath,
    token,
    requests,
    list: (kind, namespace) => clone(listStored(typeOf(kind), namespace)),
    get: (kind, namespace, name) => {
      const object = objects.get(key(typeOf(kind), namespace, name));
      return object ? clone(object) : undefined;
    },
    put: (object) => {
      const rt = typeOf(object.kind);
      const existing = objects.get(key(rt, object.metadata.namespace, object.metadata.name));
      if (existing) return clone(store(rt, { ...clone(object), metadata: { ...clone(object.metadata), uid: existing.metadata.uid, creationTimestamp: existing.metadata.creationTimestamp } }));
      return clone(insert(rt, clone(object)));
    },
    failRollout: (failure) => failures.push(failure),
    clearRolloutFailures: () => {
      failures.length = 0;
    },
    onJob: (handler) => {
      jobHandler = handler;
    },
    setNamespaceTerminationMs: (ms) => {
      terminationMs = ms;
    },
    close: async () => {
      closed = true;
      clearInterval(reconcileTimer);
      for (const timer of timers) clearTimeout(timer);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
