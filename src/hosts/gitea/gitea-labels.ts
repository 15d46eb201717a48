/**
 * The label endpoints of Gitea-family servers for `StatusLabels` (`../status-labels.ts`), used on
 * Gogs, which has no commit-status API. Gogs 0.13 (and Gitea, which kept the shape) address labels
 * by id: `POST /repos/{o}/{r}/issues/{index}/labels` takes `{labels: [id]}`, and a label is removed
 * with `DELETE …/labels/{id}`; a new repository label takes `#rrggbb`.
 */
import { z } from "zod";
import type { RepoRef } from "../../domain/types.js";
import type { PullLabelApi } from "../status-labels.js";
import { GiteaApiError, giteaRepoPath, isGiteaRefusal, seg, type GiteaClient } from "./gitea-client.js";

const labelSchema = z.looseObject({ id: z.number().int(), name: z.string() });

export function giteaLabelApi(client: GiteaClient): PullLabelApi {
  const issueLabels = (repo: RepoRef, prNumber: number): string => `${giteaRepoPath(repo)}/issues/${seg(prNumber)}/labels`;
  const withId = (label: { name: string; id?: number }): number => {
    if (label.id === undefined) throw new Error(`label ${label.name} has no id`);
    return label.id;
  };
  return {
    listPullLabels: (repo, prNumber) => client.request({ method: "GET", path: issueLabels(repo, prNumber), schema: z.array(labelSchema) }),
    addPullLabel: async (repo, prNumber, label) => {
      await client.request({ method: "POST", path: issueLabels(repo, prNumber), body: { labels: [withId(label)] }, schema: z.unknown() });
    },
    removePullLabel: async (repo, prNumber, label) => {
      await client.requestOrNull({ method: "DELETE", path: `${issueLabels(repo, prNumber)}/${seg(withId(label))}`, schema: z.unknown() });
    },
    listRepoLabels: (repo) => client.request({ method: "GET", path: `${giteaRepoPath(repo)}/labels`, schema: z.array(labelSchema) }),
    createRepoLabel: async (repo, name, color) => {
      try {
        return await client.request({ method: "POST", path: `${giteaRepoPath(repo)}/labels`, body: { name, color: `#${color}` }, schema: labelSchema });
      } catch (error) {
        if (error instanceof GiteaApiError && (error.status === 409 || error.status === 422)) return null;
        throw error;
      }
    },
    isRefusal: isGiteaRefusal,
  };
}
