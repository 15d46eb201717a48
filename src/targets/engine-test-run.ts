/**
 * The test stage of the Docker-engine targets (`docker`, `swarm`): both run the tests in a
 * one-shot container on the PR's network, labelled like their other objects.
 */
import type { ContainerTestRun } from "../adapters/docker/container-test-runner.js";
import type { TestRequest } from "../domain/ports.js";
import { DOCKER_LABELS, runLabels, type EngineScope } from "./engine-labels.js";

/**
 * The one-shot container run of `req` for a target: container `name` (unique per run), joining
 * the network `network` makes ready (called inside the run, so its failures end the run alike).
 */
export function engineTestRun(scope: EngineScope, req: TestRequest, name: string, network: () => Promise<string>): ContainerTestRun {
  return {
    name,
    image: req.image,
    command: req.command,
    env: req.env,
    labels: runLabels(scope, req.key, "test", req.sha, req.runId),
    runLabel: { key: DOCKER_LABELS.run, value: req.runId },
    network,
    reportsDir: req.reportsDir,
    timeoutMs: req.timeoutMs,
    signal: req.signal,
    onLog: req.onLog,
    logMeta: { key: req.key },
  };
}
