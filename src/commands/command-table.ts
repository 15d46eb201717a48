/**
 * The one table of slash commands. The parser and the `/help` reply are both generated from it.
 */
import type { Permission } from "../domain/types.js";

export type CommandName = "deploy" | "test" | "delete" | "status" | "help" | "ok-to-test" | "keep" | "cancel";

export interface CommandSpec {
  name: CommandName;
  /** What it does, one line, for `/help`. */
  summary: string;
  /** Least permission needed; "none" = anyone may run it. */
  permission: Permission;
  /** An optional argument the command takes (none when absent). */
  argument?: { name: string; pattern: RegExp; description: string };
}

export const COMMANDS: readonly CommandSpec[] = [
  { name: "deploy", summary: "Build the head commit if needed, then deploy the preview and run the tests", permission: "write" },
  { name: "test", summary: "Run the tests again against the current preview", permission: "write" },
  { name: "delete", summary: "Tear the preview down", permission: "write" },
  { name: "keep", summary: "Keep the preview 7 more days before it expires (Kubernetes)", permission: "write" },
  { name: "cancel", summary: "Stop the PR's queued and running runs (the preview stays)", permission: "write" },
  { name: "status", summary: "Redraw the status comment", permission: "write" },
  {
    name: "ok-to-test",
    summary: "Approve building the head commit of a fork PR as it was when you commented (or the commit you name)",
    permission: "write",
    argument: { name: "sha", pattern: /^[0-9a-f]{7,40}$/, description: "a commit id (7 to 40 hex digits)" },
  },
  { name: "help", summary: "Show this list", permission: "none" },
];

/** Look up a command by name. */
export function findCommand(name: string): CommandSpec | undefined {
  return COMMANDS.find((c) => c.name === name);
}
