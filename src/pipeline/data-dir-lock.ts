/**
 * One berth process per data directory. Two processes on one SQLite file would both execute the
 * same queued runs and events.
 *
 * The lock is an SQLite database `berth.lock` held in `locking_mode=EXCLUSIVE` after a write: the
 * operating system's file lock (fcntl), which the kernel drops when the holder dies (no stale lock to
 * clean up, no pid reuse to guess about, also across containers that share the volume). Only the
 * message for the refused process comes from a side file, `berth.lock.json`, written by the holder
 * after it got the lock (pid, host name, start time); a stale side file is never trusted for the lock.
 */
import Database from "better-sqlite3";
import { hostname } from "node:os";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

/** Who holds a data directory, as its side file says. */
export interface LockHolder {
  pid: number;
  hostname: string;
  startedAt: string;
}

/** Another process holds the data directory. */
export class DataDirLockedError extends Error {
  constructor(
    readonly dataDir: string,
    readonly holder: LockHolder | undefined,
  ) {
    const who = holder ? `berth process ${holder.pid} on ${holder.hostname} (running since ${holder.startedAt})` : "another berth process";
    super(`the data directory ${dataDir} is in use by ${who}; stop that process or give this one another BERTH_DATA_DIR`);
    this.name = "DataDirLockedError";
  }
}

/** A held data-directory lock. */
export interface DataDirLock {
  /** Release the lock (idempotent); the process ending releases it too. */
  release(): void;
}

const LOCK_FILE = "berth.lock";
const HOLDER_FILE = "berth.lock.json";

/** Take the data directory's lock at once, or throw DataDirLockedError naming the holder. */
export function lockDataDir(dataDir: string): DataDirLock {
  // timeout 0: a held lock answers SQLITE_BUSY at once instead of after better-sqlite3's 5 s default.
  const db = new Database(join(dataDir, LOCK_FILE), { timeout: 0 });
  try {
    db.pragma("locking_mode = EXCLUSIVE");
    db.pragma("journal_mode = DELETE");
    // The first write in exclusive mode takes the EXCLUSIVE file lock and keeps it until close.
    db.exec("CREATE TABLE IF NOT EXISTS holder (id INTEGER PRIMARY KEY CHECK (id = 1), pid INTEGER NOT NULL, started_at TEXT NOT NULL)");
    db.prepare("INSERT INTO holder (id, pid, started_at) VALUES (1, ?, ?) ON CONFLICT(id) DO UPDATE SET pid = excluded.pid, started_at = excluded.started_at").run(process.pid, new Date().toISOString());
  } catch (err) {
    db.close();
    if (isBusy(err)) throw new DataDirLockedError(dataDir, readHolder(dataDir));
    throw err;
  }
  const holder: LockHolder = { pid: process.pid, hostname: hostname(), startedAt: new Date().toISOString() };
  writeFileSync(join(dataDir, HOLDER_FILE), `${JSON.stringify(holder)}\n`);
  let held = true;
  return {
    release() {
      if (!held) return;
      held = false;
      rmSync(join(dataDir, HOLDER_FILE), { force: true });
      db.close();
    },
  };
}

function isBusy(err: unknown): boolean {
  const code = (err as { code?: unknown }).code;
  return code === "SQLITE_BUSY" || code === "SQLITE_LOCKED";
}

/** The holder's side file, if readable and well-formed. */
function readHolder(dataDir: string): LockHolder | undefined {
  try {
    const parsed = JSON.parse(readFileSync(join(dataDir, HOLDER_FILE), "utf8")) as Partial<LockHolder>;
    if (typeof parsed.pid === "number" && typeof parsed.hostname === "string" && typeof parsed.startedAt === "string") {
      return { pid: parsed.pid, hostname: parsed.hostname, startedAt: parsed.startedAt };
    }
  } catch {
    // No side file yet (the holder is between taking the lock and writing it) or an unreadable one.
  }
  return undefined;
}
