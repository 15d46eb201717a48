/**
 * Patch and selector semantics of the Kubernetes API, enough for what helm and berth send:
 * JSON merge patch (RFC 7386), strategic merge patch with the merge keys of the built-in kinds,
 * label selectors and simple field selectors.
 */

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** RFC 7386: objects merge recursively, null deletes, everything else replaces. */
export function mergePatch(target: Json | undefined, patch: Json): Json {
  if (!isObject(patch)) return structuredClone(patch);
  const out: JsonObject = isObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else out[key] = mergePatch(out[key], value);
  }
  return out;
}

/**
 * Patch merge keys of the built-in kinds (from the `patchMergeKey` tags of the Go types). Lists
 * without one are replaced, as the real server does.
 */
function mergeKeyFor(field: string, path: readonly string[]): string | undefined {
  switch (field) {
    case "containers":
    case "initContainers":
    case "ephemeralContainers":
    case "env":
    case "volumes":
    case "imagePullSecrets":
    case "resourceClaims":
      return "name";
    case "volumeMounts":
      return "mountPath";
    case "volumeDevices":
      return "devicePath";
    case "hostAliases":
      return "ip";
    case "conditions":
      return "type";
    case "ownerReferences":
      return "uid";
    case "topologySpreadConstraints":
      return "topologyKey";
    case "ports":
      // Container ports merge on containerPort, Service ports on port.
      return path.some((p) => p === "containers" || p === "initContainers") ? "containerPort" : "port";
    default:
      return undefined;
  }
}

/** Lists of scalars that merge as sets instead of being replaced. */
const PRIMITIVE_MERGE_LISTS = new Set(["finalizers"]);

/**
 * Strategic merge patch: like a merge patch, but lists with a merge key merge element by element, and
 * the directives `$patch`, `$retainKeys`, `$setElementOrder/<list>` and `$deleteFromPrimitiveList/<list>`
 * are honoured.
 */
export function strategicMergePatch(target: Json | undefined, patch: Json, path: readonly string[] = []): Json | undefined {
  if (!isObject(patch)) return structuredClone(patch);
  const directive = patch.$patch;
  if (directive === "delete") return undefined;
  const body: JsonObject = {};
  for (const [key, value] of Object.entries(patch)) if (key !== "$patch") body[key] = value;
  if (directive === "replace") return stripDirectives(body);

  const out: JsonObject = isObject(target) ? { ...target } : {};
  const orders: Array<[string, Json[]]> = [];
  let retain: string[] | undefined;
  for (const [key, value] of Object.entries(body)) {
    if (key === "$retainKeys") {
      retain = Array.isArray(value) ? value.map(String) : undefined;
      continue;
    }
    if (key.startsWith("$setElementOrder/")) {
      if (Array.isArray(value)) orders.push([key.slice("$setElementOrder/".length), value]);
      continue;
    }
    if (key.startsWith("$deleteFromPrimitiveList/")) {
      const field = key.slice("$deleteFromPrimitiveList/".length);
      const current = out[field];
      if (Array.isArray(current) && Array.isArray(value)) out[field] = current.filter((item) => !value.includes(item));
      continue;
    }
    if (value === null) {
      delete out[key];
      continue;
    }
    const childPath = [...path, key];
    if (Array.isArray(value)) {
      out[key] = mergeList(out[key], value, key, childPath);
      continue;
    }
    const merged = strategicMergePatch(out[key], value, childPath);
    if (merged === undefined) delete out[key];
    else out[key] = merged;
  }
  for (const [field, order] of orders) {
    const list = out[field];
    const mergeKey = mergeKeyFor(field, [...path, field]);
    if (!Array.isArray(list)) continue;
    const keyOf = (item: Json): Json => (mergeKey && isObject(item) ? (item[mergeKey] ?? null) : item);
    const wanted = order.map((item) => JSON.stringify(keyOf(item)));
    out[field] = [...list].sort((a, b) => rank(wanted, JSON.stringify(keyOf(a))) - rank(wanted, JSON.stringify(keyOf(b))));
  }
  if (retain) for (const key of Object.keys(out)) if (!retain.includes(key)) delete out[key];
  return out;
}

function rank(order: string[], key: string): number {
  const index = order.indexOf(key);
  return index < 0 ? order.length : index;
}

