import nock from "nock";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { DistributionClient, isLoopbackRegistry, nextLink, parseAuthChallenge, RegistryApiError } from "../../src/adapters/registry/distribution-client.js";
import { captureLogger } from "../helpers/capture-log.js";

const HOST = "registry.example.com";
const BASE = `https://${HOST}`;
const DIGEST = `sha256:${"d".repeat(64)}`;
const PASSWORD = "s3cret-Pa55word";

beforeAll(() => nock.disableNetConnect());
afterEach(() => {
  const pending = nock.pendingMocks();
  nock.cleanAll();
  expect(pending).toEqual([]);
});

function client(options: { username?: string; password?: string } = {}): DistributionClient {
  return new DistributionClient({ host: HOST, log: captureLogger().log, backoffMs: 1, ...options });
}

describe("registry auth challenge and links", () => {
  it("parses Bearer and Basic challenges", () => {
    expect(parseAuthChallenge('Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:a/b:pull"')).toEqual({
      scheme: "bearer",
      realm: "https://auth.example.com/token",
      service: "registry.example.com",
      scope: "repository:a/b:pull",
    });
    expect(parseAuthChallenge('Basic realm="Registry Realm"')).toEqual({ scheme: "basic", realm: "Registry Realm" });
    expect(parseAuthChallenge("Negotiate abc")).toBeNull();
    expect(parseAuthChallenge(undefined)).toBeNull();
  });

  it("talks plain HTTP only to loopback registries", () => {
    expect(isLoopbackRegistry("127.0.0.1:5000")).toBe(true);
    expect(isLoopbackRegistry("localhost:5000")).toBe(true);
    expect(isLoopbackRegistry("[::1]:5000")).toBe(true);
    expect(isLoopbackRegistry("127.example.com")).toBe(false);
    expect(isLoopbackRegistry("registry.example.com")).toBe(false);
  });

  it("finds the next page in a Link header", () => {
    expect(nextLink('</v2/a/b/tags/list?n=2&last=t2>; rel="next"')).toBe("/v2/a/b/tags/list?n=2&last=t2");
    expect(nextLink(undefined)).toBeUndefined();
    expect(nextLink('</x>; rel="prev"')).toBeUndefined();
  });
});

