/**
 * Shapes of what berth keeps durable: runs, stages, pull requests, previews, reports.
 */
import type { AcceptanceRecord } from "./acceptance.js";
import type { RepoConfig } from "./repo-config.js";
import type { VulnerabilitySummary } from "./ports.js";
import type { RepoRef, RunStatus, RunStageName, StageState } from "./types.js";
import type { TestSummary } from "../reports/junit.js";

/** `github:owner/name#12` — the key of one pull request across tables. */
export type PrKey = string;

export function prKeyOf(repo: Pick<RepoRef, "host" | "owner" | "name">, prNumber: number): PrKey {
  return `${repoKeyOf(repo)}#${prNumber}`;
}

/** `github:owner/name` — a repository across tables. */
export function repoKeyOf(repo: Pick<RepoRef, "host" | "owner" | "name">): string {
  return `${repo.host}:${repo.owner}/${repo.name}`;
}

export type RunKind = "pipeline" | "delete" | "release";

/** Key of an environment slot (one release run at a time per environment): `github:owner/name@production`. */
export function environmentKeyOf(repo: Pick<RepoRef, "host" | "owner" | "name">, environment: string): PrKey {
  return `${repoKeyOf(repo)}@${environment}`;
}

/** A release: a git tag built and (when the pusher may) deployed to an environment. */
export interface ReleaseSpec {
  tag: string;
  environment: string;
  /** Why it is built but not deployed (pusher below the environment's permission, target off). */
  refusal?: string;
}

/** One unit of queued work for one PR at one commit. */
export interface RunRecord {
  id: string;
  prKey: PrKey;
  repo: RepoRef;
  prNumber: number;
  sha: string;
  kind: RunKind;
  /** Stages this run executes, in order (empty for delete runs). */
  plan: RunStageName[];
  /** What started it: `push`, `/deploy`, `/test`, `close`, ... */
  trigger: string;
  status: RunStatus;
  reason?: string;
  /** Repo config as read when the run was queued, so a restart runs the same thing. */
  config?: RepoConfig;
  /** `/deploy` may reuse an image already built for this commit. */
  reuseImage: boolean;
  /** Set on release runs (prNumber is 0 there). */
  release?: ReleaseSpec;
  attempts: number;
  createdAt: number;
  startedAt?: number;
  finishedAt?: number;
}

/** What a finished stage leaves for later stages and for the status comment. */
export interface StageDetail {
  image?: ImageRecord;
  /** Vulnerability scan of the pushed image (Harbor), with a link to it. */
  scan?: VulnerabilitySummary & { url?: string };
  preview?: { url: string; internalUrl: string };
  tests?: TestSummary & { reportId: string; exitCode: number | null; timedOut: boolean };
  failingStep?: string;
  logTail?: string[];
  /** One-line reason shown next to a failed, superseded or cancelled stage. */
  reason?: string;
  reused?: boolean;
  /** Id of the stage's full log (served under the report pages). */
  logId?: string;
}

export interface StageRecord {
  runId: string;
  name: RunStageName;
  state: StageState;
  startedAt?: number;
  finishedAt?: number;
  detail: StageDetail;
}

export interface ImageRecord {
  ref: string;
  /** Registry manifest digest, or the local image id when no registry is configured. */
  digest: string;
  pushed: boolean;
}

export interface PreviewRecord {
  target: "docker" | "kubernetes" | "swarm";
  sha: string;
  /** What people open: the gateway's stable URL, or what the target published. */
  url: string;
  internalUrl: string;
  /** Where berth's gateway reaches the preview (absent: the preview is not behind the gateway). */
  upstream?: string;
  /** Behind the gateway: whether it asks who the visitor is (`preview.access`). */
  access?: "public" | "private";
  runId: string;
  deployedAt: number;
  /** Last request through the gateway (ms), written in batches. */
  lastRequestAt?: number;
  /** Requests through the gateway since this preview was deployed. */
  requests?: number;
  /** Stopped for lack of traffic (`preview.sleepAfter`); the gateway or `/wake` starts it again. */
  sleeping?: { since: number };
}

/** What runs in an environment. */
export interface EnvironmentRecord {
  key: PrKey;
  repo: RepoRef;
  environment: string;
  tag: string;
  sha: string;
  image: ImageRecord;
  url: string;
  /** Where berth's gateway reaches the environment (absent: not behind the gateway). */
  upstream?: string;
  target: PreviewRecord["target"];
  deployedAt: number;
}

/** A sentence the status comment shows above the stages. */
export interface Notice {
  /** `event-failed`: a webhook of this PR could not be processed (the host kept failing, or refused). */
  kind: "config-error" | "needs-approval" | "deleted" | "manual-deploy" | "interrupted" | "event-failed" | "wake-failed";
  text: string;
}

/** What berth knows of one pull request. */
export interface PullRecord {
  prKey: PrKey;
  repo: RepoRef;
  prNumber: number;
  headSha: string;
  /** When berth first saw `headSha` as the PR's head (ms); `/ok-to-test` approves only what was there before the comment. */
  headSeenAt?: number;
  state: "open" | "closed";
  fromFork: boolean;
  url: string;
  /** The PR's title and head branch as last seen (chat notifications quote them). */
  title?: string;
  headRef?: string;
  commentId?: string;
  commentHash?: string;
  notice?: Notice;
  approvedSha?: string;
  preview?: PreviewRecord;
  /** Last image built per commit of this PR (only the newest is kept). */
  image?: ImageRecord & { sha: string };
  /** `/keep` keeps the preview until at least this time (ms), whatever `preview.expiresAfter` says. */
  keepUntil?: number;
  /** Testers' verdict on the preview, for one commit; absent when the repo does not use acceptance. */
  acceptance?: AcceptanceRecord;
}
