/** Result of reading one list-style server setting: a value (null = switched `off`) or why not. */
export type Parsed<T> = { ok: true; value: T | null } | { ok: false; error: string };
