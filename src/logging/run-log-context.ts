/**
 * The run a piece of work belongs to, for log lines written by loggers that were made before the
 * run (targets, the image builder, code-host clients). The executor runs each stage inside
 * `withRunLogContext({ runId, prKey, stage })`; the root logger's mixin (`runLogMixin`) adds those
 * fields to every line written meanwhile, unless the line's logger has them bound already.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import type { Logger } from "pino";

/** The fields every line of an executing run carries. */
export interface RunLogFields {
  runId: string;
  prKey: string;
  stage?: string;
}

const current = new AsyncLocalStorage<RunLogFields>();

/** Run `work` with these fields on every line logged inside it (and in what it starts). */
export function withRunLogContext<T>(fields: RunLogFields, work: () => T): T {
  return current.run({ ...current.getStore(), ...fields }, work);
}

/** The pino `mixin`: the current run's fields that the logger has not bound itself. */
export function runLogMixin(_merge: object, _level: number, logger?: Logger): object {
  const fields = current.getStore();
  if (!fields) return {};
  const bound = logger?.bindings() ?? {};
  const extra: Record<string, string> = {};
  for (const [key, value] of Object.entries(fields)) if (value !== undefined && !(key in bound)) extra[key] = value;
  return extra;
}
