/**
 * Turns one recorded event into work: reads the repo config from the default branch, checks
 * permissions and fork approvals, queues runs, posts replies. Runs from the inbox, never on the
 * webhook's hot path.
 */
import type { Logger } from "pino";
import { parseComment, renderHelp } from "../commands/parse-command.js";
import type { CommandSpec } from "../commands/command-table.js";
import type { RepoConfig } from "../config/repo-config.js";
import type { CodeHost, CommitStatus, PreviewTarget } from "../domain/ports.js";
import { acceptanceStatus, MAX_REASON, mayAccept, type AcceptanceRecord } from "../domain/acceptance.js";
import { sha7 } from "../domain/naming.js";
import { decideApproval } from "../domain/approval.js";
import { previewKeyOf, repoPathOf } from "../domain/preview-key.js";
import { hasPermission } from "../domain/permission.js";
import type { BotEvent, Permission, PullRef, RunStageName, StageName } from "../domain/types.js";
import type { CommentPublisher } from "./comment-publisher.js";
import type { ConfigLookup } from "./config-loader.js";
import { environmentKeyOf, prKeyOf, type Notice, type PrKey, type PullRecord, type ReleaseSpec, type RunKind, type RunRecord } from "../domain/records.js";
import { matchTagRule, requiredPermission } from "../domain/tag-rules.js";
import { environmentPreview } from "../stages/release-stages.js";
import type { HostRouter } from "./host-router.js";
import type { Scheduler } from "./scheduler.js";
import type { Store } from "./store.js";

export interface DispatcherDeps {
  store: Store;
  /** The code hosts, each call racing the event's deadline. */
  hosts: HostRouter;
  scheduler: Scheduler;
  publisher: CommentPublisher;
  loadConfig: (host: CodeHost, pr: Pick<PullRef, "repo">) => Promise<ConfigLookup>;
  /** Preview targets this server can drive. */
  enabledTargets: ReadonlyArray<RepoConfig["preview"]["target"]>;
  targets: Partial<Record<RepoConfig["preview"]["target"], PreviewTarget>>;
  /** Start waking a PR's sleeping preview in the background (`/wake`); a failure shows on its comment. */
  wake: (prKey: PrKey, why: string) => void;
  /** Queue a commit status (or Gitee label) in the outbox; returns once it is recorded. */
  reportStatus: (repo: PullRef["repo"], sha: string, prNumber: number, status: CommitStatus) => Promise<void>;
  log: Logger;
  now: () => number;
  newId: () => string;
}

/** How far `/keep` pushes a preview's expiry. */
const KEEP_MS = 7 * 24 * 3_600_000;

/** Process one event. Throws only for host errors (the caller logs them). */
export async function dispatchEvent(received: BotEvent, deps: DispatcherDeps): Promise<void> {
  const repo = received.kind === "pr-comment" || received.kind === "tag-pushed" ? received.repo : received.pr.repo;
  const host = deps.hosts.find(repo);
  if (!host) {
    deps.log.warn({ host: repo.host }, "event from a code host that is not configured; ignored");
    return;
  }
  // Hosts whose webhooks do not sign the body re-read author, text, head and fork flag here; a
  // dashboard command was written by berth itself for a signed-in user (no comment to re-read).
  const event = received.kind === "pr-comment" && received.via?.kind === "dashboard" ? received : await host.confirmEvent(received);
  if (!event) {
    deps.log.warn({ deliveryId: received.deliveryId, kind: received.kind, host: repo.host }, "event not confirmed by the code host's API; ignored");
    return;
  }
  switch (event.kind) {
    case "pr-updated":
      return onPullUpdated(event.pr, event.action, host, deps);
    case "pr-closed":
      return onPullClosed(event.pr, event.merged, deps);
    case "pr-comment":
      return onComment(event, host, deps);
    case "tag-pushed":
      return onTagPushed(event, host, deps);
  }
}

/**
 * A pushed tag that matches a rule: build (or promote) its commit and deploy it to the rule's
 * environment when the pusher has the environment's permission; otherwise build only and say why.
 */
