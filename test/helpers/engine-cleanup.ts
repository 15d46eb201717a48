/**
 * Removing what one test file left on the shared Docker engine: only objects berth labelled with
 * that file's own code host id, never another test's.
 */
import type Docker from "dockerode";

/** Force-remove the containers and networks berth made for `host`. */
export async function removeHostObjects(docker: Docker, host: string): Promise<void> {
  const labels = ["berth.managed=true", `berth.host=${host}`];
  const containers = await docker.listContainers({ all: true, filters: { label: labels } });
  await Promise.all(containers.map((c) => docker.getContainer(c.Id).remove({ force: true })));
  const networks = await docker.listNetworks({ filters: { label: labels } });
  await Promise.all(networks.map((n) => docker.getNetwork(n.Id).remove().catch(() => undefined)));
}
