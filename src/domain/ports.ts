/**
 * Ports: the only way the core reaches outside systems. Adapters implement these and are
 * passed in; stages never import an adapter.
 */
import type { BotEvent, Permission, PullRef, RepoRef } from "./types.js";
import type { PreviewConfig } from "./repo-config.js";
import type { ComposePlan } from "../compose/compose-plan.js";

/** A line sink for progress output of a long-running step (build log, helm output, ...). */
export type LogSink = (line: string) => void;

/** Source code of one commit as a gzip'd tarball whose entries sit under one top-level folder. */
export interface SourceArchive {
  format: "tar.gz";
  data: Buffer;
}

/** A commit's source unpacked on disk, removed by `dispose`. */
export interface SourceCheckout {
  dir: string;
  dispose(): Promise<void>;
}

/** Commit status reported for one stage. */
export interface CommitStatus {
  /** e.g. `berth/build` */
  context: string;
  state: "pending" | "success" | "failure" | "error";
  description: string;
  targetUrl?: string;
}

/** Everything berth needs from a code host (GitHub, Gitee). */
/** Records the tag flow's deployments on the host (GitHub Deployments API). */
export interface DeploymentRecorder {
  start(repo: RepoRef, deployment: { environment: string; sha: string; tag: string; production: boolean }): Promise<{ id: string }>;
  finish(repo: RepoRef, id: string, result: { state: "success" | "failure" | "error"; environmentUrl?: string; description: string }): Promise<void>;
}

/** What a code host can do beyond the common port, declared by the host (looked up through the host router). */
export interface HostCapabilities {
  /**
   * Where stage statuses live: on the commit (GitHub; a new commit starts clean) or on the pull
   * request (Gitee labels; a new run must reset what the previous commit left).
   */
  statusScope: "commit" | "pull-request";
  /** Deployments of the tag flow; hosts without such an API have none and commit statuses carry the result alone. */
  deployments?: DeploymentRecorder;
  /** Team membership (`acceptance.by.teams`); hosts without a teams API have none. */
  teams?: TeamDirectory;
}

/** Answers whether a user is an active member of a team of the repository's organisation. */
export interface TeamDirectory {
  /** `team` is `org/team-slug`; false when the team or the membership does not exist. */
  isMember(repo: RepoRef, team: string, user: string): Promise<boolean>;
}

export interface CodeHost {
  readonly kind: RepoRef["host"];
  readonly capabilities: HostCapabilities;
  /**
   * What the host itself says of an event before berth acts on it. Hosts whose webhooks sign the
   * body (GitHub) return it as is; hosts whose signature does not cover the body (Gitee) read the
   * comment and the PR back from their API and return the event with the API's author, text, head
   * SHA and fork flag, or null when the API does not confirm it (the event is then ignored).
   */
  confirmEvent(event: BotEvent): Promise<BotEvent | null>;
  /** Text of a file at a ref, or null when it does not exist. */
  readFile(repo: RepoRef, path: string, ref: string): Promise<string | null>;
  /** Current state of a pull request. */
  getPull(repo: RepoRef, prNumber: number): Promise<PullRef>;
  /** Source of exactly this commit. */
  downloadSource(repo: RepoRef, sha: string): Promise<SourceArchive>;
  /** The first comment on the PR whose body contains `marker`, if any. */
  findComment(repo: RepoRef, prNumber: number, marker: string): Promise<{ id: string; body: string } | null>;
  createComment(repo: RepoRef, prNumber: number, body: string): Promise<{ id: string }>;
  updateComment(repo: RepoRef, prNumber: number, commentId: string, body: string): Promise<void>;
  /** Report a stage on a commit (GitHub: commit status; Gitee: PR labels). */
  setStatus(repo: RepoRef, sha: string, prNumber: number, status: CommitStatus): Promise<void>;
  /** The user's permission on the repository; "none" when not a collaborator. */
  getPermission(repo: RepoRef, user: string): Promise<Permission>;
  /** Acknowledge a command comment (👀). */
  reactToComment(repo: RepoRef, commentId: string, reaction: "eyes"): Promise<void>;
}

/** Result of an image build. */
export type BuildOutcome =
  | { ok: true; imageId: string; logTail: string[] }
  | { ok: false; error: string; failingStep?: string; logTail: string[] };

