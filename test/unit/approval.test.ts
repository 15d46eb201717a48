import { describe, expect, it } from "vitest";
import { decideApproval } from "../../src/domain/approval.js";

const HEAD = "2".repeat(40);

describe("which commit /ok-to-test approves", () => {
  it("approves a head berth saw before the comment was written", () => {
    expect(decideApproval({ headSha: HEAD, headSeenAt: 1_000, commentAt: 2_000 })).toEqual({ approve: true, sha: HEAD });
    expect(decideApproval({ headSha: HEAD, headSeenAt: 2_000, commentAt: 2_000 })).toEqual({ approve: true, sha: HEAD });
  });

  it("refuses a head pushed after the comment, or one berth had not seen", () => {
    const later = decideApproval({ headSha: HEAD, headSeenAt: 3_000, commentAt: 2_000 });
    expect(later).toEqual({ approve: false, reason: "The head of this PR moved to 2222222 after this comment was written, so nothing was approved. Comment `/ok-to-test 2222222` to approve 2222222 after reviewing it." });
    expect(decideApproval({ headSha: HEAD, commentAt: 2_000 }).approve).toBe(false);
  });

  it("refuses when the host does not say when the comment was written", () => {
    expect(decideApproval({ headSha: HEAD, headSeenAt: 1_000 })).toEqual({ approve: false, reason: "berth cannot tell which commit this comment saw. Comment `/ok-to-test 2222222` to approve 2222222 after reviewing it." });
    expect(decideApproval({ headSha: HEAD, headSeenAt: 1_000, commentAt: Number.NaN }).approve).toBe(false);
  });

  it("approves exactly the commit named, whenever it was pushed", () => {
    expect(decideApproval({ headSha: HEAD, headSeenAt: 9_000, commentAt: 1_000, requestedSha: "2222222" })).toEqual({ approve: true, sha: HEAD });
    expect(decideApproval({ headSha: HEAD, requestedSha: "1111111" })).toEqual({
      approve: false,
      reason: "`/ok-to-test 1111111` names a commit that is not the head of this PR (the head is 2222222). Nothing was approved.",
    });
  });
});
