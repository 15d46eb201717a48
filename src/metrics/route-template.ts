/**
 * The route template of a code-host API path, so that metrics label calls by endpoint and never by
 * repository, PR, commit or file: `/repos/acme/app/pulls/3/comments` → `/repos/{owner}/{repo}/pulls/{number}/comments`.
 * A path that is a template already (Octokit passes `/repos/{owner}/{repo}/statuses/{sha}`) keeps
 * its shape, numbered placeholders named `{number}` like the numbers of expanded paths. Every other segment must be a word of the GitHub / Gitee APIs berth calls, else it becomes
 * `{param}`: the label set stays bounded whatever the path holds.
 */

/** Literal path segments of the GitHub and Gitee endpoints berth uses (and their neighbours). */
const API_WORDS: ReadonlySet<string> = new Set([
  "repos", "issues", "comments", "pulls", "reactions", "statuses", "status", "deployments", "collaborators", "permission",
  "commits", "git", "blobs", "trees", "refs", "labels", "user", "users", "app", "installation", "installations",
  "access_tokens", "orgs", "repositories", "rate_limit", "graphql", "hooks", "files", "reviews", "events", "check-runs",
  "check-suites", "branches", "v5", "api", "v3",
]);

/** Segments after which the rest of the path is one value (a file path, an archive ref). */
const REST_IS_VALUE: ReadonlySet<string> = new Set(["contents", "tarball", "zipball"]);

/**
 * A template's placeholder under the name an expanded path gets, so one endpoint has one label
 * whether Octokit passed its template or a paginated URL: `{issue_number}` → `{number}`.
 */
function placeholder(segment: string): string {
  if (/^\{([a-z_]+_)?(number|id)\}$/.test(segment)) return "{number}";
  if (/^\{([a-z_]+_)?sha\}$/.test(segment)) return "{sha}";
  return segment;
}

/** The route template of `path` (an API path, an absolute URL or an Octokit route template). */
export function routeTemplate(path: string): string {
  // Octokit's query templates (`{?per_page,page}`) go before the query itself.
  let rest = path.replace(/\{\?[^}]*\}/g, "").replace(/^[a-z]+:\/\/[^/]+/i, "").split("?")[0] ?? "";
  if (!rest.startsWith("/")) rest = `/${rest}`;
  const segments = rest.split("/").slice(1);
  const out: string[] = [];
  // After `repos`, the next two segments are the owner and the repository.
  let expect: "{owner}" | "{repo}" | undefined;
  for (const segment of segments) {
    if (segment === "") continue;
    const template = /^\{[a-z_]+\}$/.test(segment);
    if (expect) {
      out.push(template ? segment : expect);
      expect = expect === "{owner}" ? "{repo}" : undefined;
    } else if (template) out.push(placeholder(segment));
    else if (segment === "repos") {
      out.push(segment);
      expect = "{owner}";
    } else if (REST_IS_VALUE.has(segment)) {
      out.push(segment, "{path}");
      break;
    } else if (API_WORDS.has(segment)) out.push(segment);
    else if (/^[0-9]+$/.test(segment)) out.push("{number}");
    else if (/^[0-9a-f]{7,64}$/i.test(segment)) out.push("{sha}");
    else out.push("{param}");
  }
  return `/${out.join("/")}`;
}
