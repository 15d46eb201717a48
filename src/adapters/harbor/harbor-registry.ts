/**
 * The ArtifactRegistry port on Harbor: projects with auto-scan, scan summaries and the gate,
 * promotion by tag, and PR clean-up. Image references look like `<harbor-host>/<project>/<repo>:<tag>`.
 */
import type { Logger } from "pino";
import type { ArtifactInfo, ArtifactRegistry, RegistryCleanupResult } from "../../domain/ports.js";
import { splitImageReference } from "../docker/image-builder.js";
import { cleanUpPullRequest } from "./harbor-cleanup.js";
import type { HarborArtifact, HarborClient, HarborProject, ScanWaitResult } from "./harbor-client.js";
import { parseScanOverview } from "./scan-summary.js";
import { evaluateScanGate } from "./scan-gate.js";

export interface HarborRegistryOptions {
  client: HarborClient;
  log: Logger;
  /** Longest wait for a scan after a push. Default 5 min. */
  scanTimeoutMs?: number;
  /** Poll interval while waiting. Default 3 s. */
  scanIntervalMs?: number;
  /**
   * How long an auto-scan project may take to start a scan of a pushed artifact before berth asks
   * for one itself (Harbor's auto-scan can miss a push, e.g. while its job service restarts). Default 20 s.
   */
  scanGraceMs?: number;
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

  async inspect(imageRef: string, options: { signal: AbortSignal; failOn?: "critical" | "high" | "medium"; wait?: boolean }): Promise<ArtifactInfo> {
    const { client } = this.options;
    const { project, repository, tag } = harborCoordinates(imageRef);
    const info = await this.project(project);
    if (!info.autoScan) await client.scan(project, repository, tag);
    if (options.wait === false) {
      const artifact = await client.getArtifact(project, repository, tag, { withScanOverview: true, signal: options.signal });
      return this.artifactInfo(info, repository, artifact, options.failOn);
    }
    const waited = await this.waitForScan(info, project, repository, tag, options.signal);
    return this.artifactInfo(info, repository, waited.artifact, options.failOn);
  }

  async awaitScan(imageRef: string, options: { signal?: AbortSignal } = {}): Promise<ArtifactInfo> {
    const { project, repository, tag } = harborCoordinates(imageRef);
    const info = await this.project(project);
    const waited = await this.waitForScan(info, project, repository, tag, options.signal);
    return this.artifactInfo(info, repository, waited.artifact, undefined);
  }

  /**
   * Wait for the artifact's scan, bounded by `scanTimeoutMs`. In an auto-scan project, a scan that
   * has not started within `scanGraceMs` is asked for, so a push Harbor's auto-scan missed is still scanned.
   */
  private async waitForScan(info: HarborProject, project: string, repository: string, tag: string, signal: AbortSignal | undefined): Promise<ScanWaitResult> {
    const { client, log } = this.options;
    const timeoutMs = this.options.scanTimeoutMs ?? 300_000;
    const intervalMs = this.options.scanIntervalMs ?? 3000;
    const started = Date.now();
    const wait = (ms: number) => client.waitForScan(project, repository, tag, { timeoutMs: ms, intervalMs, ...(signal ? { signal } : {}) });
    if (!info.autoScan) return wait(timeoutMs);
    const graceMs = Math.min(this.options.scanGraceMs ?? 20_000, timeoutMs);
    const first = await wait(graceMs);
    if (first.outcome === "done") return first;
    if (first.scan.status === "NotScanned") {
      log.info({ project, repository, tag, graceMs }, "harbor auto-scan did not start a scan: asking for one");
      await client.scan(project, repository, tag);
    }
    const left = timeoutMs - (Date.now() - started);
    return left > 0 ? wait(left) : first;
  }

  private artifactInfo(info: HarborProject, repository: string, artifact: HarborArtifact, failOn: "critical" | "high" | "medium" | undefined): ArtifactInfo {
    const scan = artifact.scan ?? parseScanOverview(undefined);
    const gate = evaluateScanGate(failOn, scan);
    return {
      digest: artifact.digest,
      size: artifact.size,
      scan: {
        status: scan.status,
        critical: scan.critical,
        high: scan.high,
        medium: scan.medium,
        low: scan.low,
        unknown: scan.unknown,
        total: scan.total,
        fixable: scan.fixable,
      },
      uiUrl: this.options.client.artifactUiUrl(info.projectId, repository, artifact.digest),
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
