/**
 * The one table of slash commands. The parser and the `/help` reply are both generated from it.
 */
import type { Permission } from "../domain/types.js";

export type CommandName = "deploy" | "test" | "delete" | "status" | "help" | "ok-to-test" | "keep" | "wake" | "cancel" | "accept" | "reject";

export interface CommandSpec {
  name: CommandName;
  /** What it does, one line, for `/help`. */
  summary: string;
  /**
   * Least permission needed; "none" = anyone may run it. `acceptance`: whoever the repository's
   * `acceptance.by` names (checked by the dispatcher against the config).
   */
  permission: Permission | "acceptance";
  /**
   * An argument the command takes (none when absent). `text`: free text, kept as written (case
   * too), the rest of the command's line; otherwise one lower-cased word matching `pattern`.
   */
  argument?: { name: string; pattern: RegExp; description: string; text?: true; required?: true };
}

export const COMMANDS: readonly CommandSpec[] = [
  { name: "deploy", summary: "Build the head commit if needed, then deploy the preview and run the tests", permission: "write" },
  { name: "test", summary: "Run the tests again against the current preview", permission: "write" },
  { name: "delete", summary: "Tear the preview down", permission: "write" },
  { name: "keep", summary: "Keep the preview 7 more days before it expires", permission: "write" },
  { name: "wake", summary: "Start a preview that went to sleep for lack of visits", permission: "read" },
  { name: "cancel", summary: "Stop the PR's queued and running runs (the preview stays)", permission: "write" },
  { name: "status", summary: "Redraw the status comment", permission: "write" },
  {
    name: "ok-to-test",
    summary: "Approve building the head commit of a fork PR as it was when you commented (or the commit you name)",
    permission: "write",
    argument: { name: "sha", pattern: /^[0-9a-f]{7,40}$/, description: "a commit id (7 to 40 hex digits)" },
  },
  { name: "accept", summary: "Accept the preview of the head commit (testers, PMs: see `acceptance.by`)", permission: "acceptance" },
  {
    name: "reject",
    summary: "Reject the preview of the head commit, saying why",
    permission: "acceptance",
    argument: { name: "reason", pattern: /^\S[\s\S]{0,499}$/, description: "a reason (up to 500 characters)", text: true, required: true },
  },
  { name: "help", summary: "Show this list", permission: "none" },
];

/** Look up a command by name. */
export function findCommand(name: string): CommandSpec | undefined {
  return COMMANDS.find((c) => c.name === name);
}
