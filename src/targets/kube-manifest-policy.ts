/**
 * What a preview's rendered manifests may contain on the Kubernetes target. The chart and its
 * values come from the PR's commit, so everything it renders is checked before helm installs it:
 * a preview may only serve its own host, only inside its own namespace, and never reach the node.
 * Pure: objects in, violations out.
 */

/** A rendered object as `helm template` prints it (only the fields the policy reads). */
export interface RenderedObject {
  apiVersion?: unknown;
  kind?: unknown;
  metadata?: { name?: unknown; namespace?: unknown; annotations?: unknown } | null;
  spec?: unknown;
  [key: string]: unknown;
}

/** What the policy needs to know about the preview. */
export interface ManifestPolicyContext {
  /** The release's namespace: objects may live only here. */
  namespace: string;
  /** The preview's own public host: the only host an Ingress may serve. */
  host: string;
  /** ServiceAccount helm deploys as: a pod running as it would get helm's rights in the namespace. */
  deployerServiceAccount?: string;
}

/** One refused thing in one object. */
export interface ManifestViolation {
  /** `Ingress/preview`, `Deployment/api`, ... */
  object: string;
  message: string;
}

/**
 * Kinds a preview chart may not create: cluster-scoped ones (helm's namespace ServiceAccount cannot
 * create them anyway; refused here with a clear message), and namespaced ones that would undo
 * berth's own boundary (NetworkPolicies are additive, so any extra one can open traffic; RBAC objects
 * could hand out the deployer's rights; hand-written Endpoints let a Service point at any IP, e.g.
 * the cloud metadata address, through the ingress controller).
 */
const FORBIDDEN_KINDS: Record<string, string> = {
  Namespace: "cluster-scoped",
  ClusterRole: "cluster-scoped",
  ClusterRoleBinding: "cluster-scoped",
  CustomResourceDefinition: "cluster-scoped",
  PersistentVolume: "cluster-scoped",
  StorageClass: "cluster-scoped",
  IngressClass: "cluster-scoped",
  PriorityClass: "cluster-scoped",
  RuntimeClass: "cluster-scoped",
  ValidatingWebhookConfiguration: "cluster-scoped",
  MutatingWebhookConfiguration: "cluster-scoped",
  ValidatingAdmissionPolicy: "cluster-scoped",
  ValidatingAdmissionPolicyBinding: "cluster-scoped",
  APIService: "cluster-scoped",
  Node: "cluster-scoped",
  CertificateSigningRequest: "cluster-scoped",
  NetworkPolicy: "berth owns the namespace's network policies",
  Role: "berth owns the namespace's RBAC",
  RoleBinding: "berth owns the namespace's RBAC",
  ResourceQuota: "berth owns the namespace's quota",
  LimitRange: "berth owns the namespace's limits",
  Endpoints: "hand-written endpoints can point a Service at any address",
  EndpointSlice: "hand-written endpoints can point a Service at any address",
};

/** Kinds whose pod template sits at `spec.template.spec` (CronJob: `spec.jobTemplate.spec.template.spec`). */
const TEMPLATE_KINDS = new Set(["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job"]);

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function records(value: unknown): Record<string, unknown>[] {
  return Array.isArray(value) ? value.filter(isRecord) : [];
}

function at(value: unknown, ...path: string[]): unknown {
  let current = value;
  for (const segment of path) current = isRecord(current) ? current[segment] : undefined;
  return current;
}

/** The pod spec an object runs, if it runs pods. */
export function podSpecOf(object: RenderedObject): Record<string, unknown> | undefined {
  const kind = String(object.kind ?? "");
  let spec: unknown;
  if (kind === "Pod") spec = object.spec;
  else if (TEMPLATE_KINDS.has(kind)) spec = at(object.spec, "template", "spec");
  else if (kind === "CronJob") spec = at(object.spec, "jobTemplate", "spec", "template", "spec");
  else if (kind === "PodTemplate") spec = at(object, "template", "spec");
  return isRecord(spec) ? spec : undefined;
}

function checkPodSpec(spec: Record<string, unknown>, ctx: ManifestPolicyContext, add: (message: string) => void): void {
  for (const field of ["hostNetwork", "hostPID", "hostIPC"] as const) {
    if (spec[field] === true) add(`sets ${field}: true`);
  }
  const account = spec.serviceAccountName ?? spec.serviceAccount;
  if (ctx.deployerServiceAccount && account === ctx.deployerServiceAccount) {
    add(`runs as the ServiceAccount ${ctx.deployerServiceAccount}, which berth deploys with`);
  }
  for (const volume of records(spec.volumes)) {
    if (volume.hostPath !== undefined) add(`mounts the node path ${String(at(volume, "hostPath", "path") ?? "?")} (hostPath volume ${String(volume.name ?? "")})`);
  }
  const containers = [...records(spec.initContainers), ...records(spec.containers), ...records(spec.ephemeralContainers)];
  for (const container of containers) {
    const name = String(container.name ?? "?");
    if (at(container, "securityContext", "privileged") === true) add(`container ${name} is privileged`);
    for (const port of records(container.ports)) {
      if (typeof port.hostPort === "number" && port.hostPort !== 0) add(`container ${name} binds host port ${port.hostPort}`);
    }
  }
}

