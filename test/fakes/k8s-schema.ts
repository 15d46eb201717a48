/**
 * Validation of Kubernetes objects the way an API server would reject them: the OpenAPI schemas
 * shipped with `kubernetes-models` (types, required fields, formats) plus the name and label rules
 * that the schemas do not carry (DNS-1123 names, label syntax).
 */

type ModelClass = new (data: unknown) => { validate(): void };

const modelCache = new Map<string, Promise<ModelClass | null>>();

/** Schema class of an apiVersion/kind from kubernetes-models, or null when it ships none. */
function loadModel(apiVersion: string, kind: string): Promise<ModelClass | null> {
  const key = `${apiVersion}/${kind}`;
  let pending = modelCache.get(key);
  if (!pending) {
    const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["", apiVersion];
    const specifier = group ? `kubernetes-models/${group}/${version}/${kind}` : `kubernetes-models/${version}/${kind}`;
    pending = (import(specifier) as Promise<Record<string, unknown>>).then(
      (mod) => (typeof mod[kind] === "function" ? (mod[kind] as ModelClass) : null),
      () => null,
    );
    modelCache.set(key, pending);
  }
  return pending;
}

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/** Kinds whose names must be one DNS label rather than a subdomain. */
const LABEL_NAMED = new Set(["Namespace"]);
const DNS1035_NAMED = new Set(["Service"]);

function checkQualifiedKey(key: string, what: string, errors: string[]): void {
  const slash = key.lastIndexOf("/");
  const prefix = slash >= 0 ? key.slice(0, slash) : "";
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix && (prefix.length > 253 || !DNS1123_SUBDOMAIN.test(prefix))) errors.push(`${what} key '${key}': prefix must be a DNS subdomain`);
  if (name.length > 63 || !LABEL_NAME.test(name)) errors.push(`${what} key '${key}': name part must be ≤ 63 alphanumerics, '-', '_' or '.'`);
}

/** Check metadata rules; `generateName` counts as a name. */
export function validateMetadata(kind: string, metadata: Record<string, unknown> | undefined): string[] {
  const errors: string[] = [];
  const name = metadata?.name;
  if (typeof name === "string") {
    if (LABEL_NAMED.has(kind)) {
      if (name.length > 63 || !DNS1123_LABEL.test(name)) errors.push(`metadata.name '${name}': must be a DNS-1123 label`);
    } else if (DNS1035_NAMED.has(kind)) {
      if (name.length > 63 || !DNS1035_LABEL.test(name)) errors.push(`metadata.name '${name}': must be a DNS-1035 label`);
    } else if (name.length > 253 || !DNS1123_SUBDOMAIN.test(name)) {
      errors.push(`metadata.name '${name}': must be a DNS-1123 subdomain`);
    }
  }
  const labels = metadata?.labels;
  if (labels && typeof labels === "object") {
    for (const [key, value] of Object.entries(labels as Record<string, unknown>)) {
      checkQualifiedKey(key, "label", errors);
      if (typeof value !== "string" || value.length > 63 || !LABEL_VALUE.test(value)) {
        errors.push(`label '${key}': value '${String(value)}' must be ≤ 63 alphanumerics, '-', '_' or '.'`);
      }
    }
  }
  const annotations = metadata?.annotations;
  if (annotations && typeof annotations === "object") {
    let size = 0;
    for (const [key, value] of Object.entries(annotations as Record<string, unknown>)) {
      checkQualifiedKey(key, "annotation", errors);
      if (typeof value !== "string") errors.push(`annotation '${key}': value must be a string`);
      size += key.length + String(value).length;
    }
    if (size > 256 * 1024) errors.push("annotations: total size must be ≤ 256 KiB");
  }
  return errors;
}

/**
 * Everything a real API server would reject in `object` (empty when valid). Kinds unknown to
 * kubernetes-models are only checked for metadata.
 */
export async function validateObject(object: unknown): Promise<string[]> {
  if (!object || typeof object !== "object" || Array.isArray(object)) return ["body must be a JSON object"];
  const record = object as Record<string, unknown>;
  const { apiVersion, kind } = record;
  if (typeof apiVersion !== "string" || typeof kind !== "string") return ["apiVersion and kind are required"];
  const errors = validateMetadata(kind, record.metadata as Record<string, unknown> | undefined);
  const Model = await loadModel(apiVersion, kind);
  if (Model) {
    try {
      new Model(record).validate();
    } catch (err) {
      errors.push(...String(err instanceof Error ? err.message : err).split(/,\s*(?=data)/));
    }
  }
  return errors;
}

/** Whether kubernetes-models ships a schema for this apiVersion/kind. */
export async function hasSchema(apiVersion: string, kind: string): Promise<boolean> {
  return (await loadModel(apiVersion, kind)) !== null;
}
