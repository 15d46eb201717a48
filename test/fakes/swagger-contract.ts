/**
 * A Swagger 2.0 contract checker for test fakes (Gitee v5, Harbor v2.0, ...).
 *
 * It matches a request's method and path against the spec's path templates (under `basePath`),
 * checks path/query/header/formData parameters (presence, type, enum, bounds) and the JSON body
 * (JSON Schema through ajv, `$ref`s resolved against `#/definitions`), and checks a response body
 * against the operation's response schema. Every problem is a human-readable string; an empty list
 * means the exchange conforms.
 *
 * Swagger 2.0 quirks handled on purpose:
 * - property-level `required: true` (common in generated specs such as Gitee's) is turned into the
 *   parent object's `required` list; `x-nullable: true` allows `null`; `type: file` accepts anything;
 * - vendor keys (`x-*`), `example` and string `discriminator` are dropped before ajv sees a schema;
 * - a path parameter matches one segment; only when no template matches that way may a trailing
 *   parameter listed in `multiSegmentParams` (default `path`) take the rest (`/contents/{path}`);
 * - when several templates match, the one with more literal segments wins;
 * - undeclared error statuses (4xx/5xx) are accepted without a schema (specs rarely list them), an
 *   undeclared success status is a violation.
 */
import { readFileSync } from "node:fs";
import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";
import addFormatsModule from "ajv-formats";
import { parse as parseYaml } from "yaml";

type JsonObject = Record<string, unknown>;

/** Where a Swagger 2.0 parameter lives. */
export type ParameterLocation = "path" | "query" | "header" | "body" | "formData";

interface SwaggerParameter extends JsonObject {
  name: string;
  in: ParameterLocation;
  required?: boolean;
  type?: string;
  collectionFormat?: string;
  items?: JsonObject;
  schema?: JsonObject;
}

interface SwaggerResponse extends JsonObject {
  schema?: JsonObject;
}

interface CompiledOperation {
  method: string;
  template: string;
  operationId: string | undefined;
  /** Template segments below basePath; `{name}` marks a parameter. */
  segments: string[];
  literalCount: number;
  parameters: SwaggerParameter[];
  responses: Record<string, SwaggerResponse>;
  consumes: string[] | undefined;
}

/** One HTTP request as the fake received it (or a client is about to send it). */
export interface ContractRequest {
  method: string;
  /** URL path including basePath; a query string here is parsed and merged into `query`. */
  path: string;
  query?: Record<string, string | string[] | undefined>;
  headers?: Record<string, string | string[] | undefined>;
  /** Parsed body: JSON value, or a string map for form bodies; `undefined` when there is none. */
  body?: unknown;
  /** `Content-Type` of the body, if any. */
  contentType?: string;
}

/** The operation a request resolved to. */
export interface ContractMatch {
  method: string;
  template: string;
  operationId: string | undefined;
  pathParams: Record<string, string>;
}

/** Strictness switches of the checker. */
export interface SwaggerContractOptions {
  /** Accept query parameters the operation does not declare. Default false. */
  allowUnknownQuery?: boolean;
  /**
   * Path parameters that may span several segments when they end a template (file paths in a
   * repository). Default `["path"]`; any other parameter matches exactly one segment.
   */
  multiSegmentParams?: string[];
}

const METHODS = ["get", "put", "post", "delete", "options", "head", "patch"] as const;
const DEFS_ID = "https://berth.invalid/swagger-definitions.json";
const DROPPED_KEYS = new Set(["example", "examples", "xml", "externalDocs", "collectionFormat"]);

function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function resolveLocalRef<T extends JsonObject>(spec: JsonObject, value: unknown): T | undefined {
  if (!isObject(value)) return undefined;
  const ref = value.$ref;
  if (typeof ref !== "string") return value as T;
  if (!ref.startsWith("#/")) throw new Error(`only local $refs are supported, got ${ref}`);
  let node: unknown = spec;
  for (const part of ref.slice(2).split("/")) {
    const key = part.replace(/~1/g, "/").replace(/~0/g, "~");
    node = isObject(node) ? node[key] : undefined;
  }
  if (!isObject(node)) throw new Error(`unresolved $ref ${ref}`);
  return node as T;
}

