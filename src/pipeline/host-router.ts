/**
 * The host router: the one place that finds the code host serving a repository (or an event, a
 * run, a preview). A host berth is not configured for is a clear error naming it, never an
 * `undefined` each caller checks in its own way; what a host can do beyond the common port is
 * read from its declared capabilities.
 */
import type { CodeHost } from "../domain/ports.js";
import type { HostKind } from "../domain/types.js";
import { guardMethods } from "./inbox-abort.js";

/** A repository, run or preview key of a code host berth has no credentials for. */
export class HostNotConfiguredError extends Error {
  constructor(readonly host: string) {
    super(`code host ${host} is not configured on this berth server`);
    this.name = "HostNotConfiguredError";
  }
}

export class HostRouter {
  private readonly hosts: Partial<Record<HostKind, CodeHost>>;

  constructor(hosts: Partial<Record<HostKind, CodeHost>>) {
    this.hosts = { ...hosts };
  }

  /** The host serving `of` (a repository, run repo or preview key); throws HostNotConfiguredError. */
  hostOf(of: { host: HostKind }): CodeHost {
    const host = this.hosts[of.host];
    if (!host) throw new HostNotConfiguredError(of.host);
    return host;
  }

  /** The host serving `of`, or undefined when berth is not configured for it. */
  find(of: { host: HostKind }): CodeHost | undefined {
    return this.hosts[of.host];
  }

  /** Configured host kinds. */
  kinds(): HostKind[] {
    return (Object.keys(this.hosts) as HostKind[]).filter((kind) => this.hosts[kind] !== undefined);
  }

  /** The same hosts, each call racing `signal` (an event's deadline): abandoned work cannot go on calling them. */
  guarded(signal: AbortSignal): HostRouter {
    const guarded: Partial<Record<HostKind, CodeHost>> = {};
    for (const kind of this.kinds()) guarded[kind] = guardMethods(this.hosts[kind]!, signal);
    return new HostRouter(guarded);
  }
}
