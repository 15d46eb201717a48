import { describe, expect, it } from "vitest";
import { GITEE_MAX_CLOCK_SKEW_MS, signGiteeTimestamp, verifyGiteeSignature } from "../../src/ingress/gitee-signature.js";

// Test vector from Gitee's documentation of the signature mode.
const SECRET = "bBg5lrt03VixkX85CNqYIcecC0SIGASE";
const TIMESTAMP = "1633679083918";
const SIGNATURE = "Xvh4YPVe6l31XpDRL9J2yeaEXabsckIoUUschpXiVck=";
const NOW = Number(TIMESTAMP) + 5_000;

describe("signGiteeTimestamp", () => {
  it("matches Gitee's documented test vector", () => {
    expect(signGiteeTimestamp(SECRET, TIMESTAMP)).toBe(SIGNATURE);
  });
});

describe("verifyGiteeSignature", () => {
  it("accepts the raw signature", () => {
    expect(verifyGiteeSignature({ secret: SECRET, token: SIGNATURE, timestamp: TIMESTAMP, now: NOW })).toMatchObject({ ok: true, mode: "signature" });
  });

  it("accepts the URL-encoded signature", () => {
    const encoded = encodeURIComponent(SIGNATURE);
    expect(encoded).not.toBe(SIGNATURE);
    expect(verifyGiteeSignature({ secret: SECRET, token: encoded, timestamp: TIMESTAMP, now: NOW })).toMatchObject({ ok: true, mode: "signature" });
  });

  it("names the signed timestamp and the signature in one form, however the token was encoded", () => {
    const raw = verifyGiteeSignature({ secret: SECRET, token: SIGNATURE, timestamp: TIMESTAMP, now: NOW });
    const encoded = verifyGiteeSignature({ secret: SECRET, token: encodeURIComponent(SIGNATURE), timestamp: TIMESTAMP, now: NOW });
    expect(raw).toEqual({ ok: true, mode: "signature", timestamp: TIMESTAMP, signature: SIGNATURE });
    expect(encoded).toEqual(raw);
  });

  it("accepts password mode (token equals the secret) whatever the timestamp", () => {
    expect(verifyGiteeSignature({ secret: SECRET, token: SECRET, timestamp: undefined, now: NOW })).toEqual({ ok: true, mode: "password" });
    expect(verifyGiteeSignature({ secret: SECRET, token: SECRET, timestamp: "1", now: NOW })).toEqual({ ok: true, mode: "password" });
  });

  it("refuses a signature made with another secret", () => {
    const forged = signGiteeTimestamp("not-the-secret-at-all", TIMESTAMP);
    expect(verifyGiteeSignature({ secret: SECRET, token: forged, timestamp: TIMESTAMP, now: NOW })).toEqual({ ok: false, reason: "token mismatch" });
  });

  it("refuses a valid signature presented with a different timestamp", () => {
    const other = String(Number(TIMESTAMP) + 1);
    expect(verifyGiteeSignature({ secret: SECRET, token: SIGNATURE, timestamp: other, now: NOW })).toEqual({ ok: false, reason: "token mismatch" });
  });

  it("refuses timestamps more than one hour off, in both directions, and accepts the edge", () => {
    const ts = Number(TIMESTAMP);
    const at = (now: number) => verifyGiteeSignature({ secret: SECRET, token: SIGNATURE, timestamp: TIMESTAMP, now });
    expect(at(ts + GITEE_MAX_CLOCK_SKEW_MS)).toMatchObject({ ok: true, mode: "signature" });
    expect(at(ts + GITEE_MAX_CLOCK_SKEW_MS + 1)).toEqual({ ok: false, reason: "stale timestamp" });
    expect(at(ts - GITEE_MAX_CLOCK_SKEW_MS - 1)).toEqual({ ok: false, reason: "stale timestamp" });
  });

  it("refuses missing or malformed input without throwing", () => {
    expect(verifyGiteeSignature({ secret: SECRET, token: undefined, timestamp: TIMESTAMP, now: NOW })).toEqual({ ok: false, reason: "missing token" });
    expect(verifyGiteeSignature({ secret: SECRET, token: "  ", timestamp: TIMESTAMP, now: NOW })).toEqual({ ok: false, reason: "missing token" });
    expect(verifyGiteeSignature({ secret: SECRET, token: SIGNATURE, timestamp: undefined, now: NOW })).toEqual({ ok: false, reason: "missing timestamp" });
    expect(verifyGiteeSignature({ secret: SECRET, token: SIGNATURE, timestamp: "16336790839e3", now: NOW })).toEqual({ ok: false, reason: "invalid timestamp" });
    expect(verifyGiteeSignature({ secret: SECRET, token: "%E0%A4%A", timestamp: TIMESTAMP, now: NOW })).toEqual({ ok: false, reason: "token mismatch" });
    expect(verifyGiteeSignature({ secret: "", token: "", timestamp: TIMESTAMP, now: NOW })).toEqual({ ok: false, reason: "missing secret" });
  });

  it("refuses a prefix of the secret in password mode", () => {
    expect(verifyGiteeSignature({ secret: SECRET, token: SECRET.slice(0, -1), timestamp: undefined, now: NOW })).toEqual({ ok: false, reason: "missing timestamp" });
    expect(verifyGiteeSignature({ secret: SECRET, token: SECRET.slice(0, -1), timestamp: TIMESTAMP, now: NOW })).toEqual({ ok: false, reason: "token mismatch" });
  });
});