/** Swagger 2.0 schema → JSON Schema ajv accepts (see the module comment for what changes). */
function toJsonSchema(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(toJsonSchema);
  if (!isObject(node)) return node;
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(node)) {
    if (key.startsWith("x-") || DROPPED_KEYS.has(key)) continue;
    if (key === "discriminator" && typeof value === "string") continue;
    if (key === "required" && !Array.isArray(value)) continue;
    if (key === "type" && value === "file") continue;
    if (key === "$ref" && typeof value === "string") {
      out.$ref = value.startsWith("#/definitions/") ? `${DEFS_ID}${value}` : value;
      continue;
    }
    if (key === "properties" && isObject(value)) {
      const properties: JsonObject = {};
      const required = new Set<string>(Array.isArray(node.required) ? (node.required as string[]) : []);
      for (const [name, schema] of Object.entries(value)) {
        properties[name] = toJsonSchema(schema);
        if (isObject(schema) && schema.required === true) required.add(name);
      }
      out.properties = properties;
      if (required.size > 0) out.required = [...required];
      continue;
    }
    out[key] = isObject(value) || Array.isArray(value) ? toJsonSchema(value) : value;
  }
  if (node["x-nullable"] === true) {
    if (typeof out.type === "string") out.type = [out.type, "null"];
    if (Array.isArray(out.enum)) out.enum = [...out.enum, null];
    if (typeof out.$ref === "string") {
      const { $ref, ...rest } = out;
      return { ...rest, anyOf: [{ $ref }, { type: "null" }] };
    }
  }
  return out;
}

function formatErrors(where: string, errors: ErrorObject[] | null | undefined): string[] {
  return (errors ?? []).map((error) => {
    const at = error.instancePath ? `${where}${error.instancePath}` : where;
    const allowed = error.keyword === "enum" && isObject(error.params) ? ` (${JSON.stringify(error.params.allowedValues)})` : "";
    return `${at} ${error.message ?? "is invalid"}${allowed}`;
  });
}

function mediaType(contentType: string | undefined): string | undefined {
  return contentType?.split(";")[0]?.trim().toLowerCase() || undefined;
}

/** A loaded Swagger 2.0 document that checks requests and responses. */
export class SwaggerContract {
  readonly basePath: string;
  private readonly spec: JsonObject;
  private readonly operations: CompiledOperation[] = [];
  private readonly ajv: Ajv;
  private readonly validators = new Map<string, ValidateFunction>();
  private readonly options: SwaggerContractOptions;
  private readonly multiSegment: ReadonlySet<string>;

