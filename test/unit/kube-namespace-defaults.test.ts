import { describe, expect, it } from "vitest";
import { DEFAULT_LIMIT_RANGE, DEFAULT_QUOTA, parseLimits, parseQuota } from "../../src/config/kube-namespace-defaults.js";
import { readSettings } from "../../src/config/settings.js";

describe("preview namespace quota and limits from the server settings", () => {
  it("keeps the built-in defaults when unset and drops them with off", () => {
    expect(parseQuota(undefined, DEFAULT_QUOTA)).toEqual({ ok: true, value: DEFAULT_QUOTA });
    expect(parseQuota("off", DEFAULT_QUOTA)).toEqual({ ok: true, value: null });
    expect(parseLimits(undefined, DEFAULT_LIMIT_RANGE)).toEqual({ ok: true, value: DEFAULT_LIMIT_RANGE });
    expect(parseLimits("OFF", DEFAULT_LIMIT_RANGE)).toEqual({ ok: true, value: null });
  });

  it("reads name=quantity lists", () => {
    expect(parseQuota("requests.cpu=4, requests.memory=8Gi,pods=50,count/deployments.apps=5", DEFAULT_QUOTA)).toEqual({
      ok: true,
      value: { hard: { "requests.cpu": "4", "requests.memory": "8Gi", pods: "50", "count/deployments.apps": "5" } },
    });
    expect(parseLimits("default.cpu=1,default.memory=1Gi,defaultRequest.cpu=100m,max.memory=4Gi,min.cpu=10m", DEFAULT_LIMIT_RANGE)).toEqual({
      ok: true,
      value: { limits: [{ type: "Container", _default: { cpu: "1", memory: "1Gi" }, defaultRequest: { cpu: "100m" }, max: { memory: "4Gi" }, min: { cpu: "10m" } }] },
    });
  });

  it("refuses what the API server would refuse, saying what is wrong", () => {
    expect(parseQuota("requests.cpu=two", DEFAULT_QUOTA)).toEqual({ ok: false, error: '"two" (requests.cpu) is not a Kubernetes quantity' });
    expect(parseQuota("pods", DEFAULT_QUOTA)).toEqual({ ok: false, error: '"pods" is not name=quantity' });
    expect(parseQuota("Pods=1", DEFAULT_QUOTA)).toEqual({ ok: false, error: '"Pods" is not a resource name' });
    expect(parseQuota(" , ", DEFAULT_QUOTA)).toEqual({ ok: false, error: "empty; use off to disable" });
    expect(parseLimits("limit.cpu=1", DEFAULT_LIMIT_RANGE)).toEqual({ ok: false, error: '"limit.cpu" is not <default|defaultRequest|max|min>.<resource>' });
    expect(parseLimits("max.memory=1GB", DEFAULT_LIMIT_RANGE)).toEqual({ ok: false, error: '"1GB" (max.memory) is not a Kubernetes quantity' });
  });

  it("makes a bad value a settings error naming the variable", () => {
    const result = readSettings({ BERTH_KUBE_QUOTA: "pods=lots" });
    expect(result).toEqual({ ok: false, error: 'BERTH_KUBE_QUOTA: "lots" (pods) is not a Kubernetes quantity' });
    const fine = readSettings({ BERTH_KUBE_LIMITS: "off", BERTH_KUBE_QUOTA: "pods=5" });
    expect(fine.ok && fine.settings.kubeLimits).toBeNull();
    expect(fine.ok && fine.settings.kubeQuota).toEqual({ hard: { pods: "5" } });
  });

  it("deploys as the berth-deployer ServiceAccount bound to admin unless told otherwise", () => {
    const defaults = readSettings({});
    expect(defaults.ok && defaults.settings.kubeDeployer).toEqual({ serviceAccount: "berth-deployer", clusterRole: "admin" });
    const custom = readSettings({ BERTH_KUBE_DEPLOYER: "previewer", BERTH_KUBE_DEPLOYER_ROLE: "edit" });
    expect(custom.ok && custom.settings.kubeDeployer).toEqual({ serviceAccount: "previewer", clusterRole: "edit" });
    const off = readSettings({ BERTH_KUBE_DEPLOYER: "off" });
    expect(off.ok && off.settings.kubeDeployer).toBeUndefined();
    const bad = readSettings({ BERTH_KUBE_DEPLOYER: "Berth_Deployer" });
    expect(bad.ok).toBe(false);
    expect(!bad.ok && bad.error).toContain("BERTH_KUBE_DEPLOYER: a ServiceAccount name (DNS-1123 label), or off");
  });
});
