/**
 * Which repositories a signed-in user may see: asked of the code host with the user's own token
 * (`OAuthProvider.canRead`), each answer kept briefly (60 s by default) so a page listing many
 * repositories does not ask again on every load. The dashboard admin sees every repository; a user
 * of one host sees none of another's. A failed question counts as "no" and is not kept.
 */
import { createHash } from "node:crypto";
import type { HostKind } from "../../domain/types.js";
import type { SignedInUser } from "./session.js";

export interface RepoName {
  host: HostKind;
  owner: string;
  name: string;
}

export type ReadCheck = (host: HostKind, token: string, owner: string, name: string) => Promise<boolean>;

export interface RepoAccessOptions {
  check: ReadCheck;
  /** How long an answer is kept (ms). */
  ttlMs?: number;
  /** Answers kept at most; the oldest go first. */
  maxEntries?: number;
  now?: () => number;
}

export class RepoAccess {
  private readonly answers = new Map<string, { readable: boolean; until: number }>();
  private readonly ttlMs: number;
  private readonly maxEntries: number;
  private readonly now: () => number;

  constructor(private readonly options: RepoAccessOptions) {
    this.ttlMs = options.ttlMs ?? 60_000;
    this.maxEntries = options.maxEntries ?? 10_000;
    this.now = options.now ?? Date.now;
  }

  async canRead(user: SignedInUser, repo: RepoName): Promise<boolean> {
    if (user.kind === "admin") return true;
    if (user.host !== repo.host) return false;
    // The token itself is not kept as a key: its digest is.
    const key = `${createHash("sha256").update(user.token).digest("base64url")}\u0000${repo.host}:${repo.owner}/${repo.name}`;
    const now = this.now();
    const known = this.answers.get(key);
    if (known && known.until > now) return known.readable;
    let readable: boolean;
    try {
      readable = await this.options.check(repo.host, user.token, repo.owner, repo.name);
    } catch {
      return false;
    }
    this.answers.delete(key);
    this.answers.set(key, { readable, until: now + this.ttlMs });
    while (this.answers.size > this.maxEntries) this.answers.delete(this.answers.keys().next().value!);
    return readable;
  }

  /** The repositories of `repos` the user can read, in order (each asked at most once). */
  async readable<R extends RepoName>(user: SignedInUser, repos: readonly R[]): Promise<R[]> {
    const verdicts = await Promise.all(repos.map((repo) => this.canRead(user, repo)));
    return repos.filter((_, i) => verdicts[i]);
  }
}
