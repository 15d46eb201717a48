/**
 * Stage statuses as PR labels, for hosts without a commit-status API (Gitee v5, Gogs 0.13): each
 * stage is shown as the label `berth:<stage>-<state>` (created in the repository on demand; the
 * stage's previous label is removed). Labels belong to the PR, not to a commit, and carry no
 * description or link. The host's label endpoints come in through `PullLabelApi`.
 */
import type { Logger } from "pino";
import type { CommitStatus } from "../domain/ports.js";
import type { RepoRef } from "../domain/types.js";

/** A label as a host names it; `id` where the host addresses labels by id (Gogs). */
export interface LabelRef {
  name: string;
  id?: number;
}

/** The label endpoints of one host. */
export interface PullLabelApi {
  listPullLabels(repo: RepoRef, prNumber: number): Promise<LabelRef[]>;
  addPullLabel(repo: RepoRef, prNumber: number, label: LabelRef): Promise<void>;
  /** Remove a label from the PR; not found is success. */
  removePullLabel(repo: RepoRef, prNumber: number, label: LabelRef): Promise<void>;
  listRepoLabels(repo: RepoRef): Promise<LabelRef[]>;
  /** Create a repository label; null when it exists already (another replica made it). */
  createRepoLabel(repo: RepoRef, name: string, color: string): Promise<LabelRef | null>;
  /** Whether the host refused a call for good (a 4xx): the remembered label may be gone. */
  isRefusal(error: unknown): boolean;
}

const STATE_WORDS: Record<CommitStatus["state"], { word: string; color: string }> = {
  pending: { word: "pending", color: "fbca04" },
  success: { word: "passed", color: "0e8a16" },
  failure: { word: "failed", color: "d73a4a" },
  error: { word: "error", color: "b60205" },
};

/** `berth/build` → `build`; anything else reduced to `[a-z0-9-]`. */
function stageOf(context: string): string {
  const stage = context
    .replace(/^berth\//, "")
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, "-")
    .replace(/^-+|-+$/g, "");
  return stage.slice(0, 40) || "status";
}

/** Label name shown for a stage in a state, e.g. `berth:build-passed`. */
export function statusLabelName(status: Pick<CommitStatus, "context" | "state">): string {
  return `berth:${stageOf(status.context)}-${STATE_WORDS[status.state].word}`;
}

/** Sets stage labels on PRs; remembers which repository labels exist. */
export class StatusLabels {
  /** Repository labels known to exist, per `owner/repo` (saves a list call per status). */
  private readonly knownLabels = new Map<string, Map<string, LabelRef>>();

  constructor(
    private readonly api: PullLabelApi,
    private readonly log: Logger,
    /** Host name in log messages (`gitee`, `gogs`). */
    private readonly hostName: string,
  ) {}

  /**
   * Show a stage's state as the PR label `berth:<stage>-<state>`. Labels are per PR, so `sha` only
   * appears in logs; the core reports stages of the current head only.
   */
  async set(repo: RepoRef, sha: string, prNumber: number, status: CommitStatus): Promise<void> {
    const wanted = statusLabelName(status);
    const stagePrefix = `berth:${stageOf(status.context)}-`;
    const onPull = await this.api.listPullLabels(repo, prNumber);
    const stale = onPull.filter((label) => label.name.startsWith(stagePrefix) && label.name !== wanted);
    if (!onPull.some((label) => label.name === wanted)) {
      const color = STATE_WORDS[status.state].color;
      try {
        await this.api.addPullLabel(repo, prNumber, await this.ensureRepoLabel(repo, wanted, color));
      } catch (error) {
        // The remembered repository label may have been deleted by hand: forget, recreate, retry once.
        if (!this.api.isRefusal(error)) throw error;
        this.knownLabels.delete(`${repo.owner}/${repo.name}`.toLowerCase());
        await this.api.addPullLabel(repo, prNumber, await this.ensureRepoLabel(repo, wanted, color));
      }
    }
    for (const label of stale) await this.api.removePullLabel(repo, prNumber, label);
    this.log.debug({ repo: `${repo.owner}/${repo.name}`, pr: prNumber, sha, label: wanted, removed: stale.map((l) => l.name) }, `${this.hostName} status label set`);
  }

  private async repoLabels(repo: RepoRef, reload = false): Promise<Map<string, LabelRef>> {
    const key = `${repo.owner}/${repo.name}`.toLowerCase();
    let known = reload ? undefined : this.knownLabels.get(key);
    if (!known) {
      // Listed once per repository; labels berth creates later are added to the map.
      known = new Map((await this.api.listRepoLabels(repo)).map((label) => [label.name, label]));
      this.knownLabels.set(key, known);
    }
    return known;
  }

  private async ensureRepoLabel(repo: RepoRef, name: string, color: string): Promise<LabelRef> {
    const existing = (await this.repoLabels(repo)).get(name);
    if (existing) return existing;
    const created = await this.api.createRepoLabel(repo, name, color);
    if (created) {
      (await this.repoLabels(repo)).set(name, created);
      return created;
    }
    // Someone (another berth replica) created it in between: that is what we wanted.
    this.log.debug({ repo: `${repo.owner}/${repo.name}`, label: name }, `${this.hostName} label already created`);
    return (await this.repoLabels(repo, true)).get(name) ?? { name };
  }
}
