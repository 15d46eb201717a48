/**
 * Who may accept a preview, how a verdict applies to the head commit, and the status it shows.
 */
import { describe, expect, it } from "vitest";
import { acceptanceOf, acceptanceStatus, describePolicy, mayAccept, type AcceptancePolicy } from "../../src/domain/acceptance.js";
import { parseRepoConfig } from "../../src/config/repo-config.js";
import { giteeStatusLabel } from "../../src/hosts/gitee/gitee-status-labels.js";

const SHA = "a".repeat(40);

describe("mayAccept", () => {
  const policy: AcceptancePolicy = { permission: "triage", users: ["Pm-Alice"], teams: ["acme/qa"] };

  it("lets in listed users (any case) whatever their permission, team members, and the permission level or higher", () => {
    expect(mayAccept(policy, "pm-alice", { permission: "none" })).toEqual({ allowed: true, as: "listed in acceptance.by.users" });
    expect(mayAccept(policy, "tess", { permission: "read", memberOf: ["ACME/qa"] })).toEqual({ allowed: true, as: "member of ACME/qa" });
    expect(mayAccept(policy, "dev", { permission: "write" })).toEqual({ allowed: true, as: "write permission" });
  });

  it("refuses everyone else and says who is allowed", () => {
    const refused = mayAccept(policy, "mallory", { permission: "read", memberOf: [] });
    expect(refused).toEqual({ allowed: false, why: "acceptance is given by triage permission or higher, or the users @Pm-Alice, or members of acme/qa" });
    // Without a permission level, permission alone lets nobody in.
    expect(mayAccept({ users: ["alice"], teams: [] }, "admin-bob", { permission: "admin" }).allowed).toBe(false);
    expect(describePolicy({ users: [], teams: [] })).toBe("nobody is allowed to accept (acceptance.by is empty)");
    expect(describePolicy({ users: [], teams: ["acme/qa"] }, { permission: "read" })).toBe("acceptance is given by members of acme/qa (this code host cannot tell team membership)");
  });
});

describe("acceptance of the head commit", () => {
  it("a verdict on another commit is pending again", () => {
    const accepted = { sha: SHA, state: "accepted" as const, by: "alice", at: 1 };
    expect(acceptanceOf(accepted, SHA)).toBe(accepted);
    expect(acceptanceOf(accepted, "b".repeat(40))).toEqual({ sha: "b".repeat(40), state: "pending" });
    expect(acceptanceOf(undefined, SHA)).toBeUndefined();
  });

  it("shows as the berth/acceptance status, and on Gitee as its own label", () => {
    expect(acceptanceStatus({ sha: SHA, state: "pending" })).toEqual({ context: "berth/acceptance", state: "pending", description: "waiting for a tester to /accept the preview" });
    expect(acceptanceStatus({ sha: SHA, state: "accepted", by: "alice", at: 1 })).toMatchObject({ state: "success", description: "accepted by alice" });
    const rejected = acceptanceStatus({ sha: SHA, state: "rejected", by: "bob", at: 1, reason: "x".repeat(300) });
    expect(rejected.state).toBe("failure");
    expect(rejected.description.length).toBeLessThanOrEqual(140);
    expect(giteeStatusLabel({ context: "berth/acceptance", state: "success" })).toBe("berth:acceptance-passed");
    expect(giteeStatusLabel({ context: "berth/acceptance", state: "failure" })).toBe("berth:acceptance-failed");
  });
});

describe("acceptance in berth.yml", () => {
  it("defaults to write permission, and refuses bad logins and teams naming the field", () => {
    const parsed = parseRepoConfig("acceptance: {}\n");
    expect(parsed.ok && parsed.config.acceptance).toEqual({ by: { permission: "write", users: [], teams: [] } });
    const listed = parseRepoConfig("acceptance:\n  by:\n    users: [alice]\n");
    expect(listed.ok && listed.config.acceptance?.by).toEqual({ users: ["alice"], teams: [] });
    const bad = parseRepoConfig("acceptance:\n  by:\n    teams: [qa]\n");
    expect(bad.ok).toBe(false);
    expect(!bad.ok && bad.error).toContain("acceptance.by.teams.0");
  });
});