/** An Ingress annotation that injects raw controller configuration (ingress-nginx `*-snippet`). */
export function isSnippetAnnotation(key: string): boolean {
  return /snippet/i.test(key);
}

function checkIngress(object: RenderedObject, ctx: ManifestPolicyContext, add: (message: string) => void): void {
  const spec = isRecord(object.spec) ? object.spec : {};
  if (spec.defaultBackend !== undefined || spec.backend !== undefined) add("sets a default backend (it would serve every host)");
  for (const rule of records(spec.rules)) {
    if (typeof rule.host !== "string" || rule.host === "") add("has a rule without a host (it would serve every host)");
    else if (rule.host.toLowerCase() !== ctx.host.toLowerCase()) add(`serves host ${rule.host}; a preview may only serve ${ctx.host}`);
  }
  for (const tls of records(spec.tls)) {
    for (const host of Array.isArray(tls.hosts) ? tls.hosts : []) {
      if (String(host).toLowerCase() !== ctx.host.toLowerCase()) add(`claims TLS host ${String(host)}; a preview may only serve ${ctx.host}`);
    }
  }
}

function checkAnnotations(object: RenderedObject, add: (message: string) => void): void {
  const annotations = object.metadata?.annotations;
  if (!isRecord(annotations)) return;
  for (const key of Object.keys(annotations)) {
    if (isSnippetAnnotation(key)) add(`has the annotation ${key}, which injects ingress controller configuration`);
  }
}

function checkService(object: RenderedObject, add: (message: string) => void): void {
  const spec = isRecord(object.spec) ? object.spec : {};
  const type = typeof spec.type === "string" ? spec.type : "ClusterIP";
  if (type === "NodePort" || type === "LoadBalancer") add(`is of type ${type}; previews are reached through their Ingress only`);
  if (type === "ExternalName") add("is of type ExternalName (it could route the preview's Ingress to any address)");
  if (Array.isArray(spec.externalIPs) && spec.externalIPs.length > 0) add(`sets externalIPs (${spec.externalIPs.map(String).join(", ")})`);
}

/** Gateway API routes: `spec.hostnames` must be the preview's own host. */
function checkRoute(object: RenderedObject, ctx: ManifestPolicyContext, add: (message: string) => void): void {
  const hostnames = at(object.spec, "hostnames");
  const list = Array.isArray(hostnames) ? hostnames.map(String) : [];
  if (list.length === 0) add("has no hostnames (it would serve every host of its Gateway)");
  for (const host of list) if (host.toLowerCase() !== ctx.host.toLowerCase()) add(`serves host ${host}; a preview may only serve ${ctx.host}`);
}

/**
 * Every violation in a release's rendered objects, in order. Empty means helm may install them.
 * (Pod Security admission is enforced by the API server on top of this; this check catches what
 * admission does not look at, and says it before anything is installed.)
 */
export function checkManifests(objects: readonly RenderedObject[], ctx: ManifestPolicyContext): ManifestViolation[] {
  const violations: ManifestViolation[] = [];
  for (const object of objects) {
    const kind = typeof object.kind === "string" ? object.kind : "";
    const label = `${kind || "(no kind)"}/${String(object.metadata?.name ?? "(no name)")}`;
    const add = (message: string): void => {
      violations.push({ object: label, message });
    };
    const namespace = object.metadata?.namespace;
    if (namespace !== undefined && namespace !== null && namespace !== "" && namespace !== ctx.namespace) {
      add(`is in namespace ${String(namespace)}; a preview may only create objects in ${ctx.namespace}`);
    }
    const forbidden = FORBIDDEN_KINDS[kind];
    if (forbidden) add(`kind ${kind} is not allowed in a preview (${forbidden})`);
    if (kind === "List") add("kind List is not allowed in a preview (render objects one by one)");
    checkAnnotations(object, add);
    if (kind === "Ingress") checkIngress(object, ctx, add);
    if (kind === "Service") checkService(object, add);
    // The token controller fills such a Secret with a token of any ServiceAccount it names, helm's too.
    if (kind === "Secret" && object.type === "kubernetes.io/service-account-token") add("is a ServiceAccount token Secret (it would hand out an account's API token)");
    if (String(object.apiVersion ?? "").startsWith("gateway.networking.k8s.io/") && /Route$/.test(kind)) checkRoute(object, ctx, add);
    const pod = podSpecOf(object);
    if (pod) checkPodSpec(pod, ctx, add);
  }
  return violations;
}

/** The violations as one message for the status comment. */
export function formatViolations(namespace: string, violations: readonly ManifestViolation[]): string {
  return [`berth refused the preview's manifests for namespace ${namespace}:`, ...violations.map((v) => `- ${v.object} ${v.message}`)].join("\n");
}
