import { describe, expect, it } from "vitest";
import { GITEE_SWAGGER_FILE, giteeContract } from "../fakes/gitee-api.js";
import { HARBOR_SWAGGER_FILE } from "../fakes/harbor-api.js";
import { assertNoContractViolations, loadSwaggerContract, SwaggerContract } from "../fakes/swagger-contract.js";


/** A small spec exercising every feature of the checker, so each rule is tested in isolation. */
const MINI = new SwaggerContract({
  swagger: "2.0",
  basePath: "/api",
  consumes: ["application/json"],
  paths: {
    "/things/{id}": {
      parameters: [{ name: "id", in: "path", required: true, type: "integer", format: "int32" }],
      get: {
        parameters: [
          { name: "X-Trace", in: "header", required: true, type: "string", minLength: 3 },
          { name: "view", in: "query", type: "string", enum: ["short", "full"] },
          { name: "tags", in: "query", type: "array", items: { type: "string" }, collectionFormat: "multi" },
        ],
        responses: { 200: { description: "ok", schema: { $ref: "#/definitions/Thing" } } },
      },
      put: {
        parameters: [{ name: "body", in: "body", required: true, schema: { $ref: "#/definitions/ThingInput" } }],
        responses: { 200: { description: "ok", schema: { $ref: "#/definitions/Thing" } }, 204: { description: "none" } },
      },
    },
    "/things/special": {
      get: { responses: { 200: { description: "ok" } } },
    },
    "/files/{path}": {
      get: { parameters: [{ name: "path", in: "path", required: true, type: "string" }], responses: { 200: { description: "ok" } } },
    },
    "/search": {
      get: {
        parameters: [
          { name: "q", in: "query", required: true, type: "string" },
          { name: "limit", in: "query", type: "integer", maximum: 100 },
        ],
        responses: { 200: { description: "ok", schema: { type: "array", items: { $ref: "#/definitions/Thing" } } } },
      },
    },
  },
  definitions: {
    Thing: {
      type: "object",
      properties: {
        id: { type: "integer", format: "int32" },
        name: { type: "string", "x-exportParamName": "Name", example: "n" },
        owner: { $ref: "#/definitions/Owner", "x-nullable": true },
        kind: { type: "string", enum: ["a", "b"] },
      },
      required: ["id"],
    },
    Owner: { type: "object", properties: { login: { type: "string", required: true } } },
    ThingInput: { type: "object", properties: { name: { type: "string", required: true }, size: { type: "integer" } } },
  },
});

const trace = { "x-trace": "abc" };

describe("matching", () => {
  it("matches under basePath, with path-level parameters, preferring literal segments", () => {
    expect(MINI.match("GET", "/api/things/7")).toEqual({ match: { method: "GET", template: "/things/{id}", operationId: undefined, pathParams: { id: "7" } } });
    expect(MINI.match("GET", "/api/things/special")).toMatchObject({ match: { template: "/things/special" } });
  });

  it("reports an unknown path, a path outside basePath and a method the path does not have", () => {
    expect(MINI.match("GET", "/api/nothing")).toEqual({ violation: "GET /api/nothing: unknown path (not in the spec)" });
    expect(MINI.match("GET", "/things/7")).toEqual({ violation: "GET /things/7: outside basePath /api" });
    expect(MINI.match("DELETE", "/api/things/7")).toEqual({ violation: "DELETE /api/things/7: method not allowed (spec has GET /things/{id}, PUT /things/{id})" });
  });

  it("lets only a trailing `path` parameter span segments", () => {
    expect(MINI.match("GET", "/api/files/a/b/c.txt")).toMatchObject({ match: { pathParams: { path: "a/b/c.txt" } } });
    expect(MINI.match("GET", "/api/things/7/extra")).toEqual({ violation: "GET /api/things/7/extra: unknown path (not in the spec)" });
  });

  it("decodes path segments before checking them", () => {
    expect(MINI.match("GET", "/api/files/berth%3Abuild")).toMatchObject({ match: { pathParams: { path: "berth:build" } } });
  });
});

