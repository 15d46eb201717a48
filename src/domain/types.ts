/**
 * Pure domain types shared by every layer. No I/O, no imports of adapters.
 */

/** Which code host an event or repository belongs to; `gitea-<name>` is one configured Gitea/Forgejo/Gogs server. */
export type HostKind = "github" | "gitee" | `gitea-${string}`;

/** A repository on a code host. */
export interface RepoRef {
  host: HostKind;
  owner: string;
  name: string;
  /** GitHub App installation that can act on this repository (GitHub only). */
  installationId?: number;
  /** Branch policy and config are read from. */
  defaultBranch: string;
  /** Web URL of the repository, used in OCI labels and links. */
  htmlUrl: string;
}

/** A pull request at one head commit. */
export interface PullRef {
  repo: RepoRef;
  number: number;
  headSha: string;
  headRef: string;
  baseRef: string;
  /** The head lives in another repository (a fork): never built without approval. */
  fromFork: boolean;
  url: string;
  author: string;
  state: "open" | "closed";
  /** The PR's title as the host says it (repository-controlled text); absent when the host did not send it. */
  title?: string;
}

/** Collaborator permission levels, highest first. */
export type Permission = "admin" | "maintain" | "write" | "triage" | "read" | "none";

/** A webhook translated into the one shape the core understands. */
export type BotEvent = (
  | {
      kind: "pr-updated";
      deliveryId: string;
      pr: PullRef;
      action: "opened" | "synchronize" | "reopened";
      sender: string;
    }
  | {
      kind: "pr-closed";
      deliveryId: string;
      pr: PullRef;
      merged: boolean;
      sender: string;
    }
  | {
      kind: "pr-comment";
      deliveryId: string;
      repo: RepoRef;
      prNumber: number;
      /** Present when the host sends it with the comment (Gitee does, GitHub does not). */
      pr?: PullRef;
      commentId: string;
      author: string;
      body: string;
      /** When the comment was written (ms since epoch, from the host); absent when the host does not say. */
      createdAt?: number;
      /**
       * Set when berth's dashboard wrote the command for the signed-in `author`: there is no comment
       * to confirm with the host or react to. `admin`: signed in with BERTH_DASHBOARD_TOKEN (acts as admin).
       */
      via?: { kind: "dashboard"; admin: boolean };
    }
  | {
      /** A git tag was created or moved (never a deletion: those do nothing). */
      kind: "tag-pushed";
      deliveryId: string;
      repo: RepoRef;
      tag: string;
      sha: string;
      /** Login of who pushed it (their permission decides deploys). */
      pusher: string;
    }
) & {
  /**
   * What the sender signed (a digest of the signed body, or Gitee's signed timestamp): the same
   * signed content under a new delivery id is a replay and is not processed twice.
   */
  replayKey?: string;
};

/** The stages of a preview pipeline, in order. */
export const STAGES = ["build", "deploy", "test"] as const;
export type StageName = (typeof STAGES)[number];
/** Stages a run executes: the pipeline's, or `delete` (the one stage of a delete run). */
export type RunStageName = StageName | "delete";

/** The life of one stage row in the status comment. */
export type StageState =
  | "pending" // not part of this run's plan (shown as "—")
  | "queued"
  | "running"
  | "passed"
  | "failed"
  | "superseded"
  | "cancelled";

/** Life of a whole run. */
export type RunStatus = "queued" | "running" | "passed" | "failed" | "superseded" | "cancelled";

/** States after which a stage or run never changes again. */
export const FINAL_STAGE_STATES: readonly StageState[] = ["passed", "failed", "superseded", "cancelled"];
