/**
 * RBAC the way the API server's authorizer decides it, for checking a ClusterRole against the
 * requests a client really made (recorded by the API fake): the request attributes an HTTP request
 * turns into (verb, API group, resource, subresource, namespace, name) and whether a list of
 * PolicyRules allows them (`*` wildcards, `*\/subresource`, resourceNames).
 */
import type { RecordedRequest } from "./kube-api.js";

/** One rule of a Role or ClusterRole. */
export interface PolicyRule {
  apiGroups?: string[];
  resources?: string[];
  verbs: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
}

/** What the authorizer is asked about a resource request. */
export interface ResourceAttributes {
  verb: string;
  apiGroup: string;
  /** Plural resource, e.g. `pods`. */
  resource: string;
  subresource?: string;
  namespace?: string;
  name?: string;
}

/** `pods` or `pods/log`, as rules name them. */
export function combinedResource(attrs: ResourceAttributes): string {
  return attrs.subresource ? `${attrs.resource}/${attrs.subresource}` : attrs.resource;
}

function resourceMatches(rule: PolicyRule, attrs: ResourceAttributes): boolean {
  const combined = combinedResource(attrs);
  return (rule.resources ?? []).some(
    (r) => r === "*" || r === combined || (attrs.subresource !== undefined && r === `*/${attrs.subresource}`),
  );
}

/** Whether one rule allows the request. */
export function ruleAllows(rule: PolicyRule, attrs: ResourceAttributes): boolean {
  if (!rule.verbs.some((v) => v === "*" || v === attrs.verb)) return false;
  if (!(rule.apiGroups ?? []).some((g) => g === "*" || g === attrs.apiGroup)) return false;
  if (!resourceMatches(rule, attrs)) return false;
  const names = rule.resourceNames ?? [];
  return names.length === 0 || (attrs.name !== undefined && names.includes(attrs.name));
}

/** Indexes of the rules that allow the request (empty = forbidden). */
export function allowingRules(rules: PolicyRule[], attrs: ResourceAttributes): number[] {
  return rules.flatMap((rule, i) => (ruleAllows(rule, attrs) ? [i] : []));
}

const VERB_OF_METHOD: Record<string, string> = { POST: "create", PUT: "update", PATCH: "patch" };

/**
 * The attributes of a recorded request as the API server's RequestInfo resolver derives them, or
 * null for a non-resource path (`/version`, discovery, OpenAPI), which every authenticated user may
 * read through the `system:discovery` and `system:public-info-viewer` roles.
 */
export function requestAttributes(request: Pick<RecordedRequest, "method" | "path" | "query">): ResourceAttributes | null {
  const segments = request.path.split("/").filter(Boolean).map(decodeURIComponent);
  let apiGroup: string;
  let rest: string[];
  if (segments[0] === "api" && segments.length >= 3) {
    apiGroup = "";
    rest = segments.slice(2);
  } else if (segments[0] === "apis" && segments.length >= 4) {
    apiGroup = segments[1]!;
    rest = segments.slice(3);
  } else {
    return null;
  }
  let namespace: string | undefined;
  // `/namespaces/<ns>/<resource>...` is namespaced; `/namespaces/<ns>` alone is the Namespace object
  // and `/namespaces/<ns>/status|finalize` its subresources.
  if (rest[0] === "namespaces" && rest.length >= 3 && !(rest.length === 3 && ["status", "finalize"].includes(rest[2]!))) {
    namespace = rest[1];
    rest = rest.slice(2);
  }
  const [resource, name, subresource] = rest as [string, string | undefined, string | undefined];
  const query = new URLSearchParams(request.query);
  const watching = query.get("watch") === "true" || query.get("watch") === "1";
  let verb: string;
  if (request.method === "GET" || request.method === "HEAD") verb = name === undefined ? (watching ? "watch" : "list") : watching ? "watch" : "get";
  else if (request.method === "DELETE") verb = name === undefined ? "deletecollection" : "delete";
  else verb = VERB_OF_METHOD[request.method] ?? request.method.toLowerCase();
  if (resource === "namespaces" && namespace === undefined && name !== undefined) namespace = name;
  return { verb, apiGroup, resource, ...(subresource ? { subresource } : {}), ...(namespace !== undefined ? { namespace } : {}), ...(name !== undefined ? { name } : {}) };
}

/**
 * What a request sent with `Impersonate-User: system:serviceaccount:<ns>:<name>` asks of the
 * *impersonator*: `impersonate` on that ServiceAccount (the API server adds the account's groups
 * itself when none are asked for). Null for any other user name.
 */
export function impersonationAttributes(user: string): ResourceAttributes | null {
  const account = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(user);
  if (!account) return null;
  return { verb: "impersonate", apiGroup: "", resource: "serviceaccounts", namespace: account[1]!, name: account[2]! };
}