describe("requests", () => {
  it("accepts a conforming request", () => {
    expect(MINI.checkRequest({ method: "GET", path: "/api/things/7?view=full&tags=a&tags=b", headers: { "X-Trace": "abc" } })).toEqual([]);
    expect(MINI.checkRequest({ method: "PUT", path: "/api/things/7", body: { name: "x", size: 2 }, contentType: "application/json" })).toEqual([]);
  });

  it("rejects a missing required query parameter and header", () => {
    expect(MINI.checkRequest({ method: "GET", path: "/api/search" })).toEqual(["GET /search: query parameter 'q' is required but missing"]);
    expect(MINI.checkRequest({ method: "GET", path: "/api/things/7" })).toEqual(["GET /things/{id}: header parameter 'X-Trace' is required but missing"]);
  });

  it("rejects wrong parameter types, enum values, bounds and unknown query parameters", () => {
    expect(MINI.checkRequest({ method: "GET", path: "/api/things/x", headers: trace })).toEqual(["GET /things/{id}: path parameter 'id' must be integer, got 'x'"]);
    expect(MINI.checkRequest({ method: "GET", path: "/api/things/3000000000", headers: trace })).toEqual([
      `GET /things/{id}: path parameter 'id' must match format "int32"`,
    ]);
    expect(MINI.checkRequest({ method: "GET", path: "/api/things/7?view=long", headers: trace })).toEqual([
      `GET /things/{id}: query parameter 'view' must be equal to one of the allowed values (["short","full"])`,
    ]);
    expect(MINI.checkRequest({ method: "GET", path: "/api/things/7", headers: { "x-trace": "ab" } })).toEqual([
      "GET /things/{id}: header parameter 'X-Trace' must NOT have fewer than 3 characters",
    ]);
    expect(MINI.checkRequest({ method: "GET", path: "/api/search?q=a&limit=500&debug=1" })).toEqual([
      "GET /search: query parameter 'limit' must be <= 100",
      "GET /search: unknown query parameter 'debug'",
    ]);
    expect(MINI.checkRequest({ method: "GET", path: "/api/search?q=a&q=b" })).toEqual(["GET /search: query parameter 'q' given more than once"]);
  });

  it("rejects a wrong body, a missing body, a body where none is taken and a foreign content type", () => {
    expect(MINI.checkRequest({ method: "PUT", path: "/api/things/7", body: { size: "big" } })).toEqual([
      "PUT /things/{id}: request body must have required property 'name'",
      "PUT /things/{id}: request body/size must be integer",
    ]);
    expect(MINI.checkRequest({ method: "PUT", path: "/api/things/7" })).toEqual(["PUT /things/{id}: request body is required but missing"]);
    expect(MINI.checkRequest({ method: "GET", path: "/api/search?q=a", body: { x: 1 } })).toEqual(["GET /search: operation takes no request body"]);
    expect(MINI.checkRequest({ method: "PUT", path: "/api/things/7", body: { name: "x" }, contentType: "text/plain" })).toEqual([
      "PUT /things/{id}: content type text/plain not in consumes (application/json)",
    ]);
  });
});

describe("responses", () => {
  it("accepts a conforming body, x-nullable null, and undeclared error statuses", () => {
    expect(MINI.checkResponse({ method: "GET", path: "/api/things/7" }, 200, { id: 7, name: "n", owner: null, extra: true })).toEqual([]);
    expect(MINI.checkResponse({ method: "GET", path: "/api/things/7" }, 200, { id: 7, owner: { login: "a" } })).toEqual([]);
    expect(MINI.checkResponse({ method: "GET", path: "/api/things/7" }, 404, { message: "nope" })).toEqual([]);
    expect(MINI.checkResponse({ method: "PUT", path: "/api/things/7" }, 204, undefined)).toEqual([]);
  });

  it("rejects wrong bodies through nested $refs, missing bodies and undeclared success statuses", () => {
    expect(MINI.checkResponse({ method: "GET", path: "/api/things/7" }, 200, { id: "7", kind: "c", owner: {} })).toEqual([
      "GET /things/{id} → 200: response body/id must be integer",
      "GET /things/{id} → 200: response body/owner must have required property 'login'",
      "GET /things/{id} → 200: response body/owner must be null",
      "GET /things/{id} → 200: response body/owner must match a schema in anyOf",
      `GET /things/{id} → 200: response body/kind must be equal to one of the allowed values (["a","b"])`,
    ]);
    expect(MINI.checkResponse({ method: "GET", path: "/api/search" }, 200, [{ name: "no id" }])).toEqual([
      "GET /search → 200: response body/0 must have required property 'id'",
    ]);
    expect(MINI.checkResponse({ method: "GET", path: "/api/things/7" }, 200, undefined)).toEqual([
      "GET /things/{id} → 200: response body missing (a schema is declared)",
    ]);
    expect(MINI.checkResponse({ method: "GET", path: "/api/things/7" }, 201, { id: 1 })).toEqual(["GET /things/{id} → 201: status not declared (spec has 200)"]);
    expect(MINI.checkResponse({ method: "GET", path: "/api/unknown" }, 200, {})).toEqual(["GET /api/unknown: unknown path (not in the spec)"]);
  });
});

