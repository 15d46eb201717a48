/**
 * Stage statuses as Gitee PR labels. Gitee v5 has no commit-status API, so each stage is shown as a
 * PR label `berth:<stage>-<state>` (created in the repository on demand; the stage's previous label
 * is removed). Labels belong to the PR, not to a commit, and carry no description or link.
 */
import type { Logger } from "pino";
import { z } from "zod";
import type { CommitStatus } from "../../domain/ports.js";
import type { RepoRef } from "../../domain/types.js";
import { GiteeApiError, seg, type GiteeClient } from "./gitee-client.js";
import { giteeRepoPath } from "./gitee-repo-path.js";

/** Labels per page when listing a PR's labels (Gitee's maximum). */
const PAGE_SIZE = 100;

const labelSchema = z.looseObject({ name: z.string() });

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
export function giteeStatusLabel(status: Pick<CommitStatus, "context" | "state">): string {
  return `berth:${stageOf(status.context)}-${STATE_WORDS[status.state].word}`;
}

/** Sets stage labels on Gitee PRs; remembers which repository labels exist. */
export class GiteeStatusLabels {
  /** Repository labels known to exist, per `owner/repo` (saves a list call per status). */
  private readonly knownLabels = new Map<string, Set<string>>();

  constructor(
    private readonly client: GiteeClient,
    private readonly log: Logger,
  ) {}

  /**
   * Show a stage's state as the PR label `berth:<stage>-<state>`. Labels are per PR, so `sha` only
   * appears in logs; the core reports stages of the current head only.
   */
  async set(repo: RepoRef, sha: string, prNumber: number, status: CommitStatus): Promise<void> {
    const wanted = giteeStatusLabel(status);
    const stagePrefix = `berth:${stageOf(status.context)}-`;
    const prLabels = await this.client.request({
      method: "GET",
      path: `${giteeRepoPath(repo)}/pulls/${seg(prNumber)}/labels`,
      query: { page: 1, per_page: PAGE_SIZE },
      schema: z.array(labelSchema),
    });
    const names = prLabels.map((l) => l.name);
    const stale = names.filter((name) => name.startsWith(stagePrefix) && name !== wanted);
    if (!names.includes(wanted)) {
      const color = STATE_WORDS[status.state].color;
      await this.ensureRepoLabel(repo, wanted, color);
      try {
        await this.addPullLabel(repo, prNumber, wanted);
      } catch (error) {
        // The remembered repository label may have been deleted by hand: forget, recreate, retry once.
        if (!(error instanceof GiteeApiError && error.status !== undefined && error.status >= 400 && error.status < 500)) throw error;
        this.knownLabels.delete(`${repo.owner}/${repo.name}`.toLowerCase());
        await this.ensureRepoLabel(repo, wanted, color);
        await this.addPullLabel(repo, prNumber, wanted);
      }
    }
    for (const name of stale) {
      await this.client.requestOrNull({
        method: "DELETE",
        path: `${giteeRepoPath(repo)}/pulls/${seg(prNumber)}/labels/${seg(name)}`,
        schema: z.unknown(),
      });
    }
    this.log.debug({ repo: `${repo.owner}/${repo.name}`, pr: prNumber, sha, label: wanted, removed: stale }, "gitee status label set");
  }

  private async addPullLabel(repo: RepoRef, prNumber: number, name: string): Promise<void> {
    await this.client.request({
      method: "POST",
      path: `${giteeRepoPath(repo)}/pulls/${seg(prNumber)}/labels`,
      // The v5 spec wraps the names in an object: PullRequestLabelPostParam { body: string[] }.
      body: { body: [name] },
      schema: z.unknown(),
    });
  }

  private async ensureRepoLabel(repo: RepoRef, name: string, color: string): Promise<void> {
    const key = `${repo.owner}/${repo.name}`.toLowerCase();
    let known = this.knownLabels.get(key);
    if (!known) {
      // Listed once per repository; labels berth creates later are added to the set.
      const labels = await this.client.request({ method: "GET", path: `${giteeRepoPath(repo)}/labels`, schema: z.array(labelSchema) });
      known = new Set(labels.map((l) => l.name));
      this.knownLabels.set(key, known);
    }
    if (known.has(name)) return;
    try {
      await this.client.request({ method: "POST", path: `${giteeRepoPath(repo)}/labels`, body: { name, color }, schema: z.unknown() });
    } catch (error) {
      // Someone (another berth replica) created it in between: that is what we wanted.
      if (!(error instanceof GiteeApiError && (error.status === 400 || error.status === 409 || error.status === 422))) throw error;
      this.log.debug({ repo: key, label: name, status: error.status }, "gitee label already created");
    }
    known.add(name);
  }
}