/** What to build. */
export interface BuildRequest {
  source: SourceArchive;
  /** Folder inside the source used as build context ("." = root). */
  context: string;
  /** Dockerfile path relative to the context. */
  dockerfile: string;
  buildArgs: Record<string, string>;
  labels: Record<string, string>;
  /** Full image reference to tag, e.g. `127.0.0.1:5000/previews/acme-app:pr-1-abcdef1`. */
  tag: string;
  signal: AbortSignal;
  onLog?: LogSink;
}

/** Builds images and pushes them to the registry. */
export interface ImageBuilder {
  build(req: BuildRequest): Promise<BuildOutcome>;
  /** Push a tag; returns the manifest digest (`sha256:…`). Throws with a clear message on failure. */
  push(tag: string, signal: AbortSignal, onLog?: LogSink): Promise<{ digest: string }>;
  /** Whether the tag exists locally (so `/deploy` can skip a rebuild). */
  hasImage(tag: string): Promise<boolean>;
  /** Give an existing local image another tag (promotion without a rebuild). */
  tag(source: string, target: string): Promise<void>;
  /**
   * Remove a closed PR's local tags (`<repository>:pr-<n>-*`); an image goes with its last tag.
   * Only images carrying every label of `owner` (the repository and berth installation that built
   * them) are touched; tags of images still in use stay (`kept`), foreign ones are left (`foreign`).
   */
  removePullRequestImages(repository: string, prNumber: number, owner: Record<string, string>): Promise<{ removed: string[]; kept: string[]; foreign: string[] }>;
}

/** Vulnerability counts of an image scan (Harbor). */
export interface VulnerabilitySummary {
  /** `Success`, `Running`, `Error`, `NotScanned`, ... */
  status: string;
  critical: number;
  high: number;
  medium: number;
  low: number;
  unknown: number;
  total: number;
  fixable: number;
}

/** What a registry knows of a pushed image. */
export interface ArtifactInfo {
  digest: string;
  size?: number;
  scan?: VulnerabilitySummary;
  /** The artifact in the registry's web UI. */
  uiUrl?: string;
  /** The repo's scan gate (`build.scan.failOn`) applied to the scan. */
  gate: { pass: boolean; reason: string };
}

/** What the clean-up of a PR's registry tags did. */
export interface RegistryCleanupResult {
  removedTags: number;
  deletedArtifacts: number;
  /** PR tags left because the registry cannot remove a tag its artifact shares with other tags. */
  keptTags: string[];
}

/** Removes a closed PR's image tags from the registry (Harbor, or any OCI registry). */
export interface RegistryCleaner {
  /** Remove a PR's tags (`pr-<n>-*`) from an image repository; artifacts only when no other tag uses them. */
  cleanupPullRequest(repositoryRef: string, prNumber: number): Promise<RegistryCleanupResult>;
}

/**
 * A registry with an API beyond pushes and pulls (Harbor): projects, scans, server-side tags.
 * Plain OCI registries have none; berth then only pushes (and cleans up through the OCI API).
 */
export interface ArtifactRegistry extends RegistryCleaner {
  /** Make sure images can be pushed to `imageRef` (Harbor: its project exists, with auto-scan). */
  prepare(imageRef: string): Promise<void>;
  /**
   * After a push: digest, size and the vulnerability scan, with the gate applied. The scan is waited
   * for (bounded) unless `wait: false`, which reads the artifact once and returns the scan as it stands.
   */
  inspect(imageRef: string, options: { signal: AbortSignal; failOn?: "critical" | "high" | "medium"; wait?: boolean }): Promise<ArtifactInfo>;
  /** Wait (bounded) for the scan of a pushed image, asking for one when none starts; no gate applied. */
  awaitScan(imageRef: string, options?: { signal?: AbortSignal }): Promise<ArtifactInfo>;
  /** Give the artifact of `existingRef` the tag of `newRef` without pushing; false when it does not exist. */
  promote(existingRef: string, newRef: string): Promise<boolean>;
}

/**
 * Identity of one PR's preview (or, with `environment`, of a tag-flow environment) on a target.
 * Built by `previewKeyOf`/`environmentPreviewKeyOf` and read back by `parsePreviewKey`
 * (domain/preview-key.ts); `repoPathOf` renders its `owner/name`.
 */
