/**
 * Finding berth's status comment on a PR, for every host: the first comment whose body carries the
 * hidden marker AND that berth's own account wrote (a person quoting the marker is never adopted),
 * read page by page until a short page or the page limit.
 */

/** What the search needs of one listed comment. */
export interface CommentView {
  id: string | number;
  body?: string | null | undefined;
}

/** The first comment of `pages` with `marker` in its body that `isOurs` accepts. */
export async function findMarkedComment<C>(
  pages: AsyncIterable<readonly C[]>,
  marker: string,
  view: (comment: C) => CommentView,
  isOurs: (comment: C) => boolean | Promise<boolean>,
): Promise<{ id: string; body: string } | null> {
  for await (const page of pages) {
    for (const comment of page) {
      const { id, body } = view(comment);
      if (!body?.includes(marker)) continue;
      if (await isOurs(comment)) return { id: String(id), body };
    }
  }
  return null;
}

/**
 * Pages 1, 2, ... of a numbered listing: stops after a page shorter than `pageSize`, or after
 * `maxPages` (then `onLimit` is called, so the caller can say it stopped early).
 */
export async function* numberedPages<C>(fetchPage: (page: number) => Promise<readonly C[]>, pageSize: number, maxPages: number, onLimit?: () => void): AsyncGenerator<readonly C[]> {
  for (let page = 1; page <= maxPages; page++) {
    const items = await fetchPage(page);
    yield items;
    if (items.length < pageSize) return;
  }
  onLimit?.();
}

/** Memoises an async look-up (berth's own login, an App id); a failed one is asked again next time. */
export function retryingOnce<T>(ask: () => Promise<T>): () => Promise<T> {
  let pending: Promise<T> | undefined;
  return () => {
    if (!pending) {
      pending = ask();
      pending.catch(() => (pending = undefined));
    }
    return pending;
  };
}
