/**
 * Stage statuses as Gitee PR labels (Gitee v5 has no commit-status API): the shared
 * `StatusLabels` (`../status-labels.ts`) over Gitee's label endpoints, which name labels by name.
 */
import type { Logger } from "pino";
import { z } from "zod";
import type { RepoRef } from "../../domain/types.js";
import { StatusLabels, statusLabelName, type PullLabelApi } from "../status-labels.js";
import { GiteeApiError, seg, type GiteeClient } from "./gitee-client.js";
import { giteeRepoPath } from "./gitee-repo-path.js";

/** Labels per page when listing a PR's labels (Gitee's maximum). */
const PAGE_SIZE = 100;

const labelSchema = z.looseObject({ name: z.string() });

/** Label name shown for a stage in a state, e.g. `berth:build-passed`. */
export const giteeStatusLabel = statusLabelName;

function isClientError(error: unknown): error is GiteeApiError {
  return error instanceof GiteeApiError && error.status !== undefined && error.status >= 400 && error.status < 500;
}

/** Gitee's label endpoints. */
function giteeLabelApi(client: GiteeClient): PullLabelApi {
  const pullLabels = (repo: RepoRef, prNumber: number): string => `${giteeRepoPath(repo)}/pulls/${seg(prNumber)}/labels`;
  return {
    listPullLabels: (repo, prNumber) =>
      client.request({ method: "GET", path: pullLabels(repo, prNumber), query: { page: 1, per_page: PAGE_SIZE }, schema: z.array(labelSchema) }),
    addPullLabel: async (repo, prNumber, label) => {
      // The v5 spec wraps the names in an object: PullRequestLabelPostParam { body: string[] }.
      await client.request({ method: "POST", path: pullLabels(repo, prNumber), body: { body: [label.name] }, schema: z.unknown() });
    },
    removePullLabel: async (repo, prNumber, label) => {
      await client.requestOrNull({ method: "DELETE", path: `${pullLabels(repo, prNumber)}/${seg(label.name)}`, schema: z.unknown() });
    },
    listRepoLabels: (repo) => client.request({ method: "GET", path: `${giteeRepoPath(repo)}/labels`, schema: z.array(labelSchema) }),
    createRepoLabel: async (repo, name, color) => {
      try {
        await client.request({ method: "POST", path: `${giteeRepoPath(repo)}/labels`, body: { name, color }, schema: z.unknown() });
        return { name };
      } catch (error) {
        if (error instanceof GiteeApiError && (error.status === 400 || error.status === 409 || error.status === 422)) return null;
        throw error;
      }
    },
    isRefusal: isClientError,
  };
}

/** Sets stage labels on Gitee PRs. */
export class GiteeStatusLabels extends StatusLabels {
  constructor(client: GiteeClient, log: Logger) {
    super(giteeLabelApi(client), log, "gitee");
  }
}