  constructor(document: unknown, options: SwaggerContractOptions = {}) {
    if (!isObject(document) || document.swagger !== "2.0") throw new Error("not a Swagger 2.0 document");
    this.spec = document;
    this.options = options;
    this.multiSegment = new Set(options.multiSegmentParams ?? ["path"]);
    const basePath = typeof document.basePath === "string" ? document.basePath : "";
    this.basePath = basePath === "/" ? "" : basePath.replace(/\/+$/, "");

    this.ajv = new Ajv({ strict: false, allErrors: true, validateSchema: false });
    addFormatsModule.default(this.ajv);
    const int = (bits: number) => (n: number) => Number.isInteger(n) && n >= -(2 ** (bits - 1)) && n < 2 ** (bits - 1);
    this.ajv.addFormat("int32", { type: "number", validate: int(32) });
    this.ajv.addFormat("int64", { type: "number", validate: (n: number) => Number.isInteger(n) });
    this.ajv.addFormat("int8", { type: "number", validate: int(8) });
    this.ajv.addFormat("int", { type: "number", validate: (n: number) => Number.isInteger(n) });
    this.ajv.addFormat("uint64", { type: "number", validate: (n: number) => Number.isInteger(n) && n >= 0 });
    for (const name of ["float", "double", "float64", "byte", "binary", "password"]) this.ajv.addFormat(name, true);
    this.ajv.addSchema({ $id: DEFS_ID, definitions: toJsonSchema(document.definitions ?? {}) });

    const globalConsumes = Array.isArray(document.consumes) ? (document.consumes as string[]) : undefined;
    const paths = isObject(document.paths) ? document.paths : {};
    for (const [template, item] of Object.entries(paths)) {
      if (!isObject(item)) continue;
      const shared = Array.isArray(item.parameters) ? item.parameters : [];
      for (const method of METHODS) {
        const op = item[method];
        if (!isObject(op)) continue;
        const merged = new Map<string, SwaggerParameter>();
        for (const raw of [...shared, ...(Array.isArray(op.parameters) ? op.parameters : [])]) {
          const param = resolveLocalRef<SwaggerParameter>(this.spec, raw);
          if (param) merged.set(`${param.in}:${param.name}`, param);
        }
        const responses: Record<string, SwaggerResponse> = {};
        for (const [status, response] of Object.entries(isObject(op.responses) ? op.responses : {})) {
          responses[status] = resolveLocalRef<SwaggerResponse>(this.spec, response) ?? {};
        }
        const segments = template.split("/").filter((s) => s !== "");
        this.operations.push({
          method: method.toUpperCase(),
          template,
          operationId: typeof op.operationId === "string" ? op.operationId : undefined,
          segments,
          literalCount: segments.filter((s) => !s.startsWith("{")).length,
          parameters: [...merged.values()],
          responses,
          consumes: Array.isArray(op.consumes) ? (op.consumes as string[]) : globalConsumes,
        });
      }
    }
  }

  /** Load a Swagger 2.0 YAML or JSON file. */
  static fromFile(file: string, options?: SwaggerContractOptions): SwaggerContract {
    return new SwaggerContract(parseYaml(readFileSync(file, "utf8")), options);
  }

  /** Resolve method + path to one operation, or say why none fits. */
  match(method: string, rawPath: string): { match: ContractMatch } | { violation: string } {
    const upper = method.toUpperCase();
    const path = rawPath.split("?")[0] ?? "";
    if (this.basePath && path !== this.basePath && !path.startsWith(`${this.basePath}/`)) {
      return { violation: `${upper} ${path}: outside basePath ${this.basePath}` };
    }
    let parts: string[];
    try {
      parts = path
        .slice(this.basePath.length)
        .split("/")
        .filter((s) => s !== "")
        .map((s) => decodeURIComponent(s));
    } catch {
      return { violation: `${upper} ${path}: malformed percent-encoding` };
    }

    for (const greedy of [false, true]) {
      const candidates: Array<{ op: CompiledOperation; params: Record<string, string> }> = [];
      for (const op of this.operations) {
        const params = matchSegments(op.segments, parts, greedy ? this.multiSegment : null);
        if (params) candidates.push({ op, params });
      }
      if (candidates.length === 0) continue;
      const withMethod = candidates.filter((c) => c.op.method === upper);
      if (withMethod.length === 0) {
        const templates = [...new Set(candidates.map((c) => `${c.op.method} ${c.op.template}`))].join(", ");
        return { violation: `${upper} ${path}: method not allowed (spec has ${templates})` };
      }
      withMethod.sort((a, b) => b.op.literalCount - a.op.literalCount);
      const best = withMethod[0]!;
      return { match: { method: upper, template: best.op.template, operationId: best.op.operationId, pathParams: best.params } };
    }
    return { violation: `${upper} ${path}: unknown path (not in the spec)` };
  }

  private operation(match: ContractMatch): CompiledOperation {
    const op = this.operations.find((o) => o.method === match.method && o.template === match.template);
    if (!op) throw new Error(`no operation ${match.method} ${match.template}`);
    return op;
  }

