/**
 * The ArtifactRegistry port on Harbor: projects with auto-scan, scan summaries and the gate,
 * promotion by tag, and PR clean-up. Image references look like `<harbor-host>/<project>/<repo>:<tag>`.
 */
import type { Logger } from "pino";
import type { ArtifactInfo, ArtifactRegistry, RegistryCleanupResult } from "../../domain/ports.js";
import { splitImageReference } from "../docker/image-builder.js";
import { cleanUpPullRequest } from "./harbor-cleanup.js";
import type { HarborClient, HarborProject } from "./harbor-client.js";
import { evaluateScanGate } from "./scan-gate.js";

export interface HarborRegistryOptions {
  client: HarborClient;
  log: Logger;
  /** Longest wait for a scan after a push. Default 5 min. */
  scanTimeoutMs?: number;
  /** Poll interval while waiting. Default 3 s. */
  scanIntervalMs?: number;
}

/** `host/project/a/b:tag` → project `project`, repository `a/b`, tag `tag`. */
export function harborCoordinates(imageRef: string): { project: string; repository: string; tag: string } {
  const { repository: full, tag } = splitImageReference(imageRef);
  const [, project, ...rest] = full.split("/");
  if (!project || rest.length === 0) {
    throw new Error(`image ${imageRef} has no Harbor project: BERTH_REGISTRY must be <harbor-host>/<project>`);
  }
  return { project, repository: rest.join("/"), tag };
}

export class HarborRegistry implements ArtifactRegistry {
  private readonly projects = new Map<string, Promise<HarborProject>>();

  constructor(private readonly options: HarborRegistryOptions) {}

  async prepare(imageRef: string): Promise<void> {
    await this.project(harborCoordinates(imageRef).project);
  }

  async inspect(imageRef: string, options: { signal: AbortSignal; failOn?: "critical" | "high" | "medium" }): Promise<ArtifactInfo> {
    const { client } = this.options;
    const { project, repository, tag } = harborCoordinates(imageRef);
    const info = await this.project(project);
    if (!info.autoScan) await client.scan(project, repository, tag);
    const waited = await client.waitForScan(project, repository, tag, {
      timeoutMs: this.options.scanTimeoutMs ?? 300_000,
      intervalMs: this.options.scanIntervalMs ?? 3000,
      signal: options.signal,
    });
    const gate = evaluateScanGate(options.failOn, waited.scan);
    return {
      digest: waited.artifact.digest,
      size: waited.artifact.size,
      scan: {
        status: waited.scan.status,
        critical: waited.scan.critical,
        high: waited.scan.high,
        medium: waited.scan.medium,
        low: waited.scan.low,
        unknown: waited.scan.unknown,
        total: waited.scan.total,
        fixable: waited.scan.fixable,
      },
      uiUrl: client.artifactUiUrl(info.projectId, repository, waited.artifact.digest),
      gate: { pass: gate.pass, reason: gate.reason },
    };
  }

  async promote(existingRef: string, newRef: string): Promise<boolean> {
    const from = harborCoordinates(existingRef);
    const to = harborCoordinates(newRef);
    if (from.project !== to.project || from.repository !== to.repository) return false;
    const artifact = await this.options.client.findArtifact(from.project, from.repository, from.tag);
    if (!artifact) return false;
    await this.options.client.addTag(to.project, to.repository, artifact.digest, to.tag);
    this.options.log.info({ from: existingRef, to: newRef, digest: artifact.digest }, "image promoted in Harbor without a rebuild");
    return true;
  }

  async cleanupPullRequest(repositoryRef: string, prNumber: number): Promise<RegistryCleanupResult> {
    const { project, repository } = harborCoordinates(`${repositoryRef}:cleanup`);
    const result = await cleanUpPullRequest(this.options.client, { project, repository }, prNumber, this.options.log);
    if (result.failures.length) throw new Error(`Harbor clean-up of PR ${prNumber} left ${result.failures.length} item(s): ${result.failures.map((f) => `${f.tag ?? f.digest}: ${f.error}`).join("; ")}`);
    return { removedTags: result.removedTags.length, deletedArtifacts: result.deletedArtifacts.length, keptTags: [] };
  }

  private project(name: string): Promise<HarborProject> {
    let pending = this.projects.get(name);
    if (!pending) {
      pending = this.options.client.ensureProject(name, { autoScan: true });
      // A failure is not cached: the next push asks again.
      pending.catch(() => this.projects.delete(name));
      this.projects.set(name, pending);
    }
    return pending;
  }
}
