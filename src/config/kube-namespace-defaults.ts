/**
 * What every preview namespace gets (server settings `BERTH_KUBE_QUOTA`, `BERTH_KUBE_LIMITS`):
 * a ResourceQuota and a LimitRange for containers, written as `name=quantity` lists, or `off`.
 *
 *   BERTH_KUBE_QUOTA=requests.cpu=2,requests.memory=2Gi,pods=20
 *   BERTH_KUBE_LIMITS=default.cpu=500m,default.memory=512Mi,defaultRequest.cpu=50m,max.memory=2Gi
 */
import type { V1LimitRangeItem, V1LimitRangeSpec, V1ResourceQuotaSpec } from "@kubernetes/client-node";
import { parseListSetting, type Parsed } from "./parsed-setting.js";

/** A Kubernetes quantity (`500m`, `2Gi`, `1.5`, `1e3`). */
const QUANTITY = /^[+]?(\d+(\.\d*)?|\.\d+)(e[+-]?\d+|E[+-]?\d+|[KMGTPE]i|[numkMGTPE])?$/;
/** A resource name as quotas use them (`requests.cpu`, `count/deployments.apps`, `pods`). */
const RESOURCE_NAME = /^[a-z0-9]([a-z0-9.\-/]*[a-z0-9])?$/;
const LIMIT_KINDS = ["default", "defaultRequest", "max", "min"] as const;
type LimitKind = (typeof LIMIT_KINDS)[number];

/** Built-in defaults for every preview namespace. */
export const DEFAULT_QUOTA: V1ResourceQuotaSpec = {
  hard: {
    "requests.cpu": "2",
    "requests.memory": "2Gi",
    "limits.cpu": "4",
    "limits.memory": "4Gi",
    pods: "20",
    "services.loadbalancers": "0",
    "services.nodeports": "0",
    persistentvolumeclaims: "4",
  },
};
export const DEFAULT_LIMIT_RANGE: V1LimitRangeSpec = {
  limits: [{ type: "Container", defaultRequest: { cpu: "50m", memory: "64Mi" }, _default: { cpu: "500m", memory: "512Mi" }, max: { cpu: "2", memory: "2Gi" } }],
};


/** Every value must be a Kubernetes quantity. */
function checkQuantities(pairs: Array<[string, string]>): string | undefined {
  const bad = pairs.find(([, quantity]) => !QUANTITY.test(quantity));
  return bad ? `"${bad[1]}" (${bad[0]}) is not a Kubernetes quantity` : undefined;
}

/** `undefined` → the built-in default; `off` → none; otherwise the `hard` limits of the quota. */
export function parseQuota(text: string | undefined, fallback: V1ResourceQuotaSpec): Parsed<V1ResourceQuotaSpec> {
  return parseListSetting(text, fallback, "quantity", (pairs) => {
    const bad = checkQuantities(pairs);
    if (bad) return { ok: false, error: bad };
    const hard: Record<string, string> = {};
    for (const [name, quantity] of pairs) {
      if (!RESOURCE_NAME.test(name)) return { ok: false, error: `"${name}" is not a resource name` };
      hard[name] = quantity;
    }
    return { ok: true, value: { hard } };
  });
}

/** `undefined` → the built-in default; `off` → none; otherwise one `Container` limit item. */
export function parseLimits(text: string | undefined, fallback: V1LimitRangeSpec): Parsed<V1LimitRangeSpec> {
  return parseListSetting(text, fallback, "quantity", (pairs) => {
    const bad = checkQuantities(pairs);
    if (bad) return { ok: false, error: bad };
    const item: V1LimitRangeItem = { type: "Container" };
    const sections: Partial<Record<LimitKind, Record<string, string>>> = {};
    for (const [name, quantity] of pairs) {
      const [kind, resource, ...rest] = name.split(".");
      if (!LIMIT_KINDS.includes(kind as LimitKind) || !resource || rest.length > 0 || !RESOURCE_NAME.test(resource)) {
        return { ok: false, error: `"${name}" is not <default|defaultRequest|max|min>.<resource>` };
      }
      (sections[kind as LimitKind] ??= {})[resource] = quantity;
    }
    // client-node names the `default` field `_default`.
    if (sections.default) item._default = sections.default;
    if (sections.defaultRequest) item.defaultRequest = sections.defaultRequest;
    if (sections.max) item.max = sections.max;
    if (sections.min) item.min = sections.min;
    return { ok: true, value: { limits: [item] } };
  });
}
