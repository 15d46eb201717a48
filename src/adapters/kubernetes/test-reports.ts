/**
 * Getting JUnit reports out of a Kubernetes Job. Files in a finished pod cannot be copied without
 * `exec` (and a finished container cannot be exec'd at all), so the test container runs the test
 * command under a small fixed POSIX `sh` wrapper: it runs the command as an argv ("$@", never
 * interpolated), then prints every `*.xml` under the reports directory to stdout, base64-encoded
 * between marker lines that carry a per-run nonce, and exits with the command's own exit code.
 * berth reads the container log and splits it back into the test output and the report files.
 *
 * Needs `sh`, `find` and `base64` in the test image (busybox, Alpine, Debian, ... all have them).
 * An image without a shell can set `wrapper: false` in the target options: tests still run and
 * report their exit code and log, without report files.
 */

/** Marker prefix; lines are `@@berth-report-begin <nonce> <base64 path>` and `@@berth-report-end <nonce>`. */
const BEGIN = "@@berth-report-begin";
const END = "@@berth-report-end";

/** Most report files read from one run. */
export const MAX_REPORT_FILES = 200;

/**
 * The wrapper. Paths and the nonce come from the environment (BERTH_REPORTS_DIR,
 * BERTH_REPORT_NONCE), never from text spliced into the script.
 */
export const REPORT_WRAPPER_SCRIPT = [
  '"$@"',
  "code=$?",
  'dir="${BERTH_REPORTS_DIR:-}"',
  'if [ -n "$dir" ] && [ -d "$dir" ]; then',
  `  find "$dir" -type f -name '*.xml' 2>/dev/null | head -n ${MAX_REPORT_FILES} | while IFS= read -r f; do`,
  `    printf '\\n%s %s %s\\n' '${BEGIN}' "$BERTH_REPORT_NONCE" "$(printf %s "$f" | base64 | tr -d '\\n')"`,
  '    base64 < "$f"',
  `    printf '%s %s\\n' '${END}' "$BERTH_REPORT_NONCE"`,
  "  done",
  "fi",
  'exit "$code"',
].join("\n");

/** argv of the test container: the wrapper with the test command as its positional arguments. */
export function wrapTestCommand(command: readonly string[]): string[] {
  return ["/bin/sh", "-c", REPORT_WRAPPER_SCRIPT, "berth-test", ...command];
}

/** Report files and the remaining output lines of a wrapped test container log. */
export interface ParsedTestLog {
  reports: Array<{ path: string; content: string }>;
  /** Output lines with the report blocks removed. */
  lines: string[];
}

/**
 * Split a container log into test output and report files. Blocks with another nonce (printed by
 * the test itself) are left as ordinary output; an unterminated block is dropped.
 */
export function parseTestLog(log: string, nonce: string): ParsedTestLog {
  const reports: ParsedTestLog["reports"] = [];
  const lines: string[] = [];
  let current: { path: string; chunks: string[] } | null = null;
  const all = log.split(/\r?\n/);
  if (all.at(-1) === "") all.pop();
  for (const line of all) {
    if (current) {
      if (line === `${END} ${nonce}`) {
        if (reports.length < MAX_REPORT_FILES) reports.push({ path: current.path, content: Buffer.from(current.chunks.join(""), "base64").toString("utf8") });
        current = null;
      } else {
        current.chunks.push(line.trim());
      }
      continue;
    }
    const begin = line.startsWith(`${BEGIN} ${nonce} `) ? line.slice(`${BEGIN} ${nonce} `.length).trim() : null;
    if (begin !== null) {
      current = { path: Buffer.from(begin, "base64").toString("utf8"), chunks: [] };
      // The wrapper starts each block on a fresh line; drop the blank line it printed for that.
      if (lines.at(-1) === "") lines.pop();
      continue;
    }
    lines.push(line);
  }
  return { reports, lines };
}
