/**
 * Private previews: signed links and sign-in grants are bound to one preview and expire; either
 * becomes a host-only session cookie with the right attributes; anything forged, stale or for
 * another preview is refused; a visitor without any is sent to sign in (or refused when berth has
 * no sign-in).
 */
import { describe, expect, it } from "vitest";
import { GRANT_PATH, LINK_PARAM, PreviewAccess, SESSION_COOKIE } from "../../src/gateway/preview-access.js";

const LABEL = "acme-shop-1a2b3c4d-pr-12";
const HOST = `${LABEL}.preview.example.com`;
let clock = 1_800_000_000_000;
const access = new PreviewAccess({ secret: "k".repeat(32), scheme: "https", signInBaseUrl: "https://berth.example.com", now: () => clock });

function cookieOf(setCookie: string | undefined): Record<string, string> {
  const [pair] = (setCookie ?? "").split(";");
  const [name, value] = pair!.split("=");
  return { [name!]: value! };
}

describe("signed links", () => {
  it("let the holder in: the link becomes a Secure, HttpOnly, SameSite=Lax cookie of the preview host, and the parameter leaves the URL", () => {
    const link = new URL(access.signedLink(`https://${HOST}/cart?x=1`, LABEL, clock + 7 * 86_400_000));
    const decision = access.decide({ host: HOST, pathAndQuery: `${link.pathname}${link.search}`, cookies: {} }, LABEL);
    expect(decision.kind).toBe("redirect");
    if (decision.kind !== "redirect") return;
    expect(decision.location).toBe("/cart?x=1");
    expect(decision.setCookie).toMatch(new RegExp(`^${SESSION_COOKIE}=[^;]+; Path=/; Max-Age=900; HttpOnly; SameSite=Lax; Secure$`));
    expect(decision.setCookie).not.toContain("Domain=");
    expect(access.decide({ host: HOST, pathAndQuery: "/cart", cookies: cookieOf(decision.setCookie) }, LABEL)).toEqual({ kind: "allow" });
  });

  it("refuse a link of another preview, a changed one and an expired one", () => {
    const link = new URL(access.signedLink(`https://${HOST}/`, LABEL, clock + 60_000));
    const token = link.searchParams.get(LINK_PARAM)!;
    expect(access.decide({ host: HOST, pathAndQuery: `/?${LINK_PARAM}=${token}`, cookies: {} }, "acme-shop-1a2b3c4d-pr-13").kind).toBe("deny");
    const [body, signature] = token.split(".");
    const forged = `${Buffer.from(JSON.stringify({ k: "link", l: LABEL, e: 9_999_999_999 })).toString("base64url")}.${signature}`;
    expect(access.decide({ host: HOST, pathAndQuery: `/?${LINK_PARAM}=${forged}`, cookies: {} }, LABEL).kind).toBe("deny");
    expect(access.decide({ host: HOST, pathAndQuery: `/?${LINK_PARAM}=${body}.${"A".repeat(43)}`, cookies: {} }, LABEL).kind).toBe("deny");
    clock += 61_000;
    expect(access.decide({ host: HOST, pathAndQuery: `/?${LINK_PARAM}=${token}`, cookies: {} }, LABEL)).toMatchObject({ kind: "deny", reason: expect.stringContaining("expired") });
  });

  it("a link token is not a session, and a session of one preview opens no other", () => {
    const token = new URL(access.signedLink(`https://${HOST}/`, LABEL, clock + 60_000)).searchParams.get(LINK_PARAM)!;
    expect(access.decide({ host: HOST, pathAndQuery: "/", cookies: { [SESSION_COOKIE]: token } }, LABEL).kind).toBe("redirect");
    const ok = access.decide({ host: HOST, pathAndQuery: `/?${LINK_PARAM}=${token}`, cookies: {} }, LABEL);
    const cookie = cookieOf(ok.kind === "redirect" ? ok.setCookie : undefined);
    expect(access.decide({ host: HOST, pathAndQuery: "/", cookies: cookie }, "other-pr-1").kind).toBe("redirect");
  });
});

describe("sign-in", () => {
  it("sends a visitor without a session to berth's sign-in with where to come back", () => {
    const decision = access.decide({ host: HOST, pathAndQuery: "/orders/7?tab=2", cookies: {} }, LABEL);
    expect(decision).toEqual({ kind: "redirect", location: `https://berth.example.com/auth/preview?host=${encodeURIComponent(HOST)}&return=%2Forders%2F7%3Ftab%3D2` });
  });

  it("trades berth's one-minute grant for a session and returns only to a path of the same host", () => {
    const grant = access.grant(LABEL, "tess");
    const decision = access.decide({ host: HOST, pathAndQuery: `${GRANT_PATH}?grant=${grant}&return=/orders/7`, cookies: {} }, LABEL);
    expect(decision).toMatchObject({ kind: "redirect", location: "/orders/7" });
    const evil = access.decide({ host: HOST, pathAndQuery: `${GRANT_PATH}?grant=${access.grant(LABEL, "tess")}&return=//evil.example.com/`, cookies: {} }, LABEL);
    expect(evil).toMatchObject({ kind: "redirect", location: "/" });
    clock += 61_000;
    expect(access.decide({ host: HOST, pathAndQuery: `${GRANT_PATH}?grant=${grant}`, cookies: {} }, LABEL).kind).toBe("deny");
  });

  it("without sign-in configured, only signed links let people in", () => {
    const linksOnly = new PreviewAccess({ secret: "k".repeat(32), scheme: "http" });
    expect(linksOnly.decide({ host: HOST, pathAndQuery: "/", cookies: {} }, LABEL)).toEqual({ kind: "deny", reason: "this preview is private: open it with the signed link in the PR's status comment" });
  });
});