async function onTagPushed(event: Extract<BotEvent, { kind: "tag-pushed" }>, host: CodeHost, deps: DispatcherDeps): Promise<void> {
  const lookup = await deps.loadConfig(host, event);
  if (lookup.kind === "missing") return;
  if (lookup.kind === "invalid") {
    deps.log.warn({ repo: repoPathOf(event.repo), tag: event.tag, error: lookup.error }, "tag ignored: the repo config is invalid");
    return;
  }
  const config = lookup.config;
  const rule = matchTagRule(config.tags, event.tag);
  if (!rule) {
    deps.log.info({ repo: repoPathOf(event.repo), tag: event.tag }, "tag matches no rule; ignored");
    return;
  }
  const environment = rule.environment;
  const envConfig = config.environments[environment];
  const required = requiredPermission(environment, envConfig);
  const permission: Permission = event.pusher ? await host.getPermission(event.repo, event.pusher) : "none";
  const target = environmentPreview(config.preview, envConfig).target;
  let refusal: string | undefined;
  if (!hasPermission(permission, required)) {
    refusal = `built, not deployed: ${event.pusher || "the pusher"} has ${permission} permission, ${environment} needs ${required}`;
  } else if (!deps.enabledTargets.includes(target)) {
    refusal = `built, not deployed: target '${target}' of ${environment} is not enabled on this berth server`;
  }
  const release: ReleaseSpec = { tag: event.tag, environment };
  if (refusal) release.refusal = refusal;
  const run: RunRecord = {
    id: deps.newId(),
    prKey: environmentKeyOf(event.repo, environment),
    repo: event.repo,
    prNumber: 0,
    sha: event.sha,
    kind: "release",
    plan: refusal ? ["build"] : ["build", "deploy"],
    trigger: `tag ${event.tag}`,
    status: "queued",
    config,
    reuseImage: true,
    release,
    attempts: 0,
    createdAt: deps.now(),
  };
  await deps.store.insertRun(run);
  await deps.scheduler.stopActive(run.prKey, { kind: "superseded", text: `superseded by tag ${event.tag}` }, run.id);
  deps.scheduler.kick();
  deps.log.info({ runId: run.id, tag: event.tag, environment, deploy: !refusal }, "release queued");
}

/** Save what the host says of a PR, keeping what berth knows (comment id, preview, approval). */
async function upsertPull(pr: PullRef, deps: DispatcherDeps): Promise<PullRecord> {
  const prKey = prKeyOf(pr.repo, pr.number);
  const existing = await deps.store.getPull(prKey);
  const next: PullRecord = {
    ...existing,
    prKey,
    repo: pr.repo,
    prNumber: pr.number,
    headSha: pr.headSha,
    headSeenAt: existing?.headSha === pr.headSha ? existing.headSeenAt : deps.now(),
    state: pr.state,
    fromFork: pr.fromFork,
    url: pr.url,
    headRef: pr.headRef,
  };
  if (pr.title) next.title = pr.title;
  await deps.store.savePull(next);
  return next;
}

async function setNotice(pull: PullRecord, notice: Notice | undefined, deps: DispatcherDeps): Promise<void> {
  await deps.store.patchPull(pull.prKey, (p) => ({ ...p, notice }));
}

/** Queue a run; it supersedes (or, for deletes, cancels) the PR's older queued and running runs. */
async function queueRun(pull: PullRecord, kind: RunKind, plan: RunStageName[], trigger: string, config: RepoConfig | undefined, deps: DispatcherDeps): Promise<RunRecord> {
  const run: RunRecord = {
    id: deps.newId(),
    prKey: pull.prKey,
    repo: pull.repo,
    prNumber: pull.prNumber,
    sha: pull.headSha,
    kind,
    plan,
    trigger,
    status: "queued",
    reuseImage: trigger === "/deploy",
    attempts: 0,
    createdAt: deps.now(),
  };
  if (config) run.config = config;
  await deps.store.insertRun(run);
  const reason = kind === "delete"
    ? { kind: "cancelled" as const, text: trigger === "/delete" ? "cancelled by /delete" : "cancelled: the PR was closed" }
    : { kind: "superseded" as const, text: `superseded by commit ${sha7(pull.headSha)} (${trigger})` };
  await deps.scheduler.stopActive(pull.prKey, reason, run.id);
  deps.publisher.request(pull.prKey);
  deps.scheduler.kick();
  deps.log.info({ runId: run.id, prKey: pull.prKey, sha: pull.headSha, plan, trigger }, "run queued");
  return run;
}

