/**
 * The `ChatSender` adapter: one POST of a vendor's request to the channel's webhook URL through the
 * shared HTTP transport, without retries of its own (the notification outbox retries, with backoff,
 * across restarts). Every failure is a result, never a throw, and no text it returns or logs
 * carries the URL, the key or token in it, or the signing secret.
 */
import type { Logger } from "pino";
import { HttpApiError, HttpTransport } from "../adapters/http-transport.js";
import { classifyError } from "../pipeline/transient-error.js";
import type { ChatChannel, ChatMessage, ChatSender, DeliveryResult } from "./channel.js";
import { CHAT_FORMATS } from "./vendors.js";

/** The parts of a channel URL that are secret: the whole URL, and its query values (DingTalk `access_token`, WeCom `key`) and path (Slack, Feishu hook ids). */
export function channelSecrets(channel: Pick<ChatChannel, "url" | "secret">): string[] {
  const secrets = [channel.url];
  if (channel.secret) secrets.push(channel.secret);
  try {
    const url = new URL(channel.url);
    for (const value of url.searchParams.values()) if (value.length >= 8) secrets.push(value);
    // Slack `/services/T…/B…/<token>`, Feishu `/open-apis/bot/v2/hook/<uuid>`: the last segment is the credential.
    const last = url.pathname.split("/").filter(Boolean).pop();
    if (last && last.length >= 8 && url.pathname !== "/") secrets.push(last);
  } catch {
    // Not a URL: settings refuse those; the whole text is still redacted.
  }
  return secrets;
}

export interface WebhookSenderOptions {
  log: Pick<Logger, "debug" | "warn">;
  /** Deadline of one POST (ms; default 10 000). */
  timeoutMs?: number;
  /** Signing time (tests). */
  now?: () => number;
}

export class WebhookChatSender implements ChatSender {
  private readonly transports = new Map<string, HttpTransport>();
  private readonly now: () => number;

  constructor(private readonly options: WebhookSenderOptions) {
    this.now = options.now ?? Date.now;
  }

  async send(channel: ChatChannel, message: ChatMessage, signal?: AbortSignal): Promise<DeliveryResult> {
    const format = CHAT_FORMATS[channel.vendor];
    const transport = this.transport(channel);
    const request = format.request(message, { ...(channel.secret ? { secret: channel.secret } : {}), now: this.now() });
    try {
      const answer = await transport.send({ method: "POST", path: "", body: request.body, ...(request.query ? { query: request.query } : {}), accept: "any", idempotent: false, ...(signal ? { signal } : {}) });
      const result = format.read(answer);
      return result.ok ? result : { ...result, summary: transport.redact(result.summary) };
    } catch (err) {
      if (signal?.aborted) return { ok: false, transient: true, summary: "berth is shutting down" };
      const error = classifyError(err);
      // The transport's message names the (empty) path; the status or network code says it all.
      const summary = transport.redact(err instanceof HttpApiError ? (err.status !== undefined ? `HTTP ${err.status}` : (err.code ?? err.message)) : error.summary);
      return { ok: false, transient: error.transient, summary };
    }
  }

  private transport(channel: ChatChannel): HttpTransport {
    const key = `${channel.name}\u0000${channel.url}`;
    let transport = this.transports.get(key);
    if (!transport) {
      transport = new HttpTransport({
        name: `notify:${channel.name}`,
        label: `${channel.vendor} channel ${channel.name}:`,
        baseUrl: channel.url,
        headers: { "User-Agent": "berth" },
        log: this.options.log,
        secrets: channelSecrets(channel),
        timeoutMs: this.options.timeoutMs ?? 10_000,
        retries: 0,
        backoffMs: 0,
        maxResponseBytes: 64 * 1024,
      });
      this.transports.set(key, transport);
    }
    return transport;
  }
}
