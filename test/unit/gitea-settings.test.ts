import { describe, expect, it } from "vitest";
import { readGiteaServers } from "../../src/config/gitea-servers.js";
import { readSettings } from "../../src/config/settings.js";
import { hostDisplayName, isHostKind } from "../../src/domain/host-kind.js";
import { parsePreviewKey } from "../../src/domain/preview-key.js";

const MAIN = { BERTH_GITEA_MAIN_URL: "https://git.example.com/", BERTH_GITEA_MAIN_TOKEN: "tok-1", BERTH_GITEA_MAIN_SECRET: "sec-1" };

describe("BERTH_GITEA_<NAME>_* settings", () => {
  it("reads several servers, each a host gitea-<name>, with defaults", () => {
    const result = readGiteaServers({
      ...MAIN,
      BERTH_GITEA_CB_URL: "https://codeberg.example.org/forge",
      BERTH_GITEA_CB_TOKEN: " tok-2 ",
      BERTH_GITEA_CB_SECRET: "sec-2",
      BERTH_GITEA_CB_FLAVOR: "Forgejo",
      BERTH_GITEA_CB_BOT_LOGIN: "berth",
      UNRELATED: "x",
    });
    expect(result).toEqual({
      ok: true,
      value: [
        { name: "cb", host: "gitea-cb", url: "https://codeberg.example.org/forge", apiUrl: "https://codeberg.example.org/forge/api/v1", token: "tok-2", secret: "sec-2", botLogin: "berth", flavor: "forgejo" },
        { name: "main", host: "gitea-main", url: "https://git.example.com", apiUrl: "https://git.example.com/api/v1", token: "tok-1", secret: "sec-1", flavor: "gitea" },
      ],
    });
    expect(readGiteaServers({})).toEqual({ ok: true, value: [] });
  });

  it("names the variable in every error", () => {
    expect(readGiteaServers({ BERTH_GITEA_MAIN_URL: "https://git.example.com", BERTH_GITEA_MAIN_TOKEN: "t" })).toEqual({
      ok: false,
      error: "BERTH_GITEA_MAIN_SECRET: required when any BERTH_GITEA_MAIN_* is set",
    });
    expect(readGiteaServers({ ...MAIN, BERTH_GITEA_MAIN_URL: "ftp://git.example.com" })).toEqual({ ok: false, error: "BERTH_GITEA_MAIN_URL: must be an http(s) URL, e.g. https://git.example.com" });
    expect(readGiteaServers({ ...MAIN, BERTH_GITEA_MAIN_URL: "https://git.example.com/?x=1" })).toEqual({ ok: false, error: "BERTH_GITEA_MAIN_URL: must be the web base URL without query, fragment or credentials" });
    expect(readGiteaServers({ ...MAIN, BERTH_GITEA_MAIN_FLAVOR: "github" })).toEqual({ ok: false, error: "BERTH_GITEA_MAIN_FLAVOR: must be gitea, forgejo or gogs" });
    expect(readGiteaServers({ ...MAIN, BERTH_GITEA_MY_SERVER_URL: "https://x.example.com" })).toMatchObject({ ok: false, error: expect.stringMatching(/^BERTH_GITEA_MY_SERVER_URL: not a Gitea setting/) });
    expect(readGiteaServers({ ...MAIN, BERTH_GITEA_TWO_URL: "https://GIT.example.com", BERTH_GITEA_TWO_TOKEN: "t", BERTH_GITEA_TWO_SECRET: "s" })).toEqual({
      ok: false,
      error: "BERTH_GITEA_TWO_URL: same URL as BERTH_GITEA_MAIN_URL",
    });
  });

  it("is part of the server settings, and an error there stops berth", () => {
    const ok = readSettings({ ...MAIN });
    expect(ok.ok && ok.settings.giteaServers.map((s) => s.host)).toEqual(["gitea-main"]);
    expect(readSettings({ BERTH_GITEA_MAIN_URL: "nope" })).toMatchObject({ ok: false, error: expect.stringContaining("BERTH_GITEA_MAIN_") });
  });
});

describe("Gitea host ids", () => {
  it("are validated, never guessed, in preview keys read back from labels", () => {
    expect(parsePreviewKey({ host: "gitea-main", repo: "acme/shop", pr: "3" })).toEqual({ ok: true, key: { host: "gitea-main", owner: "acme", name: "shop", pr: 3 } });
    for (const host of ["gitea-", "gitea-Main", "gitea-a_b", "gitea", "gitlab", `gitea-${"x".repeat(21)}`]) {
      expect(parsePreviewKey({ host, repo: "acme/shop", pr: "3" })).toEqual({ ok: false, reason: "unknown host" });
    }
    expect(parsePreviewKey({ host: "github", repo: "acme/shop", pr: "3" }).ok).toBe(true);
    expect(parsePreviewKey({ host: "gitee", repo: "acme/shop", pr: "3" }).ok).toBe(true);
    expect([isHostKind("gitea-cb"), isHostKind(undefined), isHostKind("gitea-cb2 ")]).toEqual([true, false, false]);
    expect([hostDisplayName("github"), hostDisplayName("gitee"), hostDisplayName("gitea-main")]).toEqual(["GitHub", "Gitee", "Gitea"]);
  });
});