function planFor(config: RepoConfig, deploy: boolean): StageName[] {
  if (!deploy) return ["build"];
  return config.test ? ["build", "deploy", "test"] : ["build", "deploy"];
}

/** Show an invalid config on the PR; nothing runs (older runs are superseded). */
async function showConfigError(pull: PullRecord, lookup: { error: string; path: string }, deps: DispatcherDeps): Promise<void> {
  await setNotice(pull, { kind: "config-error", text: `berth could not use \`${lookup.path}\` from the default branch, so nothing runs:\n${lookup.error}` }, deps);
  await deps.scheduler.stopActive(pull.prKey, { kind: "superseded", text: "superseded: the repo config is invalid" });
  deps.publisher.request(pull.prKey);
}

async function startAutomatic(pull: PullRecord, config: RepoConfig, trigger: string, deps: DispatcherDeps): Promise<void> {
  if (pull.fromFork && pull.approvedSha !== pull.headSha) {
    await setNotice(pull, {
      kind: "needs-approval",
      text: `This PR comes from a fork, so berth does not build it automatically. A maintainer can comment \`/ok-to-test\` to approve commit ${sha7(pull.headSha)} (a later push needs a new approval).`,
    }, deps);
    await deps.scheduler.stopActive(pull.prKey, { kind: "superseded", text: `superseded by unapproved commit ${sha7(pull.headSha)}` });
    deps.publisher.request(pull.prKey);
    return;
  }
  await setNotice(pull, config.preview.auto ? undefined : { kind: "manual-deploy", text: "This repo deploys previews only on `/deploy` (`preview.auto: false`)." }, deps);
  await queueRun(pull, "pipeline", planFor(config, config.preview.auto), trigger, config, deps);
}

async function onPullUpdated(pr: PullRef, action: string, host: CodeHost, deps: DispatcherDeps): Promise<void> {
  const lookup = await deps.loadConfig(host, pr);
  if (lookup.kind === "missing") return;
  const pull = await upsertPull(pr, deps);
  if (lookup.kind === "invalid") {
    await showConfigError(pull, lookup, deps);
    return;
  }
  await resetAcceptance(pull, lookup.config, deps);
  await startAutomatic(pull, lookup.config, action === "synchronize" ? "push" : action, deps);
}

/**
 * A new head (or a repo that starts or stops using acceptance): what was accepted is not what the
 * PR now holds, so its acceptance is pending again, on the new head's status too.
 */
async function resetAcceptance(pull: PullRecord, config: RepoConfig, deps: DispatcherDeps): Promise<void> {
  if (!config.acceptance) {
    if (pull.acceptance) await deps.store.patchPull(pull.prKey, (p) => ({ ...p, acceptance: undefined }));
    return;
  }
  if (pull.acceptance?.sha === pull.headSha) return;
  const pending: AcceptanceRecord = { sha: pull.headSha, state: "pending" };
  await deps.store.patchPull(pull.prKey, (p) => ({ ...p, acceptance: pending }));
  await deps.reportStatus(pull.repo, pull.headSha, pull.prNumber, acceptanceStatus(pending));
}

