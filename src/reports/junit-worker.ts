/**
 * Worker-thread entry of {@link parseJUnitOffThread}: parses the files it was started with and
 * posts the report back. It holds no state; each call starts one worker.
 */
import { parentPort, workerData } from "node:worker_threads";
import { parseJUnit, type JUnitLimits } from "./junit.js";

const input = workerData as { files: Array<{ path: string; content: string }>; limits: JUnitLimits };
parentPort?.postMessage(parseJUnit(input.files, input.limits));
