/** Each chat vendor's format module, by name. */
import type { ChatVendor, ChatVendorFormat } from "./channel.js";
import { dingtalk } from "./dingtalk.js";
import { feishu } from "./feishu.js";
import { slack } from "./slack.js";
import { wecom } from "./wecom.js";

export const CHAT_FORMATS: Record<ChatVendor, ChatVendorFormat> = { dingtalk, feishu, wecom, slack };
