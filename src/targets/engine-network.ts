/**
 * The per-PR network of the Docker-engine targets (`docker`: a bridge network, `swarm`: an
 * attachable overlay network): made when missing, reused when it is the key's own, refused when
 * an object of another owner holds its name, and removed in the way each target needs.
 */
import type Docker from "dockerode";
import type { Logger } from "pino";
import { engineCall, engineMessage, isNotFound, statusCodeOf } from "../adapters/docker/engine-call.js";
import type { PreviewKey } from "../domain/ports.js";
import { DeployFailure } from "./engine-deploy.js";
import { foreignObjectError, isOwnObject, keyLabels, type EngineScope } from "./engine-labels.js";

/** Pause between attempts to remove a network Swarm still counts as used. */
const RETRY_MS = 500;

/** The network a target wants: a bridge on one engine, or an overlay that containers can attach to. */
export type NetworkKind = { driver: "bridge" } | { driver: "overlay"; attachable: true };

export interface EngineNetworksOptions {
  docker: Docker;
  scope: EngineScope;
  kind: NetworkKind;
  log: Pick<Logger, "debug" | "info" | "warn" | "error">;
  /** Limit of each engine call. */
  callMs: number;
}

/** What berth reads of a network (`GET /networks/{id}`). */
interface NetworkInfo {
  Labels?: Record<string, string>;
  Driver?: string;
  Attachable?: boolean;
  Containers?: Record<string, unknown>;
}

/** The PR networks of one target on one engine. */
export class EngineNetworks {
  private readonly docker: Docker;
  private readonly scope: EngineScope;
  private readonly kind: NetworkKind;
  private readonly log: EngineNetworksOptions["log"];
  private readonly callMs: number;

  constructor(options: EngineNetworksOptions) {
    this.docker = options.docker;
    this.scope = options.scope;
    this.kind = options.kind;
    this.log = options.log;
    this.callMs = options.callMs;
  }

  /**
   * The key's network `name`, created when missing; `created` tells whether this call made it. A
   * network of that name with other labels is refused (never adopted); one of the wrong kind is a
   * {@link DeployFailure}.
   */
  async ensure(name: string, key: PreviewKey, signal: AbortSignal): Promise<{ name: string; created: boolean }> {
    const existing = await this.inspect(name, signal);
    if (existing) {
      this.checkOwn(existing, name, key);
      return { name, created: false };
    }
    const attachable = this.kind.driver === "overlay" ? { Attachable: true } : {};
    try {
      await engineCall("network create", this.call(signal), (s) =>
        this.docker.createNetwork({ Name: name, Driver: this.kind.driver, ...attachable, CheckDuplicate: true, Labels: keyLabels(this.scope, key, "network"), abortSignal: s }),
      );
      this.log.info({ network: name, key }, "preview network created");
      return { name, created: true };
    } catch (err) {
      // Created meanwhile by another call for the same PR: that network serves as well.
      if (statusCodeOf(err) !== 409) throw err;
      const raced = await this.inspect(name, signal);
      if (!raced) throw foreignObjectError("network", name, key);
      this.checkOwn(raced, name, key);
      return { name, created: false };
    }
  }

  /** The target's networks carrying all these labels (`key=value`). */
  list(labelFilters: string[]): Promise<Docker.NetworkInspectInfo[]> {
    return engineCall("network list", this.call(), (s) =>
      this.docker.listNetworks({ filters: { label: labelFilters }, abortSignal: s } as Docker.NetworkListOptions),
    );
  }

  /**
   * Remove a network, disconnecting anything still attached (a container someone attached by
   * hand). Returns false when it did not exist.
   */
  async remove(id: string): Promise<boolean> {
    const network = this.docker.getNetwork(id);
    try {
      await engineCall("network remove", this.call(), (s) => network.remove({ abortSignal: s }));
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      const info = (await engineCall("network inspect", this.call(), () => network.inspect()).catch(() => undefined)) as NetworkInfo | undefined;
      const attached = Object.keys(info?.Containers ?? {});
      if (attached.length === 0) throw err;
      for (const container of attached) {
        await engineCall("network disconnect", this.call(), () => network.disconnect({ Container: container, Force: true })).catch(() => undefined);
      }
      await engineCall("network remove", this.call(), (s) => network.remove({ abortSignal: s }));
      return true;
    }
  }

  /**
   * Remove a network, retrying until `deadline` while the engine still counts it as used (a Swarm
   * service being torn down). Returns false when it did not exist.
   */
  async removeWhenFree(id: string, deadline: number): Promise<boolean> {
    for (;;) {
      try {
        await engineCall("network remove", this.call(), (s) => this.docker.getNetwork(id).remove({ abortSignal: s }));
        return true;
      } catch (err) {
        if (isNotFound(err)) return false;
        if (Date.now() >= deadline) throw err;
        this.log.debug({ network: id, error: engineMessage(err) }, "network still in use; retrying");
        await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
      }
    }
  }

  /** Remove a network this run created when nothing uses it any more (a first deploy that failed). Never throws. */
  async dropIfUnused(name: string): Promise<void> {
    try {
      await engineCall("network remove", this.call(), (s) => this.docker.getNetwork(name).remove({ abortSignal: s }));
    } catch (err) {
      // In use (a test container of another run, a preview) or gone already: leave it to remove().
      this.log.debug({ network: name, error: engineMessage(err) }, "network kept");
    }
  }

  private checkOwn(info: NetworkInfo, name: string, key: PreviewKey): void {
    if (!isOwnObject(info.Labels, this.scope, key)) throw foreignObjectError("network", name, key);
    if (this.kind.driver === "overlay" && (info.Driver !== "overlay" || !info.Attachable)) {
      throw new DeployFailure(`network ${name} exists but is not an attachable overlay network (driver ${info.Driver})`);
    }
  }

  /** A network, or undefined when there is none of that name. */
  private async inspect(name: string, signal: AbortSignal): Promise<NetworkInfo | undefined> {
    try {
      return (await engineCall("network inspect", this.call(signal), () => this.docker.getNetwork(name).inspect())) as NetworkInfo;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  private call(signal?: AbortSignal): { timeoutMs: number; signal?: AbortSignal | undefined } {
    return { timeoutMs: this.callMs, signal };
  }
}
