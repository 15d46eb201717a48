/**
 * Keeps one status comment per PR up to date: renders from the store, edits in place, never edits
 * when the text is unchanged, and spaces edits at least `intervalMs` apart (the last state always
 * lands).
 */
import { createHash } from "node:crypto";
import type { Logger } from "pino";
import type { CodeHost } from "../domain/ports.js";
import type { HostKind } from "../domain/types.js";
import { renderStatusComment, STATUS_MARKER } from "../render/status-comment.js";
import type { PrKey } from "./records.js";
import { buildStatusView } from "./status-view.js";
import type { Store } from "./store.js";

export interface CommentPublisherOptions {
  store: Store;
  hosts: Partial<Record<HostKind, CodeHost>>;
  reportBaseUrl: string;
  intervalMs: number;
  log: Logger;
  now?: () => number;
}

interface PrState {
  dirty: boolean;
  force: boolean;
  lastEditAt?: number;
  timer?: NodeJS.Timeout;
  flushing?: Promise<void>;
}

export class CommentPublisher {
  private readonly states = new Map<PrKey, PrState>();
  private readonly now: () => number;
  private stopped = false;

  constructor(private readonly options: CommentPublisherOptions) {
    this.now = options.now ?? Date.now;
  }

  /** Ask for the PR's comment to reflect the store; `force` edits even when the text is unchanged. */
  request(prKey: PrKey, force = false): void {
    const state = this.states.get(prKey) ?? { dirty: false, force: false };
    this.states.set(prKey, state);
    state.dirty = true;
    state.force ||= force;
    this.schedule(prKey, state);
  }

  /** Wait until every requested update has been written (or failed). */
  async settle(): Promise<void> {
    for (let round = 0; round < 50; round++) {
      const busy = [...this.states.entries()].filter(([, s]) => s.dirty || s.flushing);
      if (!busy.length) return;
      for (const [key, state] of busy) {
        if (state.timer) {
          clearTimeout(state.timer);
          state.timer = undefined;
        }
        if (!state.flushing) state.flushing = this.flush(key, state);
        await state.flushing;
      }
    }
  }

  /** Stop timers (pending edits are lost only from memory; the store still has the state). */
  stop(): void {
    this.stopped = true;
    for (const state of this.states.values()) if (state.timer) clearTimeout(state.timer);
  }

  private schedule(prKey: PrKey, state: PrState): void {
    if (this.stopped || state.timer || state.flushing) return;
    const wait = state.lastEditAt === undefined ? 0 : Math.max(0, state.lastEditAt + this.options.intervalMs - this.now());
    state.timer = setTimeout(() => {
      state.timer = undefined;
      state.flushing = this.flush(prKey, state);
    }, wait);
    state.timer.unref?.();
  }

  private async flush(prKey: PrKey, state: PrState): Promise<void> {
    state.dirty = false;
    const force = state.force;
    state.force = false;
    try {
      const edited = await this.write(prKey, force);
      if (edited) state.lastEditAt = this.now();
    } catch (err) {
      this.options.log.warn({ prKey, err: String(err) }, "status comment update failed; will retry");
      state.dirty = true;
      state.lastEditAt = this.now();
    } finally {
      state.flushing = undefined;
    }
    if (state.dirty) this.schedule(prKey, state);
  }

  /** Render and write; true when an API write happened. */
  private async write(prKey: PrKey, force: boolean): Promise<boolean> {
    const { store } = this.options;
    const view = buildStatusView(store, prKey, this.options.reportBaseUrl);
    const pull = store.getPull(prKey);
    if (!view || !pull) return false;
    const host = this.options.hosts[pull.repo.host];
    if (!host) return false;
    const body = renderStatusComment(view);
    const hash = createHash("sha256").update(body).digest("hex");
    if (!force && pull.commentHash === hash) return false;

    let commentId = pull.commentId;
    if (!commentId) {
      // The store may have been lost: find our comment by its marker before creating one.
      const existing = await host.findComment(pull.repo, pull.prNumber, STATUS_MARKER);
      commentId = existing?.id;
    }
    if (commentId) {
      try {
        await host.updateComment(pull.repo, pull.prNumber, commentId, body);
      } catch (err) {
        // Somebody may have deleted the comment: post a new one only when it is really gone.
        if (await host.findComment(pull.repo, pull.prNumber, STATUS_MARKER)) throw err;
        commentId = (await host.createComment(pull.repo, pull.prNumber, body)).id;
      }
    } else {
      commentId = (await host.createComment(pull.repo, pull.prNumber, body)).id;
    }
    store.patchPull(prKey, (p) => ({ ...p, commentId, commentHash: hash }));
    this.options.log.debug({ prKey, commentId }, "status comment written");
    return true;
  }
}
