/**
 * Container chores on a Docker engine that the Docker and Swarm targets and the one-shot test
 * runner share: pull an image the engine lacks, create a container (replacing a leftover of the
 * same run), list containers by label, read a container's last log lines, force-remove a
 * container. Names, labels and specs come from the caller.
 */
import type { Readable } from "node:stream";
import type Docker from "dockerode";
import type { Logger } from "pino";
import type { Redactor } from "../../domain/redact.js";
import { engineCall, engineMessage, isNotFound, statusCodeOf } from "./engine-call.js";
import { splitImageReference } from "./image-builder.js";
import { demuxLogBuffer } from "./log-lines.js";
import { engineAuthFor, type RegistryCredentials } from "./registry-credentials.js";
import { messageError, readProgress } from "./progress-stream.js";

/** Time limits of the engine calls. */
export interface EngineContainersTimeouts {
  /** Short calls: create, inspect, remove. */
  callMs: number;
  /** Pulling an image the engine does not have. */
  pullMs: number;
}

export interface EngineContainersOptions {
  docker: Docker;
  log: Pick<Logger, "debug" | "info" | "warn" | "error">;
  redact: Redactor;
  /** Sent only when an image must be pulled from the registry they belong to. */
  registryAuth?: RegistryCredentials | undefined;
  timeouts: EngineContainersTimeouts;
}

/**
 * Label key/value identifying a run: a container of the same name carrying it (left by an
 * interrupted attempt of the same run) is replaced; any other holder of the name is an error.
 */
export interface RunLabel {
  key: string;
  value: string;
}

/**
 * The last `lines` lines of a container's or task's logs as the engine returns them (the 8-byte
 * frames of a non-TTY container), each redacted.
 */
export function logTailLines(data: Buffer | string, lines: number, redact: Redactor): string[] {
  return demuxLogBuffer(Buffer.isBuffer(data) ? data : Buffer.from(String(data)), redact).slice(-lines);
}

/** Pull, create and remove containers on one engine. */
export class EngineContainers {
  private readonly docker: Docker;
  private readonly log: EngineContainersOptions["log"];
  private readonly redact: Redactor;
  private readonly registryAuth: RegistryCredentials | undefined;
  private readonly timeouts: EngineContainersTimeouts;

  constructor(options: EngineContainersOptions) {
    this.docker = options.docker;
    this.log = options.log;
    this.redact = options.redact;
    this.registryAuth = options.registryAuth;
    this.timeouts = options.timeouts;
  }

  /** Make sure the engine has `image`, pulling it when it does not (test images like `node:20`). */
  async ensureImage(image: string, signal: AbortSignal, emit: (line: string) => void): Promise<void> {
    try {
      await engineCall("image inspect", this.call(signal), () => this.docker.getImage(image).inspect());
      return;
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    emit(`pulling ${image}`);
    const { repository, tag } = splitImageReference(image);
    const auth = engineAuthFor(image, this.registryAuth);
    await engineCall("image pull", { timeoutMs: this.timeouts.pullMs, signal }, async (s) => {
      const stream = (await this.docker.createImage(auth ?? {}, { fromImage: repository, tag, abortSignal: s })) as Readable;
      for await (const message of readProgress(stream)) {
        const error = messageError(message);
        if (error) throw new Error(`image ${image} is not on the engine and could not be pulled: ${this.redact(error)}`);
      }
    });
  }

  /**
   * Create a container named `name`. A container of the same name carrying `runLabel` (left by an
   * interrupted attempt of the same run) is replaced; any other holder of the name is an error.
   */
  async create(name: string, spec: Docker.ContainerCreateOptions, runLabel: RunLabel, signal: AbortSignal): Promise<Docker.Container> {
    const create = (): Promise<Docker.Container> =>
      engineCall("container create", this.call(signal), (s) => this.docker.createContainer({ ...spec, name, abortSignal: s }));
    try {
      return await create();
    } catch (err) {
      if (statusCodeOf(err) !== 409) throw err;
      const existing = await engineCall("container inspect", this.call(signal), () => this.docker.getContainer(name).inspect());
      if (existing.Config.Labels?.[runLabel.key] !== runLabel.value) throw err;
      await this.remove(existing.Id);
      return create();
    }
  }

  /** The containers (running or not) carrying all these labels (`key=value`). */
  list(labelFilters: string[]): Promise<Docker.ContainerInfo[]> {
    return engineCall("container list", this.call(), (s) =>
      this.docker.listContainers({ all: true, filters: { label: labelFilters }, abortSignal: s }),
    );
  }

  /** The last `lines` lines of a container's output, redacted; empty when they cannot be read. */
  async logTail(id: string, lines: number): Promise<string[]> {
    try {
      const data = await engineCall("container logs", this.call(), (s) =>
        this.docker.getContainer(id).logs({ stdout: true, stderr: true, follow: false, tail: lines, abortSignal: s }),
      );
      return logTailLines(data, lines, this.redact);
    } catch (err) {
      this.log.warn({ container: id, error: engineMessage(err) }, "could not read container logs");
      return [];
    }
  }

  /** Force-remove a container (id or name). Returns false when it did not exist. Never throws. */
  async remove(idOrName: string): Promise<boolean> {
    try {
      await engineCall("container remove", this.call(), (s) => this.docker.getContainer(idOrName).remove({ force: true, v: true, abortSignal: s }));
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      // 409 "removal already in progress" means it is going away anyway.
      if (statusCodeOf(err) === 409) return true;
      this.log.warn({ container: idOrName, error: engineMessage(err) }, "could not remove container");
      return false;
    }
  }

  private call(signal?: AbortSignal): { timeoutMs: number; signal?: AbortSignal | undefined } {
    return { timeoutMs: this.timeouts.callMs, signal };
  }
}
