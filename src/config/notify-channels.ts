/**
 * Chat channels from the environment: `BERTH_NOTIFY_<NAME>=dingtalk|feishu|wecom|slack`, its
 * webhook `BERTH_NOTIFY_<NAME>_URL` and, for vendors that sign, `BERTH_NOTIFY_<NAME>_SECRET`. Only
 * the server defines channels (a repository names them, never their URL). Errors name the variable
 * and never echo a URL or a secret.
 */
import { notifyChannelName } from "../domain/repo-config.js";
import { CHAT_VENDORS, type ChatChannel, type ChatVendor } from "../notify/channel.js";

const PREFIX = "BERTH_NOTIFY_";

/** Vendors whose robots sign requests with a secret. */
const SIGNING: ReadonlySet<ChatVendor> = new Set(["dingtalk", "feishu"]);

/** Hosts a plain-http webhook may point at (local fakes, a relay beside berth); anything else must be https. */
const LOOPBACK: ReadonlySet<string> = new Set(["localhost", "127.0.0.1", "[::1]"]);

export type NotifyChannelsResult = { ok: true; channels: ChatChannel[] } | { ok: false; error: string };

function set(env: NodeJS.ProcessEnv, key: string): string | undefined {
  const value = env[key]?.trim();
  return value ? value : undefined;
}

/** The channels `env` defines, sorted by name; never throws. */
export function readNotifyChannels(env: NodeJS.ProcessEnv): NotifyChannelsResult {
  const keys = Object.keys(env).filter((key) => key.startsWith(PREFIX) && set(env, key) !== undefined);
  const names = keys.filter((key) => !key.endsWith("_URL") && !key.endsWith("_SECRET"));
  for (const key of keys) {
    if (names.includes(key)) continue;
    const base = key.replace(/_(URL|SECRET)$/, "");
    if (!names.includes(base)) return { ok: false, error: `${key}: set, but ${base} (the channel's vendor: ${CHAT_VENDORS.join(", ")}) is not` };
  }
  const channels: ChatChannel[] = [];
  for (const key of names.sort()) {
    const name = key.slice(PREFIX.length).toLowerCase();
    if (!notifyChannelName.safeParse(name).success) return { ok: false, error: `${key}: the channel name must be letters, digits and _ (at most 32), starting with a letter or digit` };
    const vendor = set(env, key)!.toLowerCase();
    if (!(CHAT_VENDORS as readonly string[]).includes(vendor)) return { ok: false, error: `${key}: must be one of ${CHAT_VENDORS.join(", ")}` };
    const url = set(env, `${key}_URL`);
    if (!url) return { ok: false, error: `${key}_URL: required (the robot's webhook URL) when ${key} is set` };
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      return { ok: false, error: `${key}_URL: not a URL` };
    }
    if (parsed.protocol !== "https:" && !(parsed.protocol === "http:" && LOOPBACK.has(parsed.hostname))) {
      return { ok: false, error: `${key}_URL: must be an https URL (plain http only to localhost)` };
    }
    if (parsed.username || parsed.password) return { ok: false, error: `${key}_URL: must not carry a user or password` };
    const secret = set(env, `${key}_SECRET`);
    if (secret && !SIGNING.has(vendor as ChatVendor)) return { ok: false, error: `${key}_SECRET: ${vendor} robots do not sign requests; the URL is the credential (remove the secret)` };
    channels.push({ name, vendor: vendor as ChatVendor, url, ...(secret ? { secret } : {}) });
  }
  return { ok: true, channels };
}
