/**
 * A sample repository for tests of the whole pipeline, packed the way GitHub's tarball API returns
 * it (gzip'd tar, everything under `owner-repo-sha7/`).
 *
 * The app is `FROM scratch` plus a static busybox (no image can be pulled in the test
 * environment) and serves `www/index.html`, which contains the marker, with `busybox httpd` on
 * port 8080. Its berth.yml test command fetches `$PREVIEW_URL`, compares the page with the one
 * baked into the image, and writes a JUnit file to `/reports/junit/sample.xml`.
 */
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import * as tar from "tar-stream";
import type { SourceArchive } from "../../src/domain/ports.js";
import { requireServices } from "./services.js";

/**
 * - `ok`: builds, serves the marker, 2 tests pass and 1 is skipped.
 * - `failing-tests`: like `ok`, plus a failing case (with a message) and exit code 1.
 * - `broken-dockerfile`: a `RUN` step exits 3 after printing a compiler-like error.
 * - `unhealthy`: starts, but its health path answers 500 and it logs why.
 */
export type SampleVariant = "ok" | "failing-tests" | "broken-dockerfile" | "unhealthy";

/** Port the sample app listens on. */
export const SAMPLE_PORT = 8080;
/** Build arg the sample Dockerfile turns into the label `sample.greeting`. */
export const SAMPLE_BUILD_ARG = "GREETING";
/** What the unhealthy variant prints to stderr at start (tests look for it in failure messages). */
export const SAMPLE_UNHEALTHY_LOG = "sample: database unreachable, answering 500";
/** Failure message of the failing case of `failing-tests`. */
export const SAMPLE_FAILURE_MESSAGE = "expected total 119.00, got 100.00";
/** Where the sample's test command writes its JUnit file (inside `reports: /reports`). */
export const SAMPLE_REPORT_PATH = "/reports/junit/sample.xml";

export interface SampleSourceOptions {
  variant: SampleVariant;
  /** Text put into the served page. Default `berth-sample`. */
  marker?: string;
  /** Top-level folder of the archive. Default `acme-sample-<7 hex>`. */
  topFolder?: string;
  /** Static busybox to copy in. Default: the one the test services name. */
  busybox?: string;
}

function dockerfile(variant: SampleVariant): string {
  const lines = [
    "FROM scratch",
    `ARG ${SAMPLE_BUILD_ARG}=hello`,
    `LABEL sample.greeting="$${SAMPLE_BUILD_ARG}"`,
    "COPY busybox /bin/busybox",
    'RUN ["/bin/busybox", "--install", "-s", "/bin"]',
  ];
  if (variant === "broken-dockerfile") {
    lines.push('RUN echo "compiling the sample app" && echo "sample.c:3: error: expected \';\'" >&2 && exit 3');
  }
  lines.push("COPY www /www", `EXPOSE ${SAMPLE_PORT}`);
  if (variant === "unhealthy") {
    lines.push(`CMD ["sh", "-c", "echo '${SAMPLE_UNHEALTHY_LOG}' >&2; exec httpd -f -vv -p ${SAMPLE_PORT} -h /www"]`);
  } else {
    lines.push(`CMD ["httpd", "-f", "-v", "-p", "${SAMPLE_PORT}", "-h", "/www"]`);
  }
  return `${lines.join("\n")}\n`;
}

/**
 * busybox httpd sends CGI output verbatim when it starts with a status line. The bare LF line ends
 * are left as they are: sloppy servers exist, and the health probe must still read the 500.
 */
const FAILING_HEALTH_CGI = `#!/bin/sh
echo "HTTP/1.0 500 Internal Server Error"
echo "Content-Type: text/plain"
echo
echo "database unreachable"
echo "health: answered 500 (database unreachable)" >&2
`;