describe("DistributionClient", () => {
  it("answers a Bearer challenge with a token for the scope asked, and reuses it", async () => {
    const challenge = 'Bearer realm="https://auth.example.com/token",service="reg",scope="repository:team/app:pull"';
    nock(BASE).get("/v2/team/app/tags/list").query({ n: "1000" }).reply(401, { errors: [{ code: "UNAUTHORIZED" }] }, { "WWW-Authenticate": challenge });
    nock("https://auth.example.com")
      .get("/token")
      .query({ service: "reg", scope: "repository:team/app:pull" })
      .basicAuth({ user: "robot$ci", pass: PASSWORD })
      .reply(200, { token: "tok-1" });
    nock(BASE, { reqheaders: { authorization: "Bearer tok-1" } })
      .get("/v2/team/app/tags/list")
      .query({ n: "1000" })
      .reply(200, { name: "team/app", tags: ["pr-1-a"] }, { Link: '</v2/team/app/tags/list?n=1000&last=pr-1-a>; rel="next"' });
    nock(BASE, { reqheaders: { authorization: "Bearer tok-1" } })
      .get("/v2/team/app/tags/list")
      .query({ n: "1000", last: "pr-1-a" })
      .reply(200, { name: "team/app", tags: ["release-1"] });

    expect(await client({ username: "robot$ci", password: PASSWORD }).listTags("team/app")).toEqual(["pr-1-a", "release-1"]);
  });

  it("sends Basic credentials when the registry asks for them", async () => {
    nock(BASE).head("/v2/app/manifests/pr-1-a").reply(401, "", { "WWW-Authenticate": 'Basic realm="r"' });
    nock(BASE).head("/v2/app/manifests/pr-1-a").basicAuth({ user: "ci", pass: PASSWORD }).reply(200, "", { "Docker-Content-Digest": DIGEST });
    expect(await client({ username: "ci", password: PASSWORD }).digestOf("app", "pr-1-a")).toBe(DIGEST);
  });

  it("retries 5xx, treats 404 as gone, and reports deletes disabled without secrets", async () => {
    nock(BASE).delete(`/v2/app/manifests/${DIGEST}`).reply(503);
    nock(BASE).delete(`/v2/app/manifests/${DIGEST}`).reply(202);
    nock(BASE).delete(`/v2/other/manifests/${DIGEST}`).reply(404, { errors: [{ code: "MANIFEST_UNKNOWN", message: "manifest unknown" }] });
    nock(BASE)
      .delete(`/v2/locked/manifests/${DIGEST}`)
      .reply(405, { errors: [{ code: "UNSUPPORTED", message: `The operation is unsupported. ${PASSWORD}` }] });
    const c = client({ username: "ci", password: PASSWORD });

    expect(await c.deleteManifest("app", DIGEST)).toBe(true);
    expect(await c.deleteManifest("other", DIGEST)).toBe(false);
    const error = await c.deleteManifest("locked", DIGEST).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RegistryApiError);
    expect((error as RegistryApiError).code).toBe("UNSUPPORTED");
    expect((error as Error).message).toBe(`registry ${HOST}: DELETE /v2/locked/manifests/${DIGEST} answered 405 (UNSUPPORTED: The operation is unsupported. ***)`);
  });

  it("retries connection resets and 429 with Retry-After, then gives up saying how often it tried", async () => {
    const sleeps: number[] = [];
    const c = new DistributionClient({ host: HOST, log: captureLogger().log, backoffMs: 1, retries: 2, sleep: async (ms) => void sleeps.push(ms) });
    nock(BASE).head("/v2/app/manifests/pr-1-a").replyWithError({ code: "ECONNRESET", message: "socket hang up" });
    nock(BASE).head("/v2/app/manifests/pr-1-a").reply(429, "", { "Retry-After": "2" });
    nock(BASE).head("/v2/app/manifests/pr-1-a").reply(200, "", { "Docker-Content-Digest": DIGEST });
    expect(await c.digestOf("app", "pr-1-a")).toBe(DIGEST);
    expect(sleeps[1]).toBe(2000);

    nock(BASE).get("/v2/app/tags/list").query({ n: "1000" }).times(3).reply(503, { errors: [{ code: "UNAVAILABLE", message: "maintenance" }] });
    await expect(c.listTags("app")).rejects.toThrow(`registry ${HOST}: GET /v2/app/tags/list?n=1000 answered 503 (UNAVAILABLE: maintenance) after 3 attempts`);
  });

  it("names the field of a tag list that does not match", async () => {
    nock(BASE).get("/v2/app/tags/list").query({ n: "1000" }).reply(200, { name: "app", tags: [1] });
    const error = (await client().listTags("app").catch((e: unknown) => e)) as RegistryApiError;
    expect(error).toBeInstanceOf(RegistryApiError);
    expect(error.code).toBe("INVALID_RESPONSE");
    expect(error.message).toMatch(/^registry registry\.example\.com: GET \/v2\/app\/tags\/list\?n=1000 answered 200 with an unexpected body \(tags\.0: /);
  });

  it("says when a registry cannot delete a tag alone", async () => {
    nock(BASE).delete("/v2/app/manifests/pr-1-a").reply(400, { errors: [{ code: "DIGEST_INVALID" }] });
    nock(BASE).delete("/v2/app/manifests/pr-1-b").reply(202);
    expect(await client().deleteTag("app", "pr-1-a")).toBe("unsupported");
    expect(await client().deleteTag("app", "pr-1-b")).toBe("deleted");
  });

  it("refuses names no registry accepts before sending anything", async () => {
    await expect(client().listTags("Team/App")).rejects.toThrow('invalid repository name "Team/App"');
    await expect(client().digestOf("app", "pr-1;rm -rf")).rejects.toThrow('invalid tag "pr-1;rm -rf"');
    await expect(client().deleteManifest("app", "latest")).rejects.toThrow('invalid digest "latest"');
  });
});
