/**
 * The rendered-manifest policy of the Kubernetes target: what a preview's chart may render.
 */
import { describe, expect, it } from "vitest";
import { checkManifests, formatViolations, isSnippetAnnotation, type RenderedObject } from "../../src/targets/kube-manifest-policy.js";

const ctx = { namespace: "acme-app-1a2b3c4d-pr-7", host: "acme-app-1a2b3c4d-pr-7.preview.example.test", deployerServiceAccount: "berth-deployer" };

const deployment = (podSpec: Record<string, unknown>): RenderedObject => ({
  apiVersion: "apps/v1",
  kind: "Deployment",
  metadata: { name: "web" },
  spec: { selector: {}, template: { metadata: {}, spec: { containers: [{ name: "app", image: "r/x:1" }], ...podSpec } } },
});

const ingress = (spec: Record<string, unknown>, annotations?: Record<string, string>): RenderedObject => ({
  apiVersion: "networking.k8s.io/v1",
  kind: "Ingress",
  metadata: { name: "web", ...(annotations ? { annotations } : {}) },
  spec,
});

const messages = (objects: RenderedObject[]): string[] => checkManifests(objects, ctx).map((v) => `${v.object} ${v.message}`);

describe("checkManifests", () => {
  it("accepts what the built-in chart renders: a Deployment, a ClusterIP Service and an Ingress for the preview's own host", () => {
    expect(
      messages([
        deployment({}),
        { apiVersion: "v1", kind: "Service", metadata: { name: "web", namespace: ctx.namespace }, spec: { type: "ClusterIP", ports: [{ port: 80 }] } },
        ingress({ rules: [{ host: ctx.host }], tls: [{ hosts: [ctx.host.toUpperCase()], secretName: "wildcard" }] }, { "nginx.ingress.kubernetes.io/proxy-body-size": "8m" }),
        { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "settings" }, data: {} },
      ]),
    ).toEqual([]);
  });

  it("refuses Ingress hosts other than the preview's own, host-less rules, default backends and foreign TLS hosts", () => {
    expect(messages([ingress({ rules: [{ host: "login.bank.example" }, { http: {} }], defaultBackend: { service: { name: "x" } }, tls: [{ hosts: ["*.preview.example.test"] }] })])).toEqual([
      "Ingress/web sets a default backend (it would serve every host)",
      `Ingress/web serves host login.bank.example; a preview may only serve ${ctx.host}`,
      "Ingress/web has a rule without a host (it would serve every host)",
      `Ingress/web claims TLS host *.preview.example.test; a preview may only serve ${ctx.host}`,
    ]);
  });

  it("refuses snippet annotations of any ingress controller, on any object", () => {
    for (const key of ["nginx.ingress.kubernetes.io/configuration-snippet", "nginx.ingress.kubernetes.io/server-snippet", "nginx.ingress.kubernetes.io/auth-snippet", "nginx.org/location-snippets", "example.com/Stream-Snippet"]) {
      expect(isSnippetAnnotation(key)).toBe(true);
      expect(messages([ingress({ rules: [{ host: ctx.host }] }, { [key]: "return 200;" })])).toEqual([`Ingress/web has the annotation ${key}, which injects ingress controller configuration`]);
    }
    expect(isSnippetAnnotation("nginx.ingress.kubernetes.io/rewrite-target")).toBe(false);
  });

  it("refuses host namespaces, hostPath volumes, privileged containers and host ports in every pod-bearing kind", () => {
    const bad = { hostNetwork: true, hostPID: true, hostIPC: true, volumes: [{ name: "root", hostPath: { path: "/" } }, { name: "tmp", emptyDir: {} }], containers: [{ name: "app", securityContext: { privileged: true }, ports: [{ containerPort: 80, hostPort: 80 }] }], initContainers: [{ name: "init", securityContext: { privileged: true } }] };
    const expected = (label: string): string[] => [
      `${label} sets hostNetwork: true`,
      `${label} sets hostPID: true`,
      `${label} sets hostIPC: true`,
      `${label} mounts the node path / (hostPath volume root)`,
      `${label} container init is privileged`,
      `${label} container app is privileged`,
      `${label} container app binds host port 80`,
    ];
    const kinds: RenderedObject[] = [
      { apiVersion: "v1", kind: "Pod", metadata: { name: "p" }, spec: bad },
      ...["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"].map((kind) => ({ apiVersion: "apps/v1", kind, metadata: { name: "p" }, spec: { template: { spec: bad } } })),
      { apiVersion: "batch/v1", kind: "CronJob", metadata: { name: "p" }, spec: { jobTemplate: { spec: { template: { spec: bad } } } } },
    ];
    for (const object of kinds) expect(messages([object])).toEqual(expected(`${String(object.kind)}/p`));
  });

  it("refuses pods that run as the ServiceAccount helm deploys with", () => {
    expect(messages([deployment({ serviceAccountName: "berth-deployer" })])).toEqual(["Deployment/web runs as the ServiceAccount berth-deployer, which berth deploys with"]);
    expect(messages([deployment({ serviceAccountName: "app" })])).toEqual([]);
  });

  it("refuses NodePort, LoadBalancer and ExternalName Services and externalIPs", () => {
    const service = (spec: Record<string, unknown>): RenderedObject => ({ apiVersion: "v1", kind: "Service", metadata: { name: "s" }, spec });
    expect(messages([service({ type: "NodePort" }), service({ type: "LoadBalancer" }), service({ type: "ExternalName", externalName: "metadata.internal" }), service({ externalIPs: ["203.0.113.7"] })])).toEqual([
      "Service/s is of type NodePort; previews are reached through their Ingress only",
      "Service/s is of type LoadBalancer; previews are reached through their Ingress only",
      "Service/s is of type ExternalName (it could route the preview's Ingress to any address)",
      "Service/s sets externalIPs (203.0.113.7)",
    ]);
  });

  it("refuses objects in other namespaces, cluster-scoped kinds and kinds that would undo berth's own policies", () => {
    expect(
      messages([
        { apiVersion: "v1", kind: "Secret", metadata: { name: "s", namespace: "kube-system" } },
        { apiVersion: "rbac.authorization.k8s.io/v1", kind: "ClusterRoleBinding", metadata: { name: "root" } },
        { apiVersion: "networking.k8s.io/v1", kind: "NetworkPolicy", metadata: { name: "allow-all" } },
        { apiVersion: "rbac.authorization.k8s.io/v1", kind: "RoleBinding", metadata: { name: "rb" } },
        { apiVersion: "v1", kind: "Endpoints", metadata: { name: "metadata" } },
        { apiVersion: "v1", kind: "List", metadata: { name: "l" }, items: [] },
        { apiVersion: "v1", kind: "Secret", type: "kubernetes.io/service-account-token", metadata: { name: "t", annotations: { "kubernetes.io/service-account.name": "berth-deployer" } } },
        { apiVersion: "v1", kind: "Secret", type: "Opaque", metadata: { name: "app-config" } },
      ]),
    ).toEqual([
      `Secret/s is in namespace kube-system; a preview may only create objects in ${ctx.namespace}`,
      "ClusterRoleBinding/root kind ClusterRoleBinding is not allowed in a preview (cluster-scoped)",
      "NetworkPolicy/allow-all kind NetworkPolicy is not allowed in a preview (berth owns the namespace's network policies)",
      "RoleBinding/rb kind RoleBinding is not allowed in a preview (berth owns the namespace's RBAC)",
      "Endpoints/metadata kind Endpoints is not allowed in a preview (hand-written endpoints can point a Service at any address)",
      "List/l kind List is not allowed in a preview (render objects one by one)",
      "Secret/t is a ServiceAccount token Secret (it would hand out an account's API token)",
    ]);
  });

  it("holds Gateway API routes to the preview's own host", () => {
    const route = (hostnames?: string[]): RenderedObject => ({ apiVersion: "gateway.networking.k8s.io/v1", kind: "HTTPRoute", metadata: { name: "r" }, spec: hostnames ? { hostnames } : {} });
    expect(messages([route([ctx.host]), route(["evil.example"]), route()])).toEqual([
      `HTTPRoute/r serves host evil.example; a preview may only serve ${ctx.host}`,
      "HTTPRoute/r has no hostnames (it would serve every host of its Gateway)",
    ]);
  });

  it("says every violation in one message", () => {
    const text = formatViolations(ctx.namespace, checkManifests([deployment({ hostPID: true }), ingress({ rules: [{ host: "x.example" }] })], ctx));
    expect(text).toBe(
      [`berth refused the preview's manifests for namespace ${ctx.namespace}:`, "- Deployment/web sets hostPID: true", `- Ingress/web serves host x.example; a preview may only serve ${ctx.host}`].join("\n"),
    );
  });
});
