import { describe, expect, it } from "vitest";
import { parseGiteaEvent, type GiteaEventContext } from "../../src/ingress/gitea-event.js";
import { giteaFixtureEvent, giteaFixtureNames, loadGiteaFixture } from "../fixtures/gitea/gitea-fixtures.js";

const GITEA: GiteaEventContext = { host: "gitea-main", flavor: "gitea", deliveryId: "gitea-main:d-1" };
const GOGS: GiteaEventContext = { host: "gitea-old", flavor: "gogs", deliveryId: "gitea-old:d-2" };
const HEAD = "5b2f1f5e0c1a9d2b7e3c4f6a8b0d1e2f3a4b5c6d";

function parse(name: string, context = GITEA) {
  return parseGiteaEvent(giteaFixtureEvent(name), loadGiteaFixture(name), context);
}

const repo = { host: "gitea-main", owner: "acme", name: "shop", defaultBranch: "main", htmlUrl: "https://git.example.com/acme/shop" };

describe("parseGiteaEvent (Gitea and Forgejo payloads)", () => {
  it("turns an opened PR into pr-updated with head, base, author and fork flag", () => {
    expect(parse("pull_request_opened.json")).toEqual({
      type: "event",
      event: {
        kind: "pr-updated",
        deliveryId: "gitea-main:d-1",
        action: "opened",
        sender: "alice",
        pr: { repo, number: 3, headSha: HEAD, headRef: "feature/badge", baseRef: "main", fromFork: false, url: "https://git.example.com/acme/shop/pulls/3", author: "alice", state: "open" },
      },
    });
  });

  it("maps synchronized to synchronize and reopened to reopened; a fork PR is marked", () => {
    const sync = parse("pull_request_synchronized.json");
    expect(sync.type === "event" && sync.event.kind === "pr-updated" && [sync.event.action, sync.event.pr.headSha]).toEqual(["synchronize", "8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b"]);
    const reopened = parse("pull_request_reopened.json");
    expect(reopened.type === "event" && reopened.event.kind === "pr-updated" && reopened.event.action).toBe("reopened");
    const fork = parse("pull_request_opened_fork.json");
    expect(fork.type === "event" && fork.event.kind === "pr-updated" && fork.event.pr.fromFork).toBe(true);
  });

  it("closes with merged true or false", () => {
    const merged = parse("pull_request_merged.json");
    const closed = parse("pull_request_closed.json");
    expect(merged.type === "event" && merged.event.kind === "pr-closed" && merged.event.merged).toBe(true);
    expect(closed.type === "event" && closed.event.kind === "pr-closed" && [closed.event.merged, closed.event.pr.state]).toEqual([false, "closed"]);
  });

  it("ignores other PR actions", () => {
    expect(parse("pull_request_edited.json")).toEqual({ type: "ignore", reason: "pull_request action 'edited' is not handled" });
  });

  it("reads a new PR comment as a command candidate; issue comments and edits are ignored", () => {
    expect(parse("issue_comment_pr.json")).toEqual({
      type: "event",
      event: { kind: "pr-comment", deliveryId: "gitea-main:d-1", repo, prNumber: 3, commentId: "118", author: "bob", body: "/deploy", createdAt: Date.parse("2026-11-30T09:15:42Z") },
    });
    expect(parse("issue_comment_issue.json")).toEqual({ type: "ignore", reason: "comment is not on a pull request" });
    expect(parse("issue_comment_edited.json")).toEqual({ type: "ignore", reason: "comment action 'edited' is not handled" });
  });

  it("turns a tag push into tag-pushed; deletions and branch pushes do nothing", () => {
    expect(parse("push_tag.json")).toEqual({
      type: "event",
      event: { kind: "tag-pushed", deliveryId: "gitea-main:d-1", repo, tag: "release-1.4.0", sha: "c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6", pusher: "bob" },
    });
    expect(parse("push_tag_deleted.json")).toEqual({ type: "ignore", reason: "tag deletion does nothing" });
    expect(parse("push_branch.json")).toEqual({ type: "ignore", reason: "push is not a tag" });
  });

  it("never throws on odd input", () => {
    for (const body of [null, 1, "x", [], {}, { repository: { name: "../x" } }]) {
      for (const event of ["pull_request", "issue_comment", "push", "release", undefined]) expect(parseGiteaEvent(event, body, GITEA).type).toBe("ignore");
    }
    const odd = loadGiteaFixture("pull_request_opened.json");
    odd.repository.owner.login = "../etc";
    odd.repository.full_name = "../etc/shop";
    expect(parseGiteaEvent("pull_request", odd, GITEA)).toEqual({ type: "ignore", reason: "repository owner or name is not a plain path" });
    const noSha = loadGiteaFixture("pull_request_opened.json");
    noSha.pull_request.head.sha = "main";
    expect(parseGiteaEvent("pull_request", noSha, GITEA).type).toBe("ignore");
  });
});

describe("parseGiteaEvent (Gogs 0.13 payloads)", () => {
  const gogsRepo = { host: "gitea-old", owner: "acme", name: "shop", defaultBranch: "master", htmlUrl: "https://gogs.example.net/acme/shop" };

  it("reads Gogs' PR shape: branches by name, the head SHA left for the host to fill in", () => {
    expect(parse("gogs_pull_request_opened.json", GOGS)).toEqual({
      type: "event",
      event: {
        kind: "pr-updated",
        deliveryId: "gitea-old:d-2",
        action: "opened",
        sender: "alice",
        pr: { repo: gogsRepo, number: 4, headSha: "", headRef: "feature/badge", baseRef: "master", fromFork: false, url: "https://gogs.example.net/acme/shop/pulls/4", author: "alice", state: "open" },
      },
    });
    const merged = parse("gogs_pull_request_merged.json", GOGS);
    expect(merged.type === "event" && merged.event.kind === "pr-closed" && merged.event.merged).toBe(true);
    const sync = parse("gogs_pull_request_synchronized.json", GOGS);
    expect(sync.type === "event" && sync.event.kind === "pr-updated" && sync.event.action).toBe("synchronize");
  });

  it("reads Gogs tag pushes; comment commands are not supported on Gogs", () => {
    const tag = parse("gogs_push_tag.json", GOGS);
    expect(tag.type === "event" && tag.event.kind === "tag-pushed" && [tag.event.tag, tag.event.pusher]).toEqual(["release-1.4.0", "bob"]);
    expect(parseGiteaEvent("issue_comment", loadGiteaFixture("issue_comment_pr.json"), GOGS)).toEqual({ type: "ignore", reason: "comment commands are not supported on Gogs (no pull request API)" });
  });

  it("a Gitea-shaped PR is not read as Gogs' (and the other way round)", () => {
    expect(parse("pull_request_opened.json", GOGS).type).toBe("ignore");
    expect(parse("gogs_pull_request_opened.json", GITEA).type).toBe("ignore");
  });

  it("every fixture has an event header", () => {
    for (const name of giteaFixtureNames()) expect(["pull_request", "issue_comment", "push"]).toContain(giteaFixtureEvent(name));
  });
});
