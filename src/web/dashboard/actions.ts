/**
 * Dashboard actions are slash commands: each button stands for one command of the command table
 * (`/delete`, `/keep`, `/deploy`, `/test`, `/cancel`), needs that command's permission, and is
 * carried out by queueing the same `pr-comment` event a comment would produce, written for the
 * signed-in user (`via: dashboard`), through `engine.accept`. The dispatcher then checks the
 * user's permission with the code host again, exactly as for a comment, and does what the command
 * does. Every request is written to the audit log with its result.
 */
import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import { z } from "zod";
import { findCommand, type CommandName } from "../../commands/command-table.js";
import { hasPermission } from "../../domain/permission.js";
import type { CodeHost } from "../../domain/ports.js";
import { prKeyOf, type PullRecord } from "../../domain/records.js";
import type { BotEvent, HostKind, Permission, RepoRef } from "../../domain/types.js";
import type { AuditEntry, Store } from "../../pipeline/store.js";
import { actorOf, type Session } from "../auth/session.js";

/** Buttons of the dashboard and the command each one is. */
export const DASHBOARD_ACTIONS = {
  delete: "delete",
  keep: "keep",
  redeploy: "deploy",
  retest: "test",
  cancel: "cancel",
} as const satisfies Record<string, CommandName>;

export type DashboardAction = keyof typeof DASHBOARD_ACTIONS;

export const actionRequestSchema = z.object({
  action: z.enum(Object.keys(DASHBOARD_ACTIONS) as [DashboardAction, ...DashboardAction[]]),
  repo: z.string().regex(/^(github|gitee):[^/\s]+\/[^/\s]+$/, "must be host:owner/name"),
  pr: z.coerce.number().int().min(1).max(1e9),
});

export type ActionRequest = z.infer<typeof actionRequestSchema>;

export interface ActionDeps {
  store: Store;
  codeHost: (repo: Pick<RepoRef, "host">) => CodeHost | undefined;
  accept: (event: BotEvent) => Promise<boolean>;
  /** Whether the session's user may read the repository (else the PR does not exist for them). */
  canRead: (session: Session, repo: RepoRef) => Promise<boolean>;
  log: Logger;
  now: () => number;
}

export interface ActionOutcome {
  status: number;
  result: AuditEntry["result"] | "not-found";
  message: string;
}

/** The login a dashboard command is written as. */
function authorOf(session: Session): string {
  return session.user.kind === "admin" ? "berth-dashboard-admin" : session.user.login;
}

/** Carry out one action for the signed-in user; never throws for user input. */
export async function performAction(request: ActionRequest, session: Session, deps: ActionDeps): Promise<ActionOutcome> {
  const command = findCommand(DASHBOARD_ACTIONS[request.action]);
  if (!command) throw new Error(`no command for dashboard action ${request.action}`);
  const [host, path] = [request.repo.slice(0, request.repo.indexOf(":")) as HostKind, request.repo.slice(request.repo.indexOf(":") + 1)];
  const [owner, name] = path.split("/") as [string, string];
  const prKey = prKeyOf({ host, owner, name }, request.pr);
  const pull: PullRecord | undefined = await deps.store.getPull(prKey);
  // A PR the user may not read answers as one that does not exist.
  if (!pull || !(await deps.canRead(session, pull.repo))) return { status: 404, result: "not-found", message: "No such pull request." };
  const target = `#${pull.prNumber}`;
  const audit = async (result: AuditEntry["result"], detail?: string): Promise<void> => {
    await deps.store.recordAudit({ at: deps.now(), actor: actorOf(session.user), repoKey: request.repo, action: command.name, target, result, ...(detail ? { detail } : {}) });
  };
  const codeHost = deps.codeHost(pull.repo);
  if (!codeHost) {
    await audit("failed", `code host ${pull.repo.host} is not configured`);
    return { status: 503, result: "failed", message: `berth is not configured for ${pull.repo.host}.` };
  }
  let permission: Permission;
  try {
    permission = session.user.kind === "admin" ? "admin" : session.user.host === pull.repo.host ? await codeHost.getPermission(pull.repo, session.user.login) : "none";
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    await audit("failed", `could not read the permission: ${why}`);
    return { status: 502, result: "failed", message: `The code host did not say your permission: ${why}` };
  }
  // Dashboard actions are the write commands; acceptance is given from the PR (its own rules).
  if (command.permission === "acceptance" || !hasPermission(permission, command.permission)) {
    const why = `/${command.name} needs ${command.permission} permission; ${authorOf(session)} has ${permission}`;
    await audit("refused", why);
    deps.log.info({ actor: actorOf(session.user), command: command.name, prKey, permission }, "dashboard action refused: permission");
    return { status: 403, result: "refused", message: `Refused: ${why}.` };
  }
  const event: BotEvent = {
    kind: "pr-comment",
    deliveryId: `dashboard-${randomUUID()}`,
    repo: pull.repo,
    prNumber: pull.prNumber,
    commentId: "",
    author: authorOf(session),
    body: `/${command.name}`,
    createdAt: deps.now(),
    via: { kind: "dashboard", admin: session.user.kind === "admin" },
  };
  try {
    await deps.accept(event);
  } catch (error) {
    const why = error instanceof Error ? error.message : String(error);
    await audit("failed", why);
    return { status: 500, result: "failed", message: `The command could not be queued: ${why}` };
  }
  await audit("accepted");
  deps.log.info({ actor: actorOf(session.user), command: command.name, prKey, deliveryId: event.deliveryId }, "dashboard action queued");
  return { status: 202, result: "accepted", message: `/${command.name} queued for ${pull.repo.owner}/${pull.repo.name} ${target}, as if ${authorOf(session)} had commented it.` };
}
