/**
 * Named volumes berth made for a preview (Compose volumes, one per PR): removed by their labels
 * once the preview's containers are gone. Not found is success; a volume still in use is logged
 * and left for the next removal.
 */
import type Docker from "dockerode";
import type { Logger } from "pino";
import { engineCall, isNotFound } from "./engine-call.js";

/** Remove every volume carrying all of `labelFilters` (`key=value`); how many went. */
export async function removeLabelledVolumes(docker: Docker, labelFilters: string[], callMs: number, log: Pick<Logger, "warn">): Promise<number> {
  const { Volumes: volumes } = await engineCall("volume list", { timeoutMs: callMs }, (s) =>
    docker.listVolumes({ filters: { label: labelFilters }, abortSignal: s } as Docker.VolumeListOptions) as Promise<{ Volumes: Docker.VolumeInspectInfo[] }>,
  );
  let removed = 0;
  for (const volume of volumes ?? []) {
    try {
      await engineCall("volume remove", { timeoutMs: callMs }, (s) => docker.getVolume(volume.Name).remove({ abortSignal: s } as never) as unknown as Promise<unknown>);
      removed++;
    } catch (err) {
      if (!isNotFound(err)) log.warn({ volume: volume.Name, err: err instanceof Error ? err.message : String(err) }, "preview volume not removed");
    }
  }
  return removed;
}
