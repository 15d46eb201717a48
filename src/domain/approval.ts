/**
 * Which commit an `/ok-to-test` approves: exactly what the maintainer saw. A push that lands
 * between writing the comment and berth reading it must not ride on the approval.
 */
import { sha7 } from "./naming.js";

export interface ApprovalFacts {
  /** The PR's head now (read from the host when the command runs). */
  headSha: string;
  /** When berth first saw that head (ms); undefined when it had not seen it before this command. */
  headSeenAt?: number | undefined;
  /** When the comment was written (ms); undefined when the host does not say. */
  commentAt?: number | undefined;
  /** The commit the comment names (`/ok-to-test <sha>`), lower-case hex. */
  requestedSha?: string | undefined;
}

export type ApprovalDecision = { approve: true; sha: string } | { approve: false; reason: string };

/** Approve the head only when it is the commit the comment names, or provably older than the comment. */
export function decideApproval(facts: ApprovalFacts): ApprovalDecision {
  const head = facts.headSha;
  if (facts.requestedSha !== undefined) {
    if (head.startsWith(facts.requestedSha)) return { approve: true, sha: head };
    return {
      approve: false,
      reason: `\`/ok-to-test ${facts.requestedSha}\` names a commit that is not the head of this PR (the head is ${sha7(head)}). Nothing was approved.`,
    };
  }
  const retry = `Comment \`/ok-to-test ${sha7(head)}\` to approve ${sha7(head)} after reviewing it.`;
  if (facts.commentAt === undefined || !Number.isFinite(facts.commentAt)) {
    return { approve: false, reason: `berth cannot tell which commit this comment saw. ${retry}` };
  }
  if (facts.headSeenAt === undefined || facts.headSeenAt > facts.commentAt) {
    return { approve: false, reason: `The head of this PR moved to ${sha7(head)} after this comment was written, so nothing was approved. ${retry}` };
  }
  return { approve: true, sha: head };
}
