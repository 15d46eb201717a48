import { describe, expect, it } from "vitest";
import { createRedactor, safeCut } from "../../src/domain/redact.js";

const b64 = (text: string) => Buffer.from(text).toString("base64");
const b64url = (text: string) => Buffer.from(text).toString("base64url");

describe("createRedactor", () => {
  it("removes the secret, its URL-encoded forms and URL credentials", () => {
    const redact = createRedactor(["p@ss w/rd!", undefined, "abc"]);
    expect(redact("a p@ss w/rd! b")).toBe("a *** b");
    expect(redact("x=p%40ss%20w%2Frd!")).toBe("x=***");
    expect(redact("x=p%40ss+w%2Frd%21")).toBe("x=***");
    expect(redact("x=p%40ss%20w%2frd!")).toBe("x=***");
    expect(redact("abc stays, too short")).toBe("abc stays, too short");
    expect(redact("https://bob:other@example.com/x")).toBe("https://***@example.com/x");
  });

  it("removes standard, URL-safe and unpadded base64 of a secret", () => {
    const secret = "s3cr3t?>>~~token";
    const redact = createRedactor([secret]);
    expect(b64(secret)).not.toBe(b64url(secret));
    expect(redact(`std ${b64(secret)}`)).toBe("std ***");
    expect(redact(`url ${b64url(secret)}`)).toBe("url ***");
    expect(redact(`bare ${b64(secret).replace(/=+$/, "")} end`)).toBe("bare *** end");
  });

  it("removes the base64 of a username:password pair (Basic auth, Docker auth field)", () => {
    const redact = createRedactor([{ username: "robot$berth", password: "Harbor12345" }]);
    const auth = b64("robot$berth:Harbor12345");
    expect(redact(`Authorization: Basic ${auth}`)).toBe("Authorization: Basic ***");
    expect(redact(`{"auths":{"reg":{"auth":"${auth}"}}}`)).toBe('{"auths":{"reg":{"auth":"***"}}}');
    expect(redact(`u=${encodeURIComponent("robot$berth:Harbor12345")}`)).toBe("u=***");
    expect(redact("password Harbor12345")).toBe("password ***");
  });

  it("finds a secret inside a longer base64 text whatever its offset, without knowing the user name", () => {
    const secret = "correct-horse-battery";
    const redact = createRedactor([secret]);
    for (const user of ["a", "ab", "abc", "someone"]) {
      const encoded = b64(`${user}:${secret}`);
      const out = redact(`auth ${encoded}`);
      expect(out).toContain("***");
      // What is left around the mark cannot decode to more than two characters of the secret.
      const left = out.replace("auth ", "").split("***").join("");
      expect(left.length).toBeLessThanOrEqual(encoded.length - 24);
    }
  });

  it("removes JSON-escaped forms and each line of a multi-line secret", () => {
    const key = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nBKcwggSjAgEAAoIBAQC7\n-----END PRIVATE KEY-----";
    const redact = createRedactor([key, 'a"quoted\\secret']);
    expect(redact(`line: MIIEvQIBADANBgkqhkiG9w0BAQEFAASC`)).toBe("line: ***");
    expect(redact(JSON.stringify({ k: 'a"quoted\\secret' }))).toBe('{"k":"***"}');
  });

  it("says how long its longest form is, for streams", () => {
    const redact = createRedactor(["abcdefgh"]);
    expect(redact.longest).toBeGreaterThanOrEqual(b64("abcdefgh").length);
    // Cutting keeps back enough that a secret's start is never handed on alone.
    const text = "x".repeat(50) + "abcdefg";
    expect(text.slice(0, safeCut(text, redact))).not.toContain("a");
  });
});
