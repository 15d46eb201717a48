/**
 * The RBAC evaluator the chart test checks berth's ClusterRole with: request attributes as the API
 * server derives them, and rule matching with wildcards, subresources and resourceNames.
 */
import { describe, expect, it } from "vitest";
import { allowingRules, impersonationAttributes, requestAttributes, ruleAllows, type PolicyRule } from "../fakes/kube-rbac.js";

const get = (path: string, query = "") => requestAttributes({ method: "GET", path, query });

describe("requestAttributes", () => {
  it("derives verb, group, resource, subresource, namespace and name from the request", () => {
    expect(get("/api/v1/namespaces")).toEqual({ verb: "list", apiGroup: "", resource: "namespaces" });
    expect(get("/api/v1/namespaces/pr-1")).toEqual({ verb: "get", apiGroup: "", resource: "namespaces", namespace: "pr-1", name: "pr-1" });
    expect(requestAttributes({ method: "PUT", path: "/api/v1/namespaces/pr-1/finalize", query: "" })).toEqual({
      verb: "update",
      apiGroup: "",
      resource: "namespaces",
      subresource: "finalize",
      namespace: "pr-1",
      name: "pr-1",
    });
    expect(get("/api/v1/namespaces/pr-1/pods/web-1/log", "?tailLines=20")).toEqual({ verb: "get", apiGroup: "", resource: "pods", subresource: "log", namespace: "pr-1", name: "web-1" });
    expect(get("/apis/apps/v1/namespaces/pr-1/deployments", "?watch=true")).toEqual({ verb: "watch", apiGroup: "apps", resource: "deployments", namespace: "pr-1" });
    expect(requestAttributes({ method: "POST", path: "/apis/batch/v1/namespaces/pr-1/jobs", query: "" })).toMatchObject({ verb: "create", apiGroup: "batch", resource: "jobs" });
    expect(requestAttributes({ method: "PATCH", path: "/api/v1/namespaces/pr-1", query: "" })).toMatchObject({ verb: "patch", resource: "namespaces" });
    expect(requestAttributes({ method: "DELETE", path: "/api/v1/namespaces/pr-1/secrets", query: "" })).toMatchObject({ verb: "deletecollection", resource: "secrets" });
    expect(requestAttributes({ method: "DELETE", path: "/apis/rbac.authorization.k8s.io/v1/namespaces/pr-1/rolebindings/berth-deployer", query: "" })).toEqual({
      verb: "delete",
      apiGroup: "rbac.authorization.k8s.io",
      resource: "rolebindings",
      namespace: "pr-1",
      name: "berth-deployer",
    });
  });

  it("leaves non-resource paths (version, discovery, OpenAPI) to the discovery roles", () => {
    for (const path of ["/version", "/api", "/apis", "/api/v1", "/apis/apps/v1", "/openapi/v3/apis/apps/v1"]) expect(get(path), path).toBeNull();
  });

  it("asks the impersonator for impersonate on the ServiceAccount, nothing for other users", () => {
    expect(impersonationAttributes("system:serviceaccount:pr-1:berth-deployer")).toEqual({ verb: "impersonate", apiGroup: "", resource: "serviceaccounts", namespace: "pr-1", name: "berth-deployer" });
    expect(impersonationAttributes("alice")).toBeNull();
  });
});

describe("ruleAllows", () => {
  const attrs = { verb: "get", apiGroup: "", resource: "pods", subresource: "log", namespace: "pr-1", name: "web-1" };

  it("needs verb, group and resource (with subresource) to match", () => {
    expect(ruleAllows({ apiGroups: [""], resources: ["pods/log"], verbs: ["get"] }, attrs)).toBe(true);
    expect(ruleAllows({ apiGroups: [""], resources: ["pods"], verbs: ["get"] }, attrs)).toBe(false);
    expect(ruleAllows({ apiGroups: [""], resources: ["*/log"], verbs: ["get"] }, attrs)).toBe(true);
    expect(ruleAllows({ apiGroups: ["*"], resources: ["*"], verbs: ["*"] }, attrs)).toBe(true);
    expect(ruleAllows({ apiGroups: ["apps"], resources: ["pods/log"], verbs: ["get"] }, attrs)).toBe(false);
    expect(ruleAllows({ apiGroups: [""], resources: ["pods/log"], verbs: ["list"] }, attrs)).toBe(false);
    expect(ruleAllows({ apiGroups: [""], resources: ["*/status"], verbs: ["get"] }, attrs)).toBe(false);
  });

  it("with resourceNames, allows only requests naming one of them", () => {
    const rule: PolicyRule = { apiGroups: [""], resources: ["serviceaccounts"], resourceNames: ["berth-deployer"], verbs: ["impersonate"] };
    expect(ruleAllows(rule, impersonationAttributes("system:serviceaccount:pr-1:berth-deployer")!)).toBe(true);
    expect(ruleAllows(rule, impersonationAttributes("system:serviceaccount:kube-system:default")!)).toBe(false);
    expect(ruleAllows({ ...rule, verbs: ["create"] }, { verb: "create", apiGroup: "", resource: "serviceaccounts", namespace: "pr-1" })).toBe(false);
  });

  it("lists every rule that allows a request", () => {
    const rules: PolicyRule[] = [
      { apiGroups: [""], resources: ["pods"], verbs: ["list"] },
      { apiGroups: [""], resources: ["pods", "services"], verbs: ["list", "get"] },
      { apiGroups: ["batch"], resources: ["jobs"], verbs: ["list"] },
    ];
    expect(allowingRules(rules, { verb: "list", apiGroup: "", resource: "pods", namespace: "x" })).toEqual([0, 1]);
    expect(allowingRules(rules, { verb: "delete", apiGroup: "", resource: "pods", namespace: "x", name: "p" })).toEqual([]);
  });
});
