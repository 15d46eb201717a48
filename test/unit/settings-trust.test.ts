import { describe, expect, it } from "vitest";
import { readSettings } from "../../src/config/settings.js";

describe("trust-boundary settings", () => {
  it("names the berth instance (default `default`) and refuses names that cannot label objects", () => {
    const plain = readSettings({});
    expect(plain.ok && plain.settings.instance).toBe("default");
    const staging = readSettings({ BERTH_INSTANCE: "staging-eu" });
    expect(staging.ok && staging.settings.instance).toBe("staging-eu");
    expect(readSettings({ BERTH_INSTANCE: "Staging EU" })).toEqual({ ok: false, error: "BERTH_INSTANCE: 1-20 lower-case letters, digits and dashes" });
  });

  it("enforces Pod Security `restricted` unless the operator chooses another level", () => {
    const plain = readSettings({});
    expect(plain.ok && plain.settings.kubePodSecurity).toBe("restricted");
    const baseline = readSettings({ BERTH_KUBE_POD_SECURITY: "baseline" });
    expect(baseline.ok && baseline.settings.kubePodSecurity).toBe("baseline");
    expect(readSettings({ BERTH_KUBE_POD_SECURITY: "none" }).ok).toBe(false);
  });

  it("gives preview namespaces NetworkPolicies unless turned off, with the ingress controller's namespace configurable", () => {
    const plain = readSettings({});
    expect(plain.ok && plain.settings.kubeNetwork).toEqual({ internetEgress: true });
    const custom = readSettings({ BERTH_KUBE_INGRESS_NAMESPACE: "kubernetes.io/metadata.name=traefik", BERTH_KUBE_NETWORK_POLICY: "no-internet" });
    expect(custom.ok && custom.settings.kubeNetwork).toEqual({ internetEgress: false, ingressControllerNamespace: { "kubernetes.io/metadata.name": "traefik" } });
    const off = readSettings({ BERTH_KUBE_NETWORK_POLICY: "off" });
    expect(off.ok && off.settings.kubeNetwork).toBe(false);
    expect(readSettings({ BERTH_KUBE_INGRESS_NAMESPACE: "traefik" }).ok).toBe(false);
  });

  it("reads Gitee secrets per repository and organisation; a fallback is optional", () => {
    const scoped = readSettings({ GITEE_TOKEN: "t", GITEE_WEBHOOK_SECRETS: "Acme/Shop=s1, acme=s2" });
    expect(scoped.ok && scoped.settings.gitee).toMatchObject({ webhookSecret: undefined, webhookSecrets: { "acme/shop": "s1", acme: "s2" } });
    expect(readSettings({ GITEE_TOKEN: "t" })).toEqual({
      ok: false,
      error: "GITEE_WEBHOOK_SECRET or GITEE_WEBHOOK_SECRETS: required when GITEE_TOKEN is set (unsigned Gitee webhooks are refused)",
    });
    expect(readSettings({ GITEE_TOKEN: "t", GITEE_WEBHOOK_SECRETS: "acme/shop" })).toEqual({ ok: false, error: "GITEE_WEBHOOK_SECRETS: a comma list of owner/repo=secret or owner=secret" });
  });
});
