import { repoApiPath } from "../api-path.js";
import type { RepoRef } from "../../domain/types.js";

/** `/repos/<owner>/<repo>`, each part encoded: the prefix of every repository API path. */
export function giteeRepoPath(repo: RepoRef): string {
  return repoApiPath(repo);
}