function mergeList(current: Json | undefined, patch: Json[], field: string, path: readonly string[]): Json[] {
  if (PRIMITIVE_MERGE_LISTS.has(field)) {
    const base = Array.isArray(current) ? [...current] : [];
    for (const item of patch) if (!base.includes(item)) base.push(item);
    return base;
  }
  const mergeKey = mergeKeyFor(field, path);
  if (patch.some((item) => isObject(item) && item.$patch === "replace")) {
    return patch.filter((item) => !(isObject(item) && item.$patch === "replace")).map((item) => stripDirectives(item));
  }
  if (!mergeKey || !patch.every(isObject)) return patch.map((item) => stripDirectives(item));
  const out: Json[] = Array.isArray(current) ? [...current] : [];
  for (const item of patch as JsonObject[]) {
    const key = item[mergeKey];
    const index = out.findIndex((existing) => isObject(existing) && existing[mergeKey] === key);
    if (item.$patch === "delete") {
      if (index >= 0) out.splice(index, 1);
      continue;
    }
    if (index >= 0) {
      const merged = strategicMergePatch(out[index], item, path);
      if (merged === undefined) out.splice(index, 1);
      else out[index] = merged;
    } else {
      out.push(stripDirectives(item));
    }
  }
  return out;
}

function stripDirectives(value: Json): Json {
  if (Array.isArray(value)) return value.map(stripDirectives);
  if (!isObject(value)) return value;
  const out: JsonObject = {};
  for (const [key, child] of Object.entries(value)) if (!key.startsWith("$")) out[key] = stripDirectives(child);
  return out;
}

type Requirement =
  | { op: "=" | "!="; key: string; value: string }
  | { op: "in" | "notin"; key: string; values: string[] }
  | { op: "exists" | "!exists"; key: string };

/** Parse a label selector (`a=b,c!=d,e in (x,y),!f,g`); throws on syntax errors. */
export function parseLabelSelector(selector: string): Requirement[] {
  const requirements: Requirement[] = [];
  // Split on commas outside parentheses.
  const parts: string[] = [];
  let depth = 0;
  let current = "";
  for (const ch of selector) {
    if (ch === "(") depth++;
    if (ch === ")") depth--;
    if (ch === "," && depth === 0) {
      parts.push(current);
      current = "";
    } else current += ch;
  }
  parts.push(current);
  for (const raw of parts) {
    const part = raw.trim();
    if (part === "") continue;
    let match = /^([^\s!=]+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(part);
    if (match) {
      requirements.push({ op: match[2] as "in" | "notin", key: match[1]!, values: match[3]!.split(",").map((v) => v.trim()) });
      continue;
    }
    match = /^([^\s!=]+)\s*(==|=|!=)\s*([^\s]*)$/.exec(part);
    if (match) {
      requirements.push({ op: match[2] === "!=" ? "!=" : "=", key: match[1]!, value: match[3]! });
      continue;
    }
    match = /^(!?)([^\s!=(),]+)$/.exec(part);
    if (match) {
      requirements.push({ op: match[1] ? "!exists" : "exists", key: match[2]! });
      continue;
    }
    throw new Error(`unable to parse requirement: '${part}'`);
  }
  return requirements;
}

/** Whether labels satisfy every requirement. */
export function matchesLabels(labels: Record<string, string> | undefined, requirements: Requirement[]): boolean {
  const l = labels ?? {};
  return requirements.every((req) => {
    const has = Object.hasOwn(l, req.key);
    switch (req.op) {
      case "=":
        return has && l[req.key] === req.value;
      case "!=":
        return !has || l[req.key] !== req.value;
      case "in":
        return has && req.values.includes(l[req.key]!);
      case "notin":
        return !has || !req.values.includes(l[req.key]!);
      case "exists":
        return has;
      case "!exists":
        return !has;
    }
  });
}

/** Whether an object satisfies a field selector of `path=value` / `path!=value` terms. */
export function matchesFields(object: unknown, selector: string): boolean {
  for (const raw of selector.split(",")) {
    const term = raw.trim();
    if (term === "") continue;
    const match = /^([^!=]+)(==|=|!=)(.*)$/.exec(term);
    if (!match) throw new Error(`invalid field selector: '${term}'`);
    let value: unknown = object;
    for (const segment of match[1]!.split(".")) value = isObject(value) ? value[segment] : undefined;
    const actual = value === undefined || value === null ? "" : String(value);
    if (match[2] === "!=" ? actual === match[3] : actual !== match[3]) return false;
  }
  return true;
}
