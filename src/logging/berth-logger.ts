/**
 * berth's root logger. Probot's convention: JSON lines with `LOG_FORMAT=json`; readable lines
 * (pino-pretty) with `LOG_FORMAT=pretty`, and by default when stdout is a terminal; JSON otherwise
 * (a container, a log shipper). Secrets in request headers and credential fields are censored, and
 * lines written while a run executes carry its `runId`, `prKey` and `stage` (`run-log-context.ts`).
 */
import { pino, type DestinationStream, type Logger } from "pino";
import pinoPretty from "pino-pretty";
import { runLogMixin } from "./run-log-context.js";

/** Fields censored wherever they appear one level down, and the headers Probot's HTTP log prints. */
export const REDACT_PATHS = ["*.password", "*.token", "*.access_token", 'req.headers["x-gitee-token"]', "req.headers.authorization", "req.headers.cookie"];

export interface BerthLoggerOptions {
  level?: string;
  /** `json` or `pretty`; default: pretty when `destination` is a terminal. */
  format?: "json" | "pretty";
  /** Where lines go (default stdout). */
  destination?: DestinationStream & { isTTY?: boolean };
}

/** The logger every berth component's logger is a child of. */
export function createBerthLogger(options: BerthLoggerOptions = {}): Logger {
  const destination = options.destination ?? process.stdout;
  const format = options.format ?? (destination.isTTY ? "pretty" : "json");
  const stream = format === "pretty" ? pinoPretty({ destination, colorize: destination.isTTY === true, translateTime: "SYS:HH:MM:ss.l", ignore: "pid,hostname", sync: true }) : destination;
  return pino(
    {
      level: options.level ?? "info",
      // Probot's HTTP log prints request headers: Gitee's password-mode token is the webhook secret.
      redact: { paths: REDACT_PATHS, censor: "***" },
      mixin: runLogMixin,
    },
    stream,
  );
}