export interface PreviewKey {
  host: RepoRef["host"];
  /** Repository owner as on the host. */
  owner: string;
  /** Repository name as on the host. */
  name: string;
  /** PR number; 0 for environments. */
  pr: number;
  /** Tag-flow environment (`dev`, `production`, ...) instead of a PR. */
  environment?: string;
  /** Kubernetes namespace an environment is configured to use. */
  namespace?: string;
}

/** A multi-service preview from the repository's Compose file, resolved for one commit. */
export interface ComposeDeploy {
  plan: ComposePlan;
  /** Image each service runs (built ones tagged per PR, like the single image). */
  images: Record<string, string>;
  /** Environment of each service: its env_files, then its `environment`, then berth.yml's `preview.env`. */
  env: Record<string, Record<string, string>>;
  /** The service people open (`preview.service`), on `preview.port`. */
  routed: string;
}

export interface DeployRequest {
  key: PreviewKey;
  sha: string;
  runId: string;
  image: string;
  preview: PreviewConfig;
  signal: AbortSignal;
  onLog?: LogSink;
  /** The commit's source checked out on disk, when the config points into it (`preview.chart`). */
  sourceDir?: string;
  /** Web URL of the pull request (Kubernetes annotations). */
  prUrl?: string;
  /** Several services instead of the one image (Docker target). */
  compose?: ComposeDeploy;
}

export interface DeployResult {
  /** URL people open (in the status comment). */
  url: string;
  /** URL the test stage uses to reach the preview from where tests run. */
  internalUrl: string;
  /** Where berth itself reaches the preview (its gateway's upstream), when it can. */
  upstream?: string;
}

export interface TestRequest {
  key: PreviewKey;
  sha: string;
  runId: string;
  image: string;
  command: string[];
  env: Record<string, string>;
  /** Directory inside the test environment holding JUnit XML files. */
  reportsDir: string;
  timeoutMs: number;
  signal: AbortSignal;
  onLog?: LogSink;
}

export interface TestRunResult {
  /** null when the process never exited (timeout, cancelled). */
  exitCode: number | null;
  timedOut: boolean;
  /** Last lines of combined stdout/stderr. */
  logTail: string[];
  /** XML report files found in the reports directory. */
  reports: Array<{ path: string; content: string }>;
  /** Report files found but not copied out (over the size limits): they fail the test stage. */
  reportsNotRead?: string[];
}

/** A place previews run: local Docker, Swarm, Kubernetes. */
export interface PreviewTarget {
  readonly kind: PreviewConfig["target"];
  /** Start the preview of `sha`, wait until healthy, then replace the PR's previous one. */
  deploy(req: DeployRequest): Promise<DeployResult>;
  /** Run a test command that can reach the preview; collect reports. */
  runTests(req: TestRequest): Promise<TestRunResult>;
  /** Remove everything of this PR's preview. Not found is success. Returns how many objects went. */
  remove(key: PreviewKey): Promise<{ removed: number }>;
  /** All previews this target holds (for reconciling with open PRs). */
  list(): Promise<PreviewKey[]>;
  /**
   * Stop a preview for lack of traffic, keeping everything needed to start it again (Docker:
   * containers stopped; Swarm: services at 0 replicas; Kubernetes: Deployments and StatefulSets at
   * 0, their replica counts remembered). Not found is success.
   */
  sleep(key: PreviewKey): Promise<{ stopped: number }>;
  /**
   * Start a sleeping preview again and wait until it is healthy, like a deploy does; returns where
   * berth now reaches it (published ports may change). Throws when it cannot be started.
   */
  wake(key: PreviewKey, preview: PreviewConfig, signal: AbortSignal): Promise<{ upstream?: string; url?: string }>;
  /** Previews with an expiry (Kubernetes `expires-at`); the reconciler removes expired ones. */
  listExpiring?(): Promise<Array<{ key: PreviewKey; expiresAt?: Date }>>;
  /** Push a preview's expiry forward (`/keep`). */
  extendExpiry?(key: PreviewKey, until: Date): Promise<void>;
}

/** Thrown by adapters when work stopped because the signal aborted. */
export class CancelledError extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = "CancelledError";
  }
}
