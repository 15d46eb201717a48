/**
 * The isolation berth gives every preview namespace: Pod Security labels and NetworkPolicies that
 * the Kubernetes schemas accept.
 */
import { describe, expect, it } from "vitest";
import { PRIVATE_RANGES, podSecurityLabels, previewNetworkPolicies } from "../../src/targets/kube-namespace-policy.js";
import { validateObject } from "../fakes/k8s-schema.js";

describe("podSecurityLabels", () => {
  it("enforces, warns and audits the configured level at the latest version", () => {
    expect(podSecurityLabels("baseline")).toEqual({
      "pod-security.kubernetes.io/enforce": "baseline",
      "pod-security.kubernetes.io/enforce-version": "latest",
      "pod-security.kubernetes.io/warn": "baseline",
      "pod-security.kubernetes.io/warn-version": "latest",
      "pod-security.kubernetes.io/audit": "baseline",
      "pod-security.kubernetes.io/audit-version": "latest",
    });
  });
});

describe("previewNetworkPolicies", () => {
  /** The object as client-node sends it: its TypeScript models call the `from` field `_from`. */
  const wire = (value: unknown): Record<string, any> => JSON.parse(JSON.stringify(value).replaceAll('"_from":', '"from":')) as Record<string, any>;

  it("are valid NetworkPolicies, labelled, in the preview namespace", async () => {
    const policies = previewNetworkPolicies("ns-1", { "berth.dev/instance": "x" });
    expect(policies.map((p) => p.metadata?.name)).toEqual(["berth-default-deny", "berth-allow-same-namespace", "berth-allow-ingress-controller", "berth-allow-dns", "berth-allow-internet-egress"]);
    for (const policy of policies) {
      expect(await validateObject(wire(policy)), policy.metadata?.name).toEqual([]);
      expect(policy.metadata).toMatchObject({ namespace: "ns-1", labels: { "berth.dev/instance": "x" } });
    }
  });

  it("deny everything first, then allow only the namespace itself, the ingress controller, DNS and public addresses", () => {
    const byName = Object.fromEntries(previewNetworkPolicies("ns-1", {}, { ingressControllerNamespace: { "kubernetes.io/metadata.name": "traefik" } }).map((p) => [p.metadata!.name, wire(p).spec]));
    expect(byName["berth-default-deny"]).toEqual({ podSelector: {}, policyTypes: ["Ingress", "Egress"] });
    expect(byName["berth-allow-ingress-controller"]).toEqual({ podSelector: {}, policyTypes: ["Ingress"], ingress: [{ from: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "traefik" } } }] }] });
    expect(byName["berth-allow-dns"].egress).toEqual([{ to: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "kube-system" } } }], ports: [{ protocol: "UDP", port: 53 }, { protocol: "TCP", port: 53 }] }]);
    const [v4, v6] = byName["berth-allow-internet-egress"].egress[0].to;
    expect(v4.ipBlock).toEqual({ cidr: "0.0.0.0/0", except: [...PRIVATE_RANGES.v4] });
    expect(v6.ipBlock).toEqual({ cidr: "::/0", except: [...PRIVATE_RANGES.v6] });
    // The cloud metadata service and every RFC 1918 network stay unreachable.
    for (const range of ["169.254.0.0/16", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]) expect(v4.ipBlock.except).toContain(range);
  });

  it("allow no internet egress when told so", () => {
    expect(previewNetworkPolicies("ns-1", {}, { internetEgress: false }).map((p) => p.metadata?.name)).not.toContain("berth-allow-internet-egress");
  });
});
