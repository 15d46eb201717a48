/**
 * Chat channels from the environment: every vendor, signing secrets only where the vendor signs,
 * and errors that name the variable without echoing a URL or a secret.
 */
import { describe, expect, it } from "vitest";
import { readNotifyChannels } from "../../src/config/notify-channels.js";
import { readSettings } from "../../src/config/settings.js";

const DING = "https://oapi.dingtalk.com/robot/send?access_token=0123456789abcdef";

describe("BERTH_NOTIFY_<NAME>", () => {
  it("reads each vendor's channel, lower-casing names, sorted", () => {
    const result = readNotifyChannels({
      BERTH_NOTIFY_TEAM: "slack",
      BERTH_NOTIFY_TEAM_URL: "https://hooks.slack.com/services/T000/B000/XXXXXXXX",
      BERTH_NOTIFY_OPS: "DingTalk",
      BERTH_NOTIFY_OPS_URL: DING,
      BERTH_NOTIFY_OPS_SECRET: "SECabc",
      BERTH_NOTIFY_LARK: "feishu",
      BERTH_NOTIFY_LARK_URL: "https://open.feishu.cn/open-apis/bot/v2/hook/8d1c2b6e",
      BERTH_NOTIFY_WORK_CHAT: "wecom",
      BERTH_NOTIFY_WORK_CHAT_URL: "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6",
      BERTH_OTHER: "x",
    });
    expect(result).toEqual({
      ok: true,
      channels: [
        { name: "lark", vendor: "feishu", url: "https://open.feishu.cn/open-apis/bot/v2/hook/8d1c2b6e" },
        { name: "ops", vendor: "dingtalk", url: DING, secret: "SECabc" },
        { name: "team", vendor: "slack", url: "https://hooks.slack.com/services/T000/B000/XXXXXXXX" },
        { name: "work_chat", vendor: "wecom", url: "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6" },
      ],
    });
    expect(readNotifyChannels({})).toEqual({ ok: true, channels: [] });
  });

  it("refuses what cannot work, naming the variable and never the URL or secret", () => {
    const cases: Array<[NodeJS.ProcessEnv, string]> = [
      [{ BERTH_NOTIFY_OPS: "teams", BERTH_NOTIFY_OPS_URL: DING }, "BERTH_NOTIFY_OPS: must be one of dingtalk, feishu, wecom, slack"],
      [{ BERTH_NOTIFY_OPS: "dingtalk" }, "BERTH_NOTIFY_OPS_URL: required (the robot's webhook URL) when BERTH_NOTIFY_OPS is set"],
      [{ BERTH_NOTIFY_OPS_URL: DING }, "BERTH_NOTIFY_OPS_URL: set, but BERTH_NOTIFY_OPS (the channel's vendor: dingtalk, feishu, wecom, slack) is not"],
      [{ BERTH_NOTIFY_OPS: "dingtalk", BERTH_NOTIFY_OPS_URL: "http://oapi.dingtalk.com/robot/send?access_token=0123456789abcdef" }, "BERTH_NOTIFY_OPS_URL: must be an https URL (plain http only to localhost)"],
      [{ BERTH_NOTIFY_OPS: "dingtalk", BERTH_NOTIFY_OPS_URL: "not a url SECRET-TOKEN" }, "BERTH_NOTIFY_OPS_URL: not a URL"],
      [{ BERTH_NOTIFY_TEAM: "slack", BERTH_NOTIFY_TEAM_URL: "https://hooks.slack.com/services/T/B/X", BERTH_NOTIFY_TEAM_SECRET: "SECRET-TOKEN" }, "BERTH_NOTIFY_TEAM_SECRET: slack robots do not sign requests; the URL is the credential (remove the secret)"],
    ];
    for (const [env, error] of cases) {
      const result = readNotifyChannels(env);
      expect(result).toEqual({ ok: false, error });
      expect(JSON.stringify(result)).not.toMatch(/0123456789abcdef|SECRET-TOKEN/);
    }
    expect(readNotifyChannels({ BERTH_NOTIFY_LOCAL: "slack", BERTH_NOTIFY_LOCAL_URL: "http://127.0.0.1:9000/services/T/B/X" })).toMatchObject({ ok: true });
  });

  it("is part of the server settings", () => {
    const result = readSettings({ BERTH_NOTIFY_OPS: "wecom", BERTH_NOTIFY_OPS_URL: "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k" });
    expect(result.ok && result.settings.notifyChannels).toEqual([{ name: "ops", vendor: "wecom", url: "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=k" }]);
    expect(readSettings({ BERTH_NOTIFY_OPS: "wecom" })).toEqual({ ok: false, error: "BERTH_NOTIFY_OPS_URL: required (the robot's webhook URL) when BERTH_NOTIFY_OPS is set" });
  });
});

describe("channel secrets", () => {
  it("redact the URL and the token or key inside it, as main.ts's redactor is built", async () => {
    const { channelSecrets } = await import("../../src/notify/webhook-sender.js");
    const { createRedactor } = await import("../../src/domain/redact.js");
    const redact = createRedactor([
      ...channelSecrets({ url: DING, secret: "SECsigning" }),
      ...channelSecrets({ url: "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7xxx-4bbb" }),
      ...channelSecrets({ url: "https://hooks.slack.com/services/T000/B000/XXXXXXXXslack" }),
      ...channelSecrets({ url: "https://open.feishu.cn/open-apis/bot/v2/hook/8d1c2b6e-hook" }),
    ]);
    const text = redact(`${DING}&sign=x token=0123456789abcdef secret SECsigning key=693a91f6-7xxx-4bbb slack XXXXXXXXslack hook 8d1c2b6e-hook`);
    expect(text).not.toMatch(/0123456789abcdef|SECsigning|693a91f6-7xxx-4bbb|XXXXXXXXslack|8d1c2b6e-hook/);
  });
});
