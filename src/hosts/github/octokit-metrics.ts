/**
 * An Octokit plugin that reports every GitHub API call (method, route template, status) and the
 * rate limit left (`x-ratelimit-remaining`) to an observer. Registered after Probot's own plugins,
 * its wrap is the outermost: one report per call, after Octokit's retries.
 */
import type { ProbotOctokit } from "probot";
import type { ApiCallObserver } from "../../metrics/berth-metrics.js";
import { routeTemplate } from "../../metrics/route-template.js";

/** What `ProbotOctokit.plugin` takes, and the Octokit core a plugin is given. */
type OctokitPlugin = Parameters<typeof ProbotOctokit.plugin>[0];
type OctokitCore = Parameters<OctokitPlugin>[0];

interface Answer {
  status?: number;
  headers?: Record<string, string | number | undefined>;
}

function headerNumber(headers: Answer["headers"], name: string): number | undefined {
  const value = headers?.[name];
  if (value === undefined || value === "") return undefined;
  const parsed = Number(value);
  return Number.isFinite(parsed) ? parsed : undefined;
}

/** The plugin for `ProbotOctokit.plugin(...)`. */
export function octokitMetrics(observe: ApiCallObserver): (octokit: OctokitCore) => void {
  return (octokit) => {
    octokit.hook.wrap("request", async (request, options) => {
      const method = String(options.method ?? "GET");
      const route = routeTemplate(String(options.url ?? ""));
      const report = (status: number | string, answer: Answer | undefined): void => {
        const remaining = headerNumber(answer?.headers, "x-ratelimit-remaining");
        const resource = answer?.headers?.["x-ratelimit-resource"];
        observe({
          host: "github",
          method,
          route,
          status,
          ...(remaining !== undefined ? { rateLimitRemaining: remaining } : {}),
          ...(typeof resource === "string" ? { rateLimitResource: resource } : {}),
        });
      };
      try {
        const response = await request(options);
        report(response.status, response as Answer);
        return response;
      } catch (error) {
        const failed = error as { status?: unknown; response?: Answer; code?: unknown; cause?: { code?: unknown } };
        // A RequestError carries the answer; without one (network, deadline) the status is 500 and no response.
        if (failed.response && typeof failed.status === "number") report(failed.status, failed.response);
        else report(typeof failed.cause?.code === "string" ? failed.cause.code : error instanceof Error && /abort|timeout/i.test(error.name + error.message) ? "ETIMEDOUT" : "network", undefined);
        throw error;
      }
    });
  };
}
