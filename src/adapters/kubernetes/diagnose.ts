/**
 * Why a rollout failed, in words for the status comment: the unhealthy pods' state, their events
 * and their last log lines.
 */
import type { CoreV1Event, V1ContainerStatus, V1Pod } from "@kubernetes/client-node";
import type { KubeClient } from "./kube-client.js";

/** What berth knows about one unhealthy pod. */
export interface PodDiagnosis {
  pod: string;
  phase: string;
  /** e.g. `CrashLoopBackOff: back-off 1m20s restarting failed container` */
  state: string;
  restarts: number;
  /** `Warning BackOff: Back-off restarting failed container app ...`, oldest first. */
  events: string[];
  logTail: string[];
}

function isReady(pod: V1Pod): boolean {
  return (pod.status?.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True");
}

function describeState(status: V1ContainerStatus | undefined): string {
  if (!status) return "no container status yet";
  const waiting = status.state?.waiting;
  if (waiting) return [waiting.reason ?? "Waiting", waiting.message].filter(Boolean).join(": ");
  const terminated = status.state?.terminated;
  if (terminated) return `${terminated.reason ?? "Terminated"} (exit code ${terminated.exitCode})`;
  if (status.state?.running) return status.ready ? "Running" : "Running, not ready";
  return "unknown";
}

function describeEvent(event: CoreV1Event): string {
  const count = event.count && event.count > 1 ? ` (x${event.count})` : "";
  return `${event.type ?? "Normal"} ${event.reason ?? ""}: ${event.message ?? ""}${count}`.trim();
}

/**
 * Diagnose every pod in the namespace that is neither ready nor finished (at most `maxPods`).
 * Best effort: a pod that vanishes meanwhile is skipped.
 */
export async function diagnosePods(kube: KubeClient, namespace: string, opts: { maxPods?: number; logLines?: number; eventLines?: number } = {}): Promise<PodDiagnosis[]> {
  // Test Job pods are not part of the rollout; a failed one from an earlier run must not be blamed.
  const pods = (await kube.listPods(namespace)).filter(
    (p) => p.status?.phase !== "Succeeded" && !p.metadata?.deletionTimestamp && !isReady(p) && !(p.metadata?.ownerReferences ?? []).some((o) => o.kind === "Job"),
  );
  const out: PodDiagnosis[] = [];
  for (const pod of pods.slice(0, opts.maxPods ?? 2)) {
    const name = pod.metadata?.name ?? "";
    const statuses = pod.status?.containerStatuses ?? [];
    const failing = statuses.find((s) => !s.ready) ?? statuses[0];
    const restarts = failing?.restartCount ?? 0;
    const events = (await kube.eventsFor(namespace, name).catch(() => [])).filter((e) => e.type === "Warning" || e.reason !== "Scheduled");
    let log = await kube.podLog(namespace, name, { container: failing?.name, tailLines: opts.logLines ?? 20 }).catch(() => "");
    // A crash-looping container's current instance is often empty; the last one explains the crash.
    if (log.trim() === "" && restarts > 0) {
      log = await kube.podLog(namespace, name, { container: failing?.name, tailLines: opts.logLines ?? 20, previous: true }).catch(() => "");
    }
    out.push({
      pod: name,
      phase: pod.status?.phase ?? "Unknown",
      state: describeState(failing),
      restarts,
      events: events.slice(-(opts.eventLines ?? 8)).map(describeEvent),
      logTail: log.split(/\r?\n/).filter((l) => l.trim() !== "").slice(-(opts.logLines ?? 20)),
    });
  }
  return out;
}

/** Markdown-friendly plain text of diagnoses (indented, no fences: the renderer decides). */
export function formatDiagnoses(diagnoses: readonly PodDiagnosis[]): string {
  const parts: string[] = [];
  for (const d of diagnoses) {
    parts.push(`Pod ${d.pod}: ${d.state}${d.restarts > 0 ? ` (restarts: ${d.restarts})` : ""}`);
    if (d.events.length > 0) parts.push("Events:", ...d.events.map((e) => `  ${e}`));
    if (d.logTail.length > 0) parts.push("Last log lines:", ...d.logTail.map((l) => `  ${l}`));
  }
  return parts.join("\n");
}