  private validator(key: string, schema: unknown): ValidateFunction {
    let fn = this.validators.get(key);
    if (!fn) {
      fn = this.ajv.compile(toJsonSchema(schema) as JsonObject);
      this.validators.set(key, fn);
    }
    return fn;
  }

  /** Every way the request departs from the spec (empty when it conforms). */
  checkRequest(req: ContractRequest): string[] {
    const found = this.match(req.method, req.path);
    if ("violation" in found) return [found.violation];
    const { match } = found;
    const op = this.operation(match);
    const label = `${match.method} ${match.template}`;
    const violations: string[] = [];

    const query: Record<string, string[]> = {};
    const queryString = req.path.includes("?") ? req.path.slice(req.path.indexOf("?") + 1) : "";
    for (const [key, value] of new URLSearchParams(queryString)) (query[key] ??= []).push(value);
    for (const [key, value] of Object.entries(req.query ?? {})) {
      if (value === undefined) continue;
      (query[key] ??= []).push(...(Array.isArray(value) ? value : [value]));
    }
    const headers: Record<string, string[]> = {};
    for (const [key, value] of Object.entries(req.headers ?? {})) {
      if (value === undefined) continue;
      headers[key.toLowerCase()] = Array.isArray(value) ? value : [value];
    }
    const form: Record<string, string[]> = {};
    const formParams = op.parameters.filter((p) => p.in === "formData");
    const bodyParam = op.parameters.find((p) => p.in === "body");
    if (formParams.length > 0 && isObject(req.body)) {
      for (const [key, value] of Object.entries(req.body)) {
        if (value === undefined) continue;
        form[key] = Array.isArray(value) ? value.map(String) : [typeof value === "string" ? value : JSON.stringify(value)];
      }
    }

    for (const param of op.parameters) {
      if (param.in === "body") continue;
      let values: string[] | undefined;
      if (param.in === "path") values = match.pathParams[param.name] === undefined ? undefined : [match.pathParams[param.name]!];
      else if (param.in === "query") values = query[param.name];
      else if (param.in === "header") values = headers[param.name.toLowerCase()];
      else values = form[param.name];
      const where = `${label}: ${param.in} parameter '${param.name}'`;
      if (values === undefined || values.length === 0) {
        if (param.required) violations.push(`${where} is required but missing`);
        continue;
      }
      violations.push(...this.checkSimpleParameter(`${label}|${param.in}|${param.name}`, where, param, values));
    }

    if (!this.options.allowUnknownQuery) {
      const declared = new Set(op.parameters.filter((p) => p.in === "query").map((p) => p.name));
      for (const key of Object.keys(query)) if (!declared.has(key)) violations.push(`${label}: unknown query parameter '${key}'`);
    }
    if (formParams.length > 0 && isObject(req.body)) {
      const declared = new Set(formParams.map((p) => p.name));
      for (const key of Object.keys(req.body)) if (!declared.has(key)) violations.push(`${label}: unknown form field '${key}'`);
    }

    const type = mediaType(req.contentType);
    if (req.body !== undefined && type && op.consumes && !op.consumes.map((c) => c.toLowerCase()).includes(type)) {
      violations.push(`${label}: content type ${type} not in consumes (${op.consumes.join(", ")})`);
    }
    if (bodyParam) {
      if (req.body === undefined) {
        if (bodyParam.required) violations.push(`${label}: request body is required but missing`);
      } else {
        const validate = this.validator(`${label}|body`, bodyParam.schema ?? {});
        if (!validate(req.body)) violations.push(...formatErrors(`${label}: request body`, validate.errors));
      }
    } else if (req.body !== undefined && formParams.length === 0) {
      violations.push(`${label}: operation takes no request body`);
    }
    return violations;
  }

