/**
 * The Docker Engine API client, configured from `DOCKER_HOST` the way Docker's own clients read it.
 */
import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import Docker from "dockerode";

/** Where the engine listens when `DOCKER_HOST` is unset, as in the Docker CLI on Linux. */
const DEFAULT_SOCKET = "/var/run/docker.sock";

/** Connection settings handed to dockerode (a subset of its options, spelled out for tests). */
export interface DockerConnection {
  socketPath?: string;
  protocol?: "http" | "https";
  host?: string;
  port?: number;
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

/**
 * Parse a `DOCKER_HOST` value: `unix:///path`, `npipe:////./pipe/name`, `tcp://host:port`,
 * `http://…`, `https://…`, or a bare `host:port` (taken as tcp like the CLI does). `tcp://` speaks
 * TLS when `DOCKER_TLS_VERIFY` (or `DOCKER_TLS`) is set, with certificates from `DOCKER_CERT_PATH`
 * (default `~/.docker`). Default ports are 2375 (plain) and 2376 (TLS).
 */
export function parseDockerHost(dockerHost: string | undefined, env: NodeJS.ProcessEnv = process.env): DockerConnection {
  const value = dockerHost?.trim();
  if (!value) return { socketPath: DEFAULT_SOCKET };
  if (value.startsWith("unix://")) return { socketPath: value.slice("unix://".length) || DEFAULT_SOCKET };
  if (value.startsWith("npipe://")) return { socketPath: value.slice("npipe://".length) || "//./pipe/docker_engine" };

  const withScheme = value.includes("://") ? value : `tcp://${value}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new Error(`DOCKER_HOST '${value}' is not a valid address (expected unix:///path or tcp://host:port)`);
  }
  const scheme = url.protocol.replace(/:$/, "");
  if (!["tcp", "http", "https"].includes(scheme)) {
    throw new Error(`DOCKER_HOST scheme '${scheme}://' is not supported (use unix://, tcp://, http:// or https://)`);
  }
  if (!url.hostname) throw new Error(`DOCKER_HOST '${value}' has no host`);
  // The CLI switches tcp:// to TLS when either variable is non-empty; http:// and https:// are explicit.
  const tls = scheme === "https" || (scheme === "tcp" && Boolean(env.DOCKER_TLS_VERIFY || env.DOCKER_TLS));
  const connection: DockerConnection = {
    protocol: tls ? "https" : "http",
    // IPv6 literals come back bracketed from URL; Node's http wants them bare.
    host: url.hostname.replace(/^\[(.*)\]$/, "$1"),
    port: url.port ? Number(url.port) : tls ? 2376 : 2375,
  };
  // docker-modem resolves API paths from the root, so a base path would be dropped silently.
  if (url.pathname && url.pathname !== "/") throw new Error(`DOCKER_HOST '${value}' has a path; base paths are not supported`);
  if (tls) {
    const certDir = env.DOCKER_CERT_PATH || join(homedir(), ".docker");
    const read = (file: string): Buffer | undefined => {
      try {
        return readFileSync(join(certDir, file));
      } catch {
        return undefined;
      }
    };
    const [ca, cert, key] = [read("ca.pem"), read("cert.pem"), read("key.pem")];
    if (ca) connection.ca = ca;
    if (cert && key) {
      connection.cert = cert;
      connection.key = key;
    }
  }
  return connection;
}

/**
 * A dockerode client for `dockerHost` (default: the `DOCKER_HOST` environment variable, else the
 * local socket). Per-call timeouts are applied by the adapters, not here: a client-wide socket
 * timeout would also cut long, quiet build and log streams.
 */
export function createDockerClient(dockerHost: string | undefined = process.env.DOCKER_HOST): Docker {
  const connection = parseDockerHost(dockerHost);
  // docker-modem merges its own reading of process.env.DOCKER_HOST under ours; every key is set
  // explicitly (undefined included) so an explicit argument always wins over the environment.
  return new Docker({
    socketPath: connection.socketPath,
    host: connection.host,
    port: connection.port,
    protocol: connection.protocol,
    ca: connection.ca,
    cert: connection.cert,
    key: connection.key,
  });
}