/** `/accept` or `/reject <reason>`: recorded for the head commit the commenter saw, if they are allowed. */
async function recordVerdict(
  verdict: "accepted" | "rejected",
  reason: string | undefined,
  pull: PullRecord,
  before: PullRecord | undefined,
  config: RepoConfig,
  event: Extract<BotEvent, { kind: "pr-comment" }>,
  host: CodeHost,
  deps: DispatcherDeps,
): Promise<void> {
  const command = verdict === "accepted" ? "/accept" : "/reject";
  const policy = config.acceptance?.by;
  if (!policy) {
    await reply(host, event, `This repository does not use acceptance: add an \`acceptance\` section to berth.yml to use \`${command}\`.`);
    return;
  }
  const permission = await host.getPermission(event.repo, event.author);
  const teams = host.capabilities.teams;
  let memberOf: string[] | undefined;
  if (policy.teams.length && teams) {
    memberOf = [];
    for (const team of policy.teams) if (await teams.isMember(event.repo, team, event.author)) memberOf.push(team);
  }
  const decision = mayAccept(policy, event.author, { permission, ...(memberOf ? { memberOf } : {}) });
  if (!decision.allowed) {
    await reply(host, event, `@${event.author} may not \`${command}\` this preview: ${decision.why}. Nothing was recorded.`);
    deps.log.info({ user: event.author, command, permission }, "acceptance refused: not allowed");
    return;
  }
  // The verdict is on what the commenter saw: a head pushed after the comment was written is not it.
  const seenAt = before?.headSha === pull.headSha ? before.headSeenAt : undefined;
  if (event.createdAt !== undefined && (seenAt === undefined || event.createdAt < seenAt)) {
    await reply(host, event, `The head of this PR moved to ${sha7(pull.headSha)} after this comment was written, so nothing was recorded. Look at its preview, then comment \`${command}\` again.`);
    return;
  }
  if (verdict === "accepted" && (await deps.store.getPull(pull.prKey))?.preview?.sha !== pull.headSha) {
    await reply(host, event, `No preview of the head commit ${sha7(pull.headSha)} is running, so there is nothing to accept yet.`);
    return;
  }
  const at = deps.now();
  const record: AcceptanceRecord =
    verdict === "accepted"
      ? { sha: pull.headSha, state: "accepted", by: event.author, at }
      : { sha: pull.headSha, state: "rejected", by: event.author, at, reason: (reason ?? "").slice(0, MAX_REASON) };
  await deps.store.patchPull(pull.prKey, (p) => ({ ...p, acceptance: record }));
  await deps.reportStatus(pull.repo, pull.headSha, pull.prNumber, acceptanceStatus(record));
  deps.publisher.request(pull.prKey);
  deps.log.info({ prKey: pull.prKey, sha: pull.headSha, user: event.author, verdict, as: decision.as }, "acceptance recorded");
}

async function onPullClosed(pr: PullRef, merged: boolean, deps: DispatcherDeps): Promise<void> {
  const prKey = prKeyOf(pr.repo, pr.number);
  if (!await deps.store.getPull(prKey)) return; // berth never worked on this PR
  const pull = await upsertPull(pr, deps);
  await queueRun(pull, "delete", ["delete"], merged ? "merge" : "close", undefined, deps);
}

async function reply(host: CodeHost, event: Extract<BotEvent, { kind: "pr-comment" }>, text: string): Promise<void> {
  await host.createComment(event.repo, event.prNumber, text);
}

async function onComment(event: Extract<BotEvent, { kind: "pr-comment" }>, host: CodeHost, deps: DispatcherDeps): Promise<void> {
  const parsed = parseComment(event.body);
  if (parsed.type === "ignore") return;
  if (parsed.type === "reply") {
    await reply(host, event, parsed.text);
    return;
  }
  const command = parsed.command;
  if (command.name === "help") {
    await host.reactToComment(event.repo, event.commentId, "eyes");
    await reply(host, event, renderHelp());
    return;
  }
  // Acceptance commands are allowed by the repository's config, checked once it is read.
  const permission: Permission | undefined = command.permission === "acceptance" ? undefined : event.via?.admin ? "admin" : await host.getPermission(event.repo, event.author);
  if (permission !== undefined && command.permission !== "acceptance" && !hasPermission(permission, command.permission)) {
    await reply(host, event, `\`/${command.name}\` needs ${command.permission} permission on this repository; @${event.author} has ${permission}. Nothing was run.`);
    deps.log.info({ user: event.author, command: command.name, permission }, "command refused: permission");
    return;
  }
  if (!event.via) await host.reactToComment(event.repo, event.commentId, "eyes");
  const pr = event.pr ?? (await host.getPull(event.repo, event.prNumber));
  await runCommand(command, parsed.argument, pr, event, host, deps);
}

