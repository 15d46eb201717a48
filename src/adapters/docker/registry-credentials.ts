/**
 * Registry credentials and the one rule for using them: they go only to the registry they belong
 * to. Image references come from repositories (`test.image`, charts, environments), so a
 * repository must never be able to make berth log in to a host it chose.
 */

/** Credentials of one registry (BERTH_REGISTRY_USERNAME / PASSWORD, or Harbor's account). */
export interface RegistryCredentials {
  username: string;
  password: string;
  /** Host (and port) of the registry they belong to, e.g. `harbor.example.com` or `127.0.0.1:5000`. */
  registry: string;
}

/** Names Docker uses for Docker Hub. */
const DOCKER_HUB = new Set(["docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"]);

/** The registry host of a reference the way Docker decides it (`docker.io` when the first part is not a host). */
export function registryOfReference(ref: string): string {
  const first = ref.split("/")[0] ?? "";
  const isHost = ref.includes("/") && (first.includes(".") || first.includes(":") || first === "localhost");
  return isHost ? first : "docker.io";
}

function canonicalHost(host: string): string {
  const lower = host.toLowerCase();
  return DOCKER_HUB.has(lower) ? "docker.io" : lower;
}

/** Whether `ref` is an image on the registry at `registry` (host[:port]). */
export function isOnRegistry(ref: string, registry: string): boolean {
  return canonicalHost(registryOfReference(ref)) === canonicalHost(registry);
}

/**
 * The credentials to send when pulling or pushing `ref`: `credentials` when `ref` lives on their
 * registry, otherwise undefined (anonymous), whatever host the reference names.
 */
export function credentialsFor(ref: string, credentials: RegistryCredentials | undefined): RegistryCredentials | undefined {
  if (!credentials) return undefined;
  return isOnRegistry(ref, credentials.registry) ? credentials : undefined;
}

/** Docker's X-Registry-Auth body for `ref`: the credentials when they belong to its registry, else none. */
export function engineAuthFor(
  ref: string,
  credentials: RegistryCredentials | undefined,
): { username: string; password: string; serveraddress: string } | undefined {
  const own = credentialsFor(ref, credentials);
  return own ? { username: own.username, password: own.password, serveraddress: registryOfReference(ref) } : undefined;
}
