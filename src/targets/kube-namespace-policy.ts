/**
 * The isolation every preview namespace gets before a chart runs in it: Pod Security admission
 * labels (the API server refuses pods above the level) and NetworkPolicies (default deny, then only
 * what a preview needs). Pure: returns objects, the target applies them.
 */
import type { V1NetworkPolicy } from "@kubernetes/client-node";

/** A Pod Security Standards level (`BERTH_KUBE_POD_SECURITY`). */
export type PodSecurityLevel = "restricted" | "baseline" | "privileged";

/** Namespace labels that make Pod Security admission enforce, warn and audit at `level`. */
export function podSecurityLabels(level: PodSecurityLevel): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const mode of ["enforce", "warn", "audit"] as const) {
    labels[`pod-security.kubernetes.io/${mode}`] = level;
    labels[`pod-security.kubernetes.io/${mode}-version`] = "latest";
  }
  return labels;
}

/** Where a preview's traffic may come from and go to. */
export interface PreviewNetworkOptions {
  /** Labels of the ingress controller's namespace. Default `kubernetes.io/metadata.name: ingress-nginx`. */
  ingressControllerNamespace?: Record<string, string>;
  /** Labels of the cluster DNS namespace. Default `kubernetes.io/metadata.name: kube-system`. */
  dnsNamespace?: Record<string, string>;
  /** Egress to public addresses (everything outside {@link PRIVATE_RANGES}). Default true. */
  internetEgress?: boolean;
}

/**
 * Addresses a preview may not reach outside its namespace: RFC 1918 (pod, service and node networks
 * in most clusters, and the company network), carrier-grade NAT (some clouds' node networks),
 * loopback, link-local (169.254.169.254, the cloud metadata service), and their IPv6 counterparts.
 */
export const PRIVATE_RANGES = {
  v4: ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "0.0.0.0/8"],
  v6: ["fc00::/7", "fe80::/10", "::1/128", "::ffff:0:0/96"],
} as const;

export const NETWORK_POLICY_NAMES = {
  defaultDeny: "berth-default-deny",
  sameNamespace: "berth-allow-same-namespace",
  ingressController: "berth-allow-ingress-controller",
  dns: "berth-allow-dns",
  internet: "berth-allow-internet-egress",
} as const;

/**
 * The preview namespace's NetworkPolicies. Policies are additive, so the first denies everything in
 * both directions and each further one opens one path:
 * - pods of the namespace reach each other (the test Job reaches the preview's Service);
 * - the ingress controller's namespace reaches the preview's pods;
 * - DNS (UDP and TCP 53) to the cluster DNS namespace;
 * - public addresses (unless `internetEgress: false`), never private or link-local ones, so no
 *   other namespace, node, or metadata service.
 */
export function previewNetworkPolicies(namespace: string, labels: Record<string, string>, options: PreviewNetworkOptions = {}): V1NetworkPolicy[] {
  const ingressController = options.ingressControllerNamespace ?? { "kubernetes.io/metadata.name": "ingress-nginx" };
  const dns = options.dnsNamespace ?? { "kubernetes.io/metadata.name": "kube-system" };
  const policy = (name: string, spec: V1NetworkPolicy["spec"]): V1NetworkPolicy => ({
    apiVersion: "networking.k8s.io/v1",
    kind: "NetworkPolicy",
    metadata: { name, namespace, labels },
    spec,
  });
  const policies = [
    policy(NETWORK_POLICY_NAMES.defaultDeny, { podSelector: {}, policyTypes: ["Ingress", "Egress"] }),
    policy(NETWORK_POLICY_NAMES.sameNamespace, {
      podSelector: {},
      policyTypes: ["Ingress", "Egress"],
      ingress: [{ _from: [{ podSelector: {} }] }],
      egress: [{ to: [{ podSelector: {} }] }],
    }),
    policy(NETWORK_POLICY_NAMES.ingressController, {
      podSelector: {},
      policyTypes: ["Ingress"],
      ingress: [{ _from: [{ namespaceSelector: { matchLabels: ingressController } }] }],
    }),
    policy(NETWORK_POLICY_NAMES.dns, {
      podSelector: {},
      policyTypes: ["Egress"],
      egress: [
        {
          to: [{ namespaceSelector: { matchLabels: dns } }],
          ports: [
            { protocol: "UDP", port: 53 },
            { protocol: "TCP", port: 53 },
          ],
        },
      ],
    }),
  ];
  if (options.internetEgress ?? true) {
    policies.push(
      policy(NETWORK_POLICY_NAMES.internet, {
        podSelector: {},
        policyTypes: ["Egress"],
        egress: [{ to: [{ ipBlock: { cidr: "0.0.0.0/0", except: [...PRIVATE_RANGES.v4] } }, { ipBlock: { cidr: "::/0", except: [...PRIVATE_RANGES.v6] } }] }],
      }),
    );
  }
  return policies;
}