describe("the real specs", () => {
  const gitee = giteeContract();

  it("Gitee: accepts the PR comment calls berth makes and rejects a wrong body", () => {
    expect(gitee.checkRequest({ method: "POST", path: "/api/v5/repos/o/r/pulls/1/comments", body: { access_token: "t", body: "hi" }, contentType: "application/json" })).toEqual([]);
    expect(gitee.checkRequest({ method: "PATCH", path: "/api/v5/repos/o/r/pulls/comments/5", body: { access_token: "t", body: 5 }, contentType: "application/json" })).toEqual([
      "PATCH /v5/repos/{owner}/{repo}/pulls/comments/{id}: request body/body must be string",
    ]);
    // PullRequestCommentPatchParam marks `body` with a property-level `required: true`.
    expect(gitee.checkRequest({ method: "PATCH", path: "/api/v5/repos/o/r/pulls/comments/5", body: { access_token: "t" }, contentType: "application/json" })).toEqual([
      "PATCH /v5/repos/{owner}/{repo}/pulls/comments/{id}: request body must have required property 'body'",
    ]);
  });

  it("Gitee: rejects an unknown path, a missing required query parameter and a bad enum", () => {
    expect(gitee.checkRequest({ method: "GET", path: "/api/v5/repos/o/r/tarball?ref=abc" })).toEqual(["GET /api/v5/repos/o/r/tarball: unknown path (not in the spec)"]);
    expect(gitee.checkRequest({ method: "GET", path: "/api/v5/search/repositories" })).toEqual(["GET /v5/search/repositories: query parameter 'q' is required but missing"]);
    expect(gitee.checkRequest({ method: "GET", path: "/api/v5/search/repositories?q=x&language=Cobol" })[0]).toMatch(/query parameter 'language' must be equal to one of the allowed values/);
  });

  it("Gitee: the token in the query of a POST is flagged (the spec puts it in the body)", () => {
    expect(gitee.checkRequest({ method: "POST", path: "/api/v5/repos/o/r/pulls/1/comments?access_token=t", body: { body: "hi" }, contentType: "application/json" })).toEqual([
      "POST /v5/repos/{owner}/{repo}/pulls/{number}/comments: unknown query parameter 'access_token'",
    ]);
  });

  it("Harbor: loads with its basePath, resolves shared parameters and checks bounds", () => {
    const harbor = loadSwaggerContract(HARBOR_SWAGGER_FILE);
    expect(harbor.basePath).toBe("/api/v2.0");
    expect(harbor.checkRequest({ method: "GET", path: "/api/v2.0/projects?page=1&page_size=50", headers: { "X-Request-Id": "r1" } })).toEqual([]);
    expect(harbor.checkRequest({ method: "GET", path: "/api/v2.0/projects?page_size=500" })).toEqual(["GET /projects: query parameter 'page_size' must be <= 100"]);
    expect(harbor.checkRequest({ method: "GET", path: "/api/v2.0/nope" })).toEqual(["GET /api/v2.0/nope: unknown path (not in the spec)"]);
  });

  it("loads the Gitee file through the generic loader too", () => {
    expect(loadSwaggerContract(GITEE_SWAGGER_FILE).basePath).toBe("/api");
  });
});

describe("assertNoContractViolations", () => {
  it("passes on none and throws listing every violation", () => {
    expect(() => assertNoContractViolations([])).not.toThrow();
    expect(() => assertNoContractViolations(["a is wrong", "b is wrong"], "fake")).toThrow("fake: 2 violation(s)\n- a is wrong\n- b is wrong");
  });
});