/** The test script of berth.yml: real checks against the preview, JUnit out, exit 1 on any failure. */
function testScript(variant: SampleVariant): string {
  const extraCase =
    variant === "failing-tests"
      ? `record "cart total includes tax" fail "${SAMPLE_FAILURE_MESSAGE}"`
      : `record "checkout flow" skip "not built yet"`;
  return `set -u
mkdir -p /reports/junit /tmp
cases=""
failures=0
skipped=0
total=0
record() {
  total=$((total + 1))
  case "$2" in
    pass) cases="$cases<testcase classname=\\"sample.preview\\" name=\\"$1\\" time=\\"0.01\\"/>" ;;
    skip) skipped=$((skipped + 1)); cases="$cases<testcase classname=\\"sample.preview\\" name=\\"$1\\"><skipped message=\\"$3\\"/></testcase>" ;;
    *) failures=$((failures + 1)); echo "FAIL $1: $3"; cases="$cases<testcase classname=\\"sample.preview\\" name=\\"$1\\" time=\\"0.01\\"><failure message=\\"$3\\">$3</failure></testcase>" ;;
  esac
}
echo "fetching $PREVIEW_URL"
# Static busybox's wget crashes in glibc's resolver: resolve with nslookup, fetch with nc.
hostport=$(echo "$PREVIEW_URL" | sed -E 's#^[a-z]+://([^/]+).*#\\1#')
host=\${hostport%%:*}
port=\${hostport##*:}
[ "$port" != "$hostport" ] || port=80
ip=$(nslookup "$host" 2>/dev/null | awk '/^Address/ { a = $NF } END { print a }')
[ -n "$ip" ] || ip=$host
printf 'GET / HTTP/1.0\\r\\nHost: %s\\r\\n\\r\\n' "$host" | nc -w 10 "$ip" "$port" > /tmp/response
tr -d '\\r' < /tmp/response | sed '1,/^$/d' > /tmp/page
if head -n 1 /tmp/response | grep -q '^HTTP/1.[01] 200'; then record "home page answers" pass; else record "home page answers" fail "GET $PREVIEW_URL failed"; fi
if cmp -s /tmp/page /www/index.html; then record "home page shows the marker" pass; else record "home page shows the marker" fail "page differs from the built one"; fi
${extraCase}
printf '<?xml version="1.0" encoding="UTF-8"?>\\n<testsuites><testsuite name="sample" tests="%s" failures="%s" errors="0" skipped="%s">%s</testsuite></testsuites>\\n' "$total" "$failures" "$skipped" "$cases" > ${SAMPLE_REPORT_PATH}
echo "tests: $total, failures: $failures, skipped: $skipped"
[ "$failures" -eq 0 ]
`;
}

/** The `.github/berth.yml` text of the sample repository. */
export function sampleRepoConfig(variant: SampleVariant): string {
  const healthPath = variant === "unhealthy" ? "/cgi-bin/health" : "/";
  const timeout = variant === "unhealthy" ? "6s" : "30s";
  const script = testScript(variant)
    .trimEnd()
    .split("\n")
    .map((line) => `      ${line}`)
    .join("\n");
  return `build:
  dockerfile: Dockerfile
  context: .
  args:
    ${SAMPLE_BUILD_ARG}: "hello from berth.yml"
preview:
  target: docker
  port: ${SAMPLE_PORT}
  healthPath: ${healthPath}
  timeout: ${timeout}
  env:
    SAMPLE_MODE: ${variant}
test:
  image: preview
  reports: /reports
  timeout: 60s
  command:
    - sh
    - -c
    - |
${script}
`;
}

/** The sample repository at one commit, as a code host's source archive. */
export async function sampleSource(options: SampleSourceOptions): Promise<SourceArchive> {
  const { variant } = options;
  const marker = options.marker ?? "berth-sample";
  const top = options.topFolder ?? `acme-sample-${Math.random().toString(16).slice(2, 9).padEnd(7, "0")}`;
  const busybox = readFileSync(options.busybox ?? requireServices().busybox);

  const pack = tar.pack();
  const dir = (name: string): void => {
    pack.entry({ name: `${top}/${name}`, type: "directory", mode: 0o755 });
  };
  const file = (name: string, content: string | Buffer, mode = 0o644): void => {
    pack.entry({ name: `${top}/${name}`, mode }, content);
  };
  dir("");
  dir(".github");
  file(".github/berth.yml", sampleRepoConfig(variant));
  file("Dockerfile", dockerfile(variant));
  file("README.md", `# sample app (${variant})\n`);
  file("busybox", busybox, 0o755);
  dir("www");
  file("www/index.html", `<!doctype html>\n<title>sample</title>\n<p id="marker">${marker}</p>\n`);
  if (variant === "unhealthy") {
    dir("www/cgi-bin");
    file("www/cgi-bin/health", FAILING_HEALTH_CGI, 0o755);
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack) chunks.push(chunk as Buffer);
  return { format: "tar.gz", data: gzipSync(Buffer.concat(chunks)) };
}
