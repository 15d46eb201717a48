/**
 * Open the store the settings name: PostgreSQL when a database URL is given (several replicas may
 * share it), else SQLite under the data directory (one process; a second one is refused).
 */
import type { Logger } from "pino";
import { SqliteStore } from "./store-sqlite.js";
import type { Store } from "./store.js";

export async function openStore(where: { dataDir: string; databaseUrl?: string | undefined }, log?: Logger): Promise<Store> {
  if (where.databaseUrl) {
    const { PostgresStore } = await import("./store-postgres.js");
    return PostgresStore.open(where.databaseUrl, log ? { log } : {});
  }
  return SqliteStore.open(where.dataDir);
}

export { redactDatabaseUrl } from "./database-url.js";
