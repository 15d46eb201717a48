import { describe, expect, it } from "vitest";
import { findCommand } from "../../src/commands/command-table.js";
import { parseComment, renderHelp } from "../../src/commands/parse-command.js";

describe("parseComment", () => {
  it.each([
    ["/deploy", "deploy"],
    ["  /test  ", "test"],
    ["/DELETE", "delete"],
    ["/status\nsome context below", "status"],
    ["\n\n/ok-to-test", "ok-to-test"],
    ["/help", "help"],
  ])("reads %j as /%s", (body, name) => {
    const parsed = parseComment(body);
    expect(parsed.type).toBe("command");
    if (parsed.type === "command") expect(parsed.command.name).toBe(name);
  });

  it.each(["LGTM", "please /deploy this", "> /deploy", "`/deploy`", "", "/", "http://example.com/deploy"])("ignores %j", (body) => {
    expect(parseComment(body)).toEqual({ type: "ignore" });
  });

  it("points an unknown command at /help", () => {
    expect(parseComment("/depoly")).toEqual({ type: "reply", text: "Unknown command `/depoly`. Comment `/help` to see what berth understands." });
  });

  it("refuses arguments", () => {
    expect(parseComment("/deploy now; rm -rf /")).toEqual({ type: "reply", text: "`/deploy` takes no arguments. Comment `/help` to see what berth understands." });
  });

  it("never throws on hostile input", () => {
    for (const body of ["/" + "a".repeat(20_000), "/\u0000", "/a`b", String.fromCharCode(0xd800), "/x".repeat(5000)]) {
      expect(() => parseComment(body)).not.toThrow();
    }
    expect(parseComment(undefined as unknown as string)).toEqual({ type: "ignore" });
  });
});

describe("renderHelp", () => {
  it("is generated from the command table", () => {
    expect(renderHelp()).toBe(
      [
        "**berth commands**",
        "",
        "| Command | What it does | Who |",
        "| --- | --- | --- |",
        "| `/deploy` | Build the head commit if needed, then deploy the preview and run the tests | write or higher |",
        "| `/test` | Run the tests again against the current preview | write or higher |",
        "| `/delete` | Tear the preview down | write or higher |",
        "| `/keep` | Keep the preview 7 more days before it expires | write or higher |",
        "| `/wake` | Start a preview that went to sleep for lack of visits | read or higher |",
        "| `/cancel` | Stop the PR's queued and running runs (the preview stays) | write or higher |",
        "| `/status` | Redraw the status comment | write or higher |",
        "| `/ok-to-test [sha]` | Approve building the head commit of a fork PR as it was when you commented (or the commit you name) | write or higher |",
        "| `/accept` | Accept the preview of the head commit (testers, PMs: see `acceptance.by`) | `acceptance.by` in berth.yml |",
        "| `/reject <reason>` | Reject the preview of the head commit, saying why | `acceptance.by` in berth.yml |",
        "| `/help` | Show this list | anyone |",
      ].join("\n"),
    );
  });
});

describe("command arguments", () => {
  it("takes a commit id after /ok-to-test and nothing else", () => {
    expect(parseComment("/ok-to-test 1a2B3c4")).toMatchObject({ type: "command", command: { name: "ok-to-test" }, argument: "1a2b3c4" });
    expect(parseComment("/ok-to-test")).toEqual({ type: "command", command: findCommand("ok-to-test") });
    expect(parseComment("/ok-to-test main")).toEqual({ type: "reply", text: "`/ok-to-test <sha>` takes a commit id (7 to 40 hex digits). Comment `/help` to see what berth understands." });
    expect(parseComment("/ok-to-test 123456")).toMatchObject({ type: "reply" });
    expect(parseComment("/deploy 1a2b3c4")).toEqual({ type: "reply", text: "`/deploy` takes no arguments. Comment `/help` to see what berth understands." });
  });

  it("keeps a rejection reason as written, and needs one", () => {
    expect(parseComment("/reject Login button DOES nothing on Safari\nmore details below")).toMatchObject({ type: "command", command: { name: "reject" }, argument: "Login button DOES nothing on Safari" });
    expect(parseComment("/reject")).toEqual({ type: "reply", text: "`/reject <reason>` needs a reason (up to 500 characters). Comment `/help` to see what berth understands." });
    expect(parseComment(`/reject ${"x".repeat(501)}`)).toMatchObject({ type: "reply" });
    expect(parseComment("/accept")).toEqual({ type: "command", command: findCommand("accept") });
    expect(parseComment("/accept looks good")).toMatchObject({ type: "reply", text: expect.stringContaining("takes no arguments") });
  });
});
