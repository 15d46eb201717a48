/**
 * The one table of slash commands. The parser and the `/help` reply are both generated from it.
 */
import type { Permission } from "../domain/types.js";

export type CommandName = "deploy" | "test" | "delete" | "status" | "help" | "ok-to-test" | "keep";

export interface CommandSpec {
  name: CommandName;
  /** What it does, one line, for `/help`. */
  summary: string;
  /** Least permission needed; "none" = anyone may run it. */
  permission: Permission;
}

export const COMMANDS: readonly CommandSpec[] = [
  { name: "deploy", summary: "Build the head commit if needed, then deploy the preview and run the tests", permission: "write" },
  { name: "test", summary: "Run the tests again against the current preview", permission: "write" },
  { name: "delete", summary: "Tear the preview down", permission: "write" },
  { name: "keep", summary: "Keep the preview 7 more days before it expires (Kubernetes)", permission: "write" },
  { name: "status", summary: "Redraw the status comment", permission: "write" },
  { name: "ok-to-test", summary: "Approve building this exact head commit of a fork PR", permission: "write" },
  { name: "help", summary: "Show this list", permission: "none" },
];

/** Look up a command by name. */
export function findCommand(name: string): CommandSpec | undefined {
  return COMMANDS.find((c) => c.name === name);
}
