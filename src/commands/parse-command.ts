/**
 * Pure slash-command parser: a comment body becomes a command, a reply to post, or nothing.
 * It never throws on user input.
 */
import { COMMANDS, findCommand, type CommandSpec } from "./command-table.js";

export type ParsedComment =
  | { type: "command"; command: CommandSpec; argument?: string }
  | { type: "reply"; text: string }
  | { type: "ignore" };

/** Longest comment body inspected; longer text is not a command. */
const MAX_BODY = 10_000;

/**
 * Only the first non-empty line counts, and it must start with `/word`. Quoted replies (`> /deploy`)
 * and code blocks are ignored, so quoting a command does not run it.
 */
export function parseComment(body: string): ParsedComment {
  if (typeof body !== "string" || body.length > MAX_BODY) return { type: "ignore" };
  const firstLine = body.split(/\r?\n/).find((line) => line.trim() !== "")?.trim() ?? "";
  const match = /^\/([a-z][a-z0-9-]*)(?:\s+(.*))?$/i.exec(firstLine);
  if (!match?.[1]) return { type: "ignore" };
  const name = match[1].toLowerCase();
  const rest = match[2]?.trim() ?? "";
  const command = findCommand(name);
  if (!command) {
    return { type: "reply", text: `Unknown command \`/${truncate(name, 40)}\`. Comment \`/help\` to see what berth understands.` };
  }
  const spec = command.argument;
  if (rest === "" && spec?.required) {
    return { type: "reply", text: `\`/${command.name} <${spec.name}>\` needs ${spec.description}. Comment \`/help\` to see what berth understands.` };
  }
  if (rest !== "") {
    if (!spec) return { type: "reply", text: `\`/${command.name}\` takes no arguments. Comment \`/help\` to see what berth understands.` };
    const argument = spec.text ? rest : rest.toLowerCase();
    if (!spec.pattern.test(argument)) {
      return { type: "reply", text: `\`/${command.name} <${spec.name}>\` takes ${spec.description}. Comment \`/help\` to see what berth understands.` };
    }
    return { type: "command", command, argument };
  }
  return { type: "command", command };
}

/** The `/help` reply: a table generated from the command table. */
export function renderHelp(): string {
  const who = (c: (typeof COMMANDS)[number]) => (c.permission === "none" ? "anyone" : c.permission === "acceptance" ? "`acceptance.by` in berth.yml" : `${c.permission} or higher`);
  const usage = (c: (typeof COMMANDS)[number]) => (c.argument ? (c.argument.required ? ` <${c.argument.name}>` : ` [${c.argument.name}]`) : "");
  const rows = COMMANDS.map((c) => `| \`/${c.name}${usage(c)}\` | ${c.summary} | ${who(c)} |`);
  return ["**berth commands**", "", "| Command | What it does | Who |", "| --- | --- | --- |", ...rows].join("\n");
}

function truncate(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}