  private checkSimpleParameter(key: string, where: string, param: SwaggerParameter, values: string[]): string[] {
    if (param.type === "file") return [];
    let value: unknown;
    if (param.type === "array") {
      const format = param.collectionFormat ?? "csv";
      const raw =
        format === "multi"
          ? values
          : values.length > 1
            ? null
            : (values[0] ?? "").split({ csv: ",", ssv: " ", tsv: "\t", pipes: "|" }[format] ?? ",");
      if (raw === null) return [`${where} given more than once`];
      const itemType = typeof param.items?.type === "string" ? param.items.type : "string";
      const items: unknown[] = [];
      for (const item of raw) {
        const coerced = coerce(item, itemType);
        if (coerced === undefined) return [`${where} items must be ${itemType}, got '${item}'`];
        items.push(coerced);
      }
      value = items;
    } else {
      if (values.length > 1) return [`${where} given more than once`];
      const type = param.type ?? "string";
      value = coerce(values[0] ?? "", type);
      if (value === undefined) return [`${where} must be ${type}, got '${values[0] ?? ""}'`];
    }
    const schema: JsonObject = {};
    for (const k of ["type", "format", "enum", "items", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength", "pattern", "minItems", "maxItems", "uniqueItems", "multipleOf"]) {
      if (param[k] !== undefined) schema[k] = param[k];
    }
    const validate = this.validator(key, schema);
    return validate(value) ? [] : formatErrors(where, validate.errors);
  }

  /** Every way a response departs from the spec for this request's operation. */
  checkResponse(req: Pick<ContractRequest, "method" | "path">, status: number, body: unknown): string[] {
    const found = this.match(req.method, req.path);
    if ("violation" in found) return [found.violation];
    const op = this.operation(found.match);
    const label = `${op.method} ${op.template} → ${status}`;
    const response = op.responses[String(status)] ?? op.responses.default;
    if (!response) {
      return status >= 400 ? [] : [`${label}: status not declared (spec has ${Object.keys(op.responses).join(", ") || "none"})`];
    }
    if (!response.schema || response.schema.type === "file") return [];
    if (body === undefined) return [`${label}: response body missing (a schema is declared)`];
    const validate = this.validator(`${op.method} ${op.template}|response|${status}`, response.schema);
    return validate(body) ? [] : formatErrors(`${label}: response body`, validate.errors);
  }
}

function coerce(raw: string, type: string): unknown {
  switch (type) {
    case "integer":
      return /^-?\d+$/.test(raw) ? Number(raw) : undefined;
    case "number":
      return raw.trim() !== "" && Number.isFinite(Number(raw)) ? Number(raw) : undefined;
    case "boolean":
      return raw === "true" ? true : raw === "false" ? false : undefined;
    default:
      return raw;
  }
}

function matchSegments(template: string[], parts: string[], greedyNames: ReadonlySet<string> | null): Record<string, string> | null {
  const greedyTail = greedyNames !== null;
  const tailName = /^\{([^}]+)\}$/.exec(template[template.length - 1] ?? "")?.[1];
  if (greedyTail) {
    // Only tried when nothing matched segment by segment, so the tail takes at least two segments.
    if (!tailName || !greedyNames.has(tailName) || parts.length <= template.length) return null;
  } else if (parts.length !== template.length) {
    return null;
  }
  const params: Record<string, string> = {};
  for (let i = 0; i < template.length; i++) {
    const t = template[i]!;
    const isTail = greedyTail && i === template.length - 1;
    const part = isTail ? parts.slice(i).join("/") : parts[i];
    if (part === undefined || part === "") return null;
    const param = /^\{([^}]+)\}$/.exec(t);
    if (param?.[1]) params[param[1]] = part;
    else if (t !== part) return null;
  }
  return params;
}

/** Load a contract from a Swagger 2.0 file. */
export function loadSwaggerContract(file: string, options?: SwaggerContractOptions): SwaggerContract {
  return SwaggerContract.fromFile(file, options);
}

/** Throw when there is any violation, listing them all. */
export function assertNoContractViolations(violations: readonly string[], context = "contract"): void {
  if (violations.length > 0) {
    throw new Error(`${context}: ${violations.length} violation(s)\n- ${violations.join("\n- ")}`);
  }
}
