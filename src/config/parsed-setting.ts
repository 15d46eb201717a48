/**
 * List-style server settings (`name=value,name=value`, or `off`): one reader for all of them.
 */

/** Result of reading one list-style server setting: a value (null = switched `off`) or why not. */
export type Parsed<T> = { ok: true; value: T | null } | { ok: false; error: string };

/**
 * `undefined` → `fallback`; `off` → null; otherwise the `name=value` pairs go to `read`.
 * `valueWord` names the value in the error for an item without `=` (`"pods" is not name=quantity`).
 */
export function parseListSetting<T>(text: string | undefined, fallback: T, valueWord: string, read: (pairs: Array<[string, string]>) => Parsed<T>): Parsed<T> {
  if (text === undefined) return { ok: true, value: fallback };
  if (text.trim().toLowerCase() === "off") return { ok: true, value: null };
  const pairs: Array<[string, string]> = [];
  for (const item of text.split(",").map((p) => p.trim()).filter(Boolean)) {
    const eq = item.indexOf("=");
    if (eq <= 0) return { ok: false, error: `"${item}" is not name=${valueWord}` };
    pairs.push([item.slice(0, eq).trim(), item.slice(eq + 1).trim()]);
  }
  if (pairs.length === 0) return { ok: false, error: "empty; use off to disable" };
  return read(pairs);
}
