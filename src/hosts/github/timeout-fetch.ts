/**
 * A fetch for Octokit that gives every GitHub API request a deadline (Octokit has none by default),
 * keeping any abort signal the caller passed.
 */

/** Wrap `fetch` so each request is aborted after `timeoutMs`. */
export function createTimeoutFetch(timeoutMs: number, base: typeof fetch = fetch): typeof fetch {
  return (input, init) => {
    const deadline = AbortSignal.timeout(timeoutMs);
    const signal = init?.signal ? AbortSignal.any([init.signal, deadline]) : deadline;
    return base(input, { ...init, signal });
  };
}