async function runCommand(
  command: CommandSpec,
  argument: string | undefined,
  pr: PullRef,
  event: Extract<BotEvent, { kind: "pr-comment" }>,
  host: CodeHost,
  deps: DispatcherDeps,
): Promise<void> {
  const prKey = prKeyOf(pr.repo, pr.number);
  const before = await deps.store.getPull(prKey);
  if (command.name === "delete") {
    if (!await deps.store.getPull(prKey)) {
      await reply(host, event, "There is no preview of this PR to delete.");
      return;
    }
    await queueRun(await upsertPull(pr, deps), "delete", ["delete"], "/delete", undefined, deps);
    return;
  }
  if (command.name === "cancel") {
    const active = await deps.store.activeRunsOf(prKey);
    if (active.length === 0) {
      await reply(host, event, "Nothing of this PR is queued or running; there is nothing to cancel.");
      return;
    }
    await deps.scheduler.stopActive(prKey, { kind: "cancelled", text: `cancelled by /cancel from @${event.author}` });
    deps.publisher.request(prKey);
    deps.log.info({ prKey, user: event.author, runs: active.map((r) => r.id) }, "runs cancelled by /cancel");
    return;
  }
  if (pr.state === "closed") {
    await reply(host, event, `This PR is closed; \`/${command.name}\` only works on open PRs.`);
    return;
  }
  const lookup = await deps.loadConfig(host, pr);
  if (lookup.kind === "missing") {
    await reply(host, event, `berth is not set up for this repository: add \`${lookup.path}\` to the default branch.`);
    return;
  }
  const pull = await upsertPull(pr, deps);
  if (lookup.kind === "invalid") {
    await showConfigError(pull, lookup, deps);
    return;
  }
  const config = lookup.config;
  switch (command.name) {
    case "status":
      deps.publisher.request(prKey, true);
      return;
    case "keep": {
      const preview = (await deps.store.getPull(prKey))?.preview;
      if (!preview) {
        await reply(host, event, "There is no preview of this PR to keep.");
        return;
      }
      const until = deps.now() + KEEP_MS;
      await deps.store.patchPull(prKey, (p) => ({ ...p, keepUntil: Math.max(p.keepUntil ?? 0, until) }));
      // Kubernetes previews carry their expiry on the namespace too (removed even if berth's state is lost).
      await deps.targets[preview.target]?.extendExpiry?.(previewKeyOf(pull.repo, pull.prNumber), new Date(until));
      await reply(host, event, `The preview is kept until ${new Date(until).toISOString().slice(0, 16).replace("T", " ")} UTC.`);
      deps.publisher.request(prKey);
      return;
    }
    case "wake": {
      const preview = (await deps.store.getPull(prKey))?.preview;
      if (!preview) {
        await reply(host, event, "There is no preview of this PR to wake; comment `/deploy` to start one.");
        return;
      }
      if (!preview.sleeping) {
        await reply(host, event, "The preview is awake.");
        return;
      }
      deps.wake(prKey, "/wake");
      return;
    }
    case "ok-to-test": {
      if (!pull.fromFork) {
        await reply(host, event, "`/ok-to-test` is only needed for PRs from forks; this one is built automatically.");
        return;
      }
      const decision = decideApproval({
        headSha: pull.headSha,
        headSeenAt: before?.headSha === pull.headSha ? before.headSeenAt : undefined,
        commentAt: event.createdAt,
        requestedSha: argument,
      });
      if (!decision.approve) {
        await reply(host, event, decision.reason);
        deps.log.info({ prKey, head: pull.headSha, requested: argument }, "ok-to-test refused: not the commit the comment saw");
        return;
      }
      await deps.store.patchPull(prKey, (p) => ({ ...p, approvedSha: decision.sha }));
      await startAutomatic({ ...pull, approvedSha: decision.sha }, config, "/ok-to-test", deps);
      return;
    }
    case "deploy":
      // A collaborator with write access asking for a deploy approves this exact commit.
      await deps.store.patchPull(prKey, (p) => ({ ...p, approvedSha: pull.headSha, notice: undefined }));
      await queueRun(pull, "pipeline", planFor(config, true), "/deploy", config, deps);
      return;
    case "test": {
      if (!config.test) {
        await reply(host, event, "There is no `test` section in the repo's berth.yml, so there is nothing to run.");
        return;
      }
      const preview = (await deps.store.getPull(prKey))?.preview;
      if (!preview || preview.sha !== pull.headSha) {
        await reply(host, event, `No preview of the head commit ${sha7(pull.headSha)} is running; comment \`/deploy\` first.`);
        return;
      }
      await queueRun(pull, "pipeline", ["test"], "/test", config, deps);
      return;
    }
    case "accept":
    case "reject":
      await recordVerdict(command.name === "accept" ? "accepted" : "rejected", argument, pull, before, config, event, host, deps);
      return;
    case "help":
      return;
  }
}
