/**
 * The store adapters that tests run the port's contract against: SQLite in a fresh temporary data
 * directory, and PostgreSQL in a fresh database of the test cluster (`BERTH_TEST_DATABASE_URL`,
 * written by `scripts/services.sh start`). In CI a missing database fails the PostgreSQL tests;
 * elsewhere they are skipped with the reason.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { PostgresStore } from "../../src/pipeline/store-postgres.js";
import { SqliteStore } from "../../src/pipeline/store-sqlite.js";
import type { Store } from "../../src/pipeline/store.js";
import { testDatabaseUrl } from "./services.js";

export interface StoreBackend {
  name: "sqlite" | "postgres";
  /** Why this backend's tests do not run here; undefined when they do. */
  skip?: string;
  /** A fresh, empty store. */
  open(): Promise<Store>;
  /** Stores of several replicas sharing one fresh database, opened at once (only backends that allow several processes). */
  replicas?(count: number): Promise<Store[]>;
}

const tempDirs: string[] = [];
const databases: string[] = [];
let admin: pg.Pool | undefined;

const sqlite: StoreBackend = {
  name: "sqlite",
  async open() {
    const dir = mkdtempSync(join(tmpdir(), "berth-store-"));
    tempDirs.push(dir);
    return await SqliteStore.open(dir);
  },
};

function adminPool(url: string): pg.Pool {
  admin ??= new pg.Pool({ connectionString: url, max: 2 });
  return admin;
}

/** Create an empty database beside the test database; its URL. */
async function freshDatabase(url: string): Promise<string> {
  const name = `berth_t_${randomBytes(6).toString("hex")}`;
  // CREATE DATABASE takes no parameters: the name is generated here and quoted.
  await adminPool(url).query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`);
  databases.push(name);
  const next = new URL(url);
  next.pathname = `/${name}`;
  return next.toString();
}

function postgresBackend(): StoreBackend {
  const url = testDatabaseUrl();
  if (!url) {
    const missing = "BERTH_TEST_DATABASE_URL is not set: run `bash scripts/services.sh start` (npm test does) to start the test PostgreSQL";
    if (process.env.CI === "true") {
      // CI must run them: every PostgreSQL test fails with the reason.
      return {
        name: "postgres",
        open: () => Promise.reject(new Error(missing)),
        replicas: () => Promise.reject(new Error(missing)),
      };
    }
    return { name: "postgres", skip: `postgres store tests skipped: ${missing}`, open: () => Promise.reject(new Error(missing)) };
  }
  return {
    name: "postgres",
    async open() {
      return PostgresStore.open(await freshDatabase(url));
    },
    async replicas(count) {
      const shared = await freshDatabase(url);
      return Promise.all(Array.from({ length: count }, () => PostgresStore.open(shared)));
    },
  };
}

/** Every adapter of the store port; a skipped one says why once. */
export const storeBackends: StoreBackend[] = [sqlite, postgresBackend()];

for (const backend of storeBackends) if (backend.skip) console.warn(backend.skip);

/** Drop the databases and remove the directories the backends made (after the stores are closed). */
export async function cleanupStoreBackends(): Promise<void> {
  for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  if (admin) {
    for (const name of databases.splice(0)) await admin.query(`DROP DATABASE IF EXISTS ${pg.escapeIdentifier(name)} WITH (FORCE)`);
    await admin.end();
    admin = undefined;
  }
}
