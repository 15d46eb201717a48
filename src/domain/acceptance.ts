/**
 * Acceptance of a preview by testers and PMs (`/accept`, `/reject <reason>`): who may give it, what
 * is recorded, and the `berth/acceptance` status it shows. Pure: the dispatcher asks the host for
 * permissions and team membership and passes the answers in.
 *
 * A verdict belongs to one head commit. A new push sets the PR's acceptance back to pending: what
 * was accepted is no longer what the preview runs.
 */
import type { CommitStatus } from "./ports.js";
import { hasPermission } from "./permission.js";
import type { Permission } from "./types.js";

/** Context of the acceptance status (branch protection can require it). */
export const ACCEPTANCE_CONTEXT = "berth/acceptance";

/** Characters of a rejection reason kept (the rest is cut). */
export const MAX_REASON = 500;

/** Who may accept or reject, from berth.yml `acceptance.by`. */
export interface AcceptancePolicy {
  /** Anyone with at least this repository permission; undefined = permission alone is not enough. */
  permission?: Permission;
  /** Logins allowed whatever their permission (case-insensitive). */
  users: string[];
  /** Teams (`org/team-slug`) whose members are allowed (hosts with a teams API: GitHub). */
  teams: string[];
}

/** The PR's acceptance as recorded, always for one commit. */
export type AcceptanceRecord =
  | { sha: string; state: "pending" }
  | { sha: string; state: "accepted"; by: string; at: number }
  | { sha: string; state: "rejected"; by: string; at: number; reason: string };

/** What the host says of the commenter, asked only as far as the policy needs. */
export interface AcceptanceFacts {
  permission: Permission;
  /** Teams of the policy the user is a member of; undefined when the host has no teams API. */
  memberOf?: string[];
}

export type AcceptanceDecision = { allowed: true; as: string } | { allowed: false; why: string };

/** Whether `user` may accept or reject under `policy`, and as what (for the reply and the log). */
export function mayAccept(policy: AcceptancePolicy, user: string, facts: AcceptanceFacts): AcceptanceDecision {
  const login = user.toLowerCase();
  if (policy.users.some((u) => u.toLowerCase() === login)) return { allowed: true, as: "listed in acceptance.by.users" };
  const team = facts.memberOf?.find((t) => policy.teams.some((p) => p.toLowerCase() === t.toLowerCase()));
  if (team) return { allowed: true, as: `member of ${team}` };
  if (policy.permission && hasPermission(facts.permission, policy.permission)) return { allowed: true, as: `${facts.permission} permission` };
  return { allowed: false, why: describePolicy(policy, facts) };
}

/** Who the policy lets in, in words (shown when someone else tries). */
export function describePolicy(policy: AcceptancePolicy, facts?: AcceptanceFacts): string {
  const who: string[] = [];
  if (policy.permission) who.push(`${policy.permission} permission or higher`);
  if (policy.users.length) who.push(`the users ${policy.users.map((u) => `@${u}`).join(", ")}`);
  if (policy.teams.length) who.push(`members of ${policy.teams.join(", ")}${facts && facts.memberOf === undefined ? " (this code host cannot tell team membership)" : ""}`);
  return who.length ? `acceptance is given by ${who.join(", or ")}` : "nobody is allowed to accept (acceptance.by is empty)";
}

/** The recorded acceptance as it applies to `headSha`: a verdict on another commit is pending again. */
export function acceptanceOf(record: AcceptanceRecord | undefined, headSha: string): AcceptanceRecord | undefined {
  if (!record) return undefined;
  return record.sha === headSha ? record : { sha: headSha, state: "pending" };
}

/** The `berth/acceptance` status of a recorded acceptance. */
export function acceptanceStatus(record: AcceptanceRecord): CommitStatus {
  switch (record.state) {
    case "pending":
      return { context: ACCEPTANCE_CONTEXT, state: "pending", description: "waiting for a tester to /accept the preview" };
    case "accepted":
      return { context: ACCEPTANCE_CONTEXT, state: "success", description: `accepted by ${record.by}` };
    case "rejected":
      return { context: ACCEPTANCE_CONTEXT, state: "failure", description: `rejected by ${record.by}: ${record.reason}`.slice(0, 140) };
  }
}
