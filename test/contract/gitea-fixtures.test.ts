/**
 * The Gitea webhook fixtures follow Gitea's structs: their pull request, repository, users, issue and
 * comment match the definitions the Gitea 1.27 and Forgejo 11 descriptions give those structs (as
 * the API answers them). Go writes an unset pointer (`merged_at`, `milestone`, ...) as null, which the
 * descriptions do not mark nullable; such nulls are dropped before the check.
 */
import { describe, expect, it } from "vitest";
import { giteaContract } from "../fakes/gitea-api.js";
import { giteaFixtureNames, loadGiteaFixture } from "../fixtures/gitea/gitea-fixtures.js";

function withoutNulls(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutNulls);
  if (value && typeof value === "object") return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== null).map(([k, v]) => [k, withoutNulls(v)]));
  return value;
}

const API = "/api/v1/repos/acme/shop";

for (const flavor of ["gitea", "forgejo"] as const) {
  describe(`Gitea fixtures against the ${flavor} description`, () => {
    const contract = giteaContract(flavor);
    const check = (path: string, body: unknown): string[] => contract.checkResponse({ method: "GET", path }, 200, withoutNulls(body));

    for (const name of giteaFixtureNames().filter((n) => !n.startsWith("gogs_"))) {
      it(name, () => {
        const body = loadGiteaFixture(name);
        const problems = [...check(API, body.repository), ...check("/api/v1/user", body.sender)];
        if (body.pull_request) problems.push(...check(`${API}/pulls/3`, body.pull_request));
        if (body.issue) problems.push(...check(`${API}/issues/3`, body.issue));
        if (body.comment) problems.push(...check(`${API}/issues/comments/118`, body.comment));
        if (body.pusher) problems.push(...check("/api/v1/user", body.pusher));
        expect(problems).toEqual([]);
      });
    }

    it("a fixture of the wrong shape is caught", () => {
      const body = loadGiteaFixture("pull_request_opened.json");
      body.pull_request.number = "3";
      body.pull_request.head.repo.owner.id = "two";
      expect(check(`${API}/pulls/3`, body.pull_request)).toHaveLength(2);
    });
  });
}
