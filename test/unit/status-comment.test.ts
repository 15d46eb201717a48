import { describe, expect, it } from "vitest";
import { renderStatusComment, type StatusView } from "../../src/render/status-comment.js";

const SHA = "abcdef0123456789abcdef0123456789abcdef01";

function view(patch: Partial<StatusView>): StatusView {
  return { headSha: SHA, reportBaseUrl: "https://berth.example.com/reports", testsConfigured: true, ...patch };
}

describe("renderStatusComment", () => {
  it("renders a queued run with its position", () => {
    expect(
      renderStatusComment(
        view({
          run: {
            id: "r1",
            sha: SHA,
            trigger: "push",
            status: "queued",
            queuePosition: 3,
            stages: [
              { name: "build", state: "queued", detail: {} },
              { name: "deploy", state: "queued", detail: {} },
              { name: "test", state: "queued", detail: {} },
            ],
          },
        }),
      ),
    ).toBe(`<!-- berth:status -->
### berth · preview of \`abcdef0\`

| Stage | Status | Time | Details |
| --- | --- | --- | --- |
| build | ⏳ queued (position 3) |  |  |
| deploy | ⏳ queued |  |  |
| test | ⏳ queued |  |  |

**Preview:** none running

<sub>berth run \`r1\` · trigger \`push\` · comment \`/help\` for commands</sub>`);
  });

  it("renders a finished run with image, preview, tests, failures and a collapsed log", () => {
    expect(
      renderStatusComment(
        view({
          preview: { url: "http://127.0.0.1:32768/", sha: SHA },
          run: {
            id: "r2",
            sha: SHA,
            trigger: "/deploy",
            status: "failed",
            stages: [
              { name: "build", state: "passed", durationMs: 12_300, detail: { image: { ref: "127.0.0.1:5000/previews/acme-app:pr-7-abcdef0", digest: `sha256:${"9".repeat(64)}`, pushed: true } } },
              { name: "deploy", state: "passed", durationMs: 2100, detail: { preview: { url: "http://127.0.0.1:32768/", internalUrl: "http://x:8080" }, logId: "aabbccddeeff0011" } },
              {
                name: "test",
                state: "failed",
                durationMs: 65_000,
                detail: {
                  tests: { total: 3, passed: 1, failed: 1, skipped: 1, firstFailures: [{ name: "api › login | admin", message: "expected <200> got 500 @here" }], reportId: "0011223344556677", exitCode: 1, timedOut: false },
                  reason: "test command exited with 1; 1 failing test",
                  logTail: ["ok 1", "not ok 2 ```boom```"],
                },
              },
            ],
          },
        }),
      ),
    ).toBe(`<!-- berth:status -->
### berth · preview of \`abcdef0\`

| Stage | Status | Time | Details |
| --- | --- | --- | --- |
| build | ✅ passed | 12s | \`127.0.0.1:5000/previews/acme-app:pr-7-abcdef0\` · \`sha256:999999999999…\` |
| deploy | ✅ passed | 2s | http://127.0.0.1:32768/ · [log](https://berth.example.com/reports/logs/aabbccddeeff0011) |
| test | ❌ failed | 1m 05s | 1 passed, 1 failed, 1 skipped · [report](https://berth.example.com/reports/0011223344556677) · exit code 1 · test command exited with 1; 1 failing test |

**Preview:** http://127.0.0.1:32768/ (commit \`abcdef0\`)

**Failing tests**
- \`api › login | admin\`: expected &lt;200&gt; got 500 @\u200bhere

<details><summary>test: last log lines</summary>

\`\`\`\`text
ok 1
not ok 2 \`\`\`boom\`\`\`
\`\`\`\`

</details>

<sub>berth run \`r2\` · trigger \`/deploy\` · comment \`/help\` for commands</sub>`);
  });

  it("shows a config error and no table when nothing ran", () => {
    expect(renderStatusComment(view({ notice: { kind: "config-error", text: "berth could not use `.github/berth.yml`:\n`preview.port`: too big" } }))).toBe(`<!-- berth:status -->
### berth · preview of \`abcdef0\`

> ⚠️ berth could not use \`.github/berth.yml\`:
> \`preview.port\`: too big

**Preview:** none running

<sub>comment \`/help\` for commands</sub>`);
  });

  it("is stable: the same view renders the same text", () => {
    const v = view({ notice: { kind: "deleted", text: "gone" } });
    expect(renderStatusComment(v)).toBe(renderStatusComment(structuredClone(v)));
  });
});
