/**
 * Connection details of the integration services started by `scripts/services.sh start`.
 * Integration tests call this at load time: when the services are not there it throws, so a missing
 * engine fails the run instead of silently skipping tests.
 */
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

export interface TestServices {
  /** DOCKER_HOST of the private test engine (Swarm manager too). */
  dockerHost: string;
  /** `127.0.0.1:<port>` of the plain-HTTP registry. */
  registry: string;
  /** Path of a statically linked busybox, copied into FROM-scratch test images. */
  busybox: string;
}

const envFile = fileURLToPath(new URL("../../.tmp/services/env", import.meta.url));

function readEnvFile(): Record<string, string> {
  if (!existsSync(envFile)) return {};
  const out: Record<string, string> = {};
  for (const line of readFileSync(envFile, "utf8").split("\n")) {
    const match = /^export ([A-Z_]+)=(.*)$/.exec(line.trim());
    if (match?.[1] && match[2] !== undefined) out[match[1]] = match[2];
  }
  return out;
}

/** The running test services; throws with the command to run when they are missing. */
export function requireServices(): TestServices {
  const file = readEnvFile();
  const dockerHost = process.env.BERTH_TEST_DOCKER_HOST ?? file.BERTH_TEST_DOCKER_HOST;
  const registry = process.env.BERTH_TEST_REGISTRY ?? file.BERTH_TEST_REGISTRY;
  const busybox = process.env.BERTH_TEST_BUSYBOX ?? file.BERTH_TEST_BUSYBOX ?? "/bin/busybox";
  if (!dockerHost || !registry) {
    throw new Error(
      "integration services are not running: run `bash scripts/services.sh start` (npm test does this for you)",
    );
  }
  return { dockerHost, registry, busybox };
}

/** URL of the test PostgreSQL database (`BERTH_TEST_DATABASE_URL`, else the env file); undefined when not started. */
export function testDatabaseUrl(): string | undefined {
  return process.env.BERTH_TEST_DATABASE_URL ?? readEnvFile().BERTH_TEST_DATABASE_URL;
}
