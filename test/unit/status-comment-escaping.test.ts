import { describe, expect, it } from "vitest";
import { COMMENT_MAX_CHARS, renderStatusComment, type StatusView } from "../../src/render/status-comment.js";

const SHA = "abcdef0123456789abcdef0123456789abcdef01";
const Z = "\u200b";

function view(patch: Partial<StatusView>): StatusView {
  return { headSha: SHA, reportBaseUrl: "https://berth.example.com/reports", testsConfigured: true, ...patch };
}

/** A failed build whose step text, log tail and reason come from a hostile repository. */
function hostileBuild(): StatusView {
  return view({
    run: {
      id: "r9",
      sha: SHA,
      trigger: "push",
      status: "failed",
      stages: [
        {
          name: "build",
          state: "failed",
          durationMs: 1000,
          detail: {
            failingStep: "RUN echo </summary></details><img src=x> @octocat #12",
            logTail: ["```", "</details>", "@everyone see #1"],
            reason: "step failed: <b>x</b> | [click](http://evil) ![i](http://evil/p.png) @admins fixes #3 `kept <b>`",
          },
        },
      ],
    },
  });
}

describe("renderStatusComment escaping", () => {
  it("escapes step text, log tails and reasons from the repository", () => {
    expect(renderStatusComment(hostileBuild())).toBe(`<!-- berth:status -->
### berth · preview of \`abcdef0\`

| Stage | Status | Time | Details |
| --- | --- | --- | --- |
| build | ❌ failed | 1s | step failed: &lt;b&gt;x&lt;/b&gt; \\| \\[click\\](http://evil) \\!\\[i\\](http://evil/p.png) @${Z}admins fixes #${Z}3 \`kept <b>\` |
| deploy | — |  |  |
| test | — |  |  |

**Preview:** none running

<details><summary>build failed at \`RUN echo &lt;/summary&gt;&lt;/details&gt;&lt;img src=x&gt; @${Z}octocat #${Z}12\`: last log lines</summary>

\`\`\`\`text
\`\`\`
</details>
@everyone see #1
\`\`\`\`

</details>

<sub>berth run \`r9\` · trigger \`push\` · comment \`/help\` for commands</sub>`);
  });

  it("escapes test names and failure messages", () => {
    const text = renderStatusComment(
      view({
        run: {
          id: "r3",
          sha: SHA,
          trigger: "push",
          status: "failed",
          stages: [
            {
              name: "test",
              state: "failed",
              detail: {
                tests: {
                  total: 1,
                  passed: 0,
                  failed: 1,
                  skipped: 0,
                  firstFailures: [{ name: "a ``b`` </details>\nc", message: "*boom* _x_ <script>alert(1)</script> & @team/devs GH-42" }],
                  reportId: "00112233",
                  exitCode: 1,
                  timedOut: false,
                },
              },
            },
          ],
        },
      }),
    );
    expect(text).toContain(`- \`\`\`a \`\`b\`\` </details> c\`\`\`: \\*boom\\* \\_x\\_ &lt;script&gt;alert(1)&lt;/script&gt; &amp; @${Z}team/devs GH${Z}-42`);
  });

  it("escapes tag names, environment names and notices quoting the repository", () => {
    const text = renderStatusComment(
      view({
        notice: { kind: "config-error", text: "berth could not use `.github/berth.yml`:\n`build.args.x`: '<img src=x> @dev #7' is not valid" },
        environments: [{ name: "prod @ops", tag: "v1`</sub>", url: "https://prod.example.com/a b" }],
      }),
    );
    expect(text).toContain(`> ⚠️ berth could not use \`.github/berth.yml\`:\n> \`build.args.x\`: '&lt;img src=x&gt; @${Z}dev #${Z}7' is not valid`);
    expect(text).toContain(`**Environments** running this commit: prod @${Z}ops (\`\`v1\`</sub>\`\`) https://prod.example.com/a%20b`);
  });
});

describe("renderStatusComment size", () => {
  const huge = "x".repeat(100_000);
  const hugeView = (): StatusView =>
    view({
      notice: { kind: "config-error", text: `@a #1 ${huge}` },
      environments: Array.from({ length: 500 }, (_, i) => ({ name: `env-${i}-${huge}`, tag: `v${i}-${huge}`, url: `https://e${i}.example.com/${huge}` })),
      run: {
        id: "r4",
        sha: SHA,
        trigger: `tag ${huge}`,
        status: "failed",
        stages: [
          { name: "build", state: "failed", detail: { failingStep: `RUN ${huge}`, logTail: Array.from({ length: 2000 }, (_, i) => `line ${i} ${"🙂".repeat(400)}`), reason: huge, logId: "aabb" } },
          {
            name: "test",
            state: "failed",
            detail: {
              tests: {
                total: 5000,
                passed: 0,
                failed: 5000,
                skipped: 0,
                firstFailures: Array.from({ length: 5000 }, (_, i) => ({ name: `case ${i} ${huge}`, message: `msg ${huge}` })),
                reportId: "0011",
                exitCode: 1,
                timedOut: false,
              },
              logTail: Array.from({ length: 2000 }, (_, i) => `t${i} ${"y".repeat(3000)}`),
            },
          },
        ],
      },
    });

  it("stays within GitHub's limit whatever the test names, log tails and step text", () => {
    const text = renderStatusComment(hugeView());
    expect(text.length).toBeLessThanOrEqual(COMMENT_MAX_CHARS);
    expect(COMMENT_MAX_CHARS).toBeLessThan(65_536);
    // The long parts are cut with a note pointing at the whole thing; the structure survives.
    expect(text).toMatch(/… \d+ more lines, see the \[log\]\(https:\/\/berth\.example\.com\/reports\/logs\/aabb\)/);
    expect(text).toMatch(/- … \d+ more failing tests, see the \[report\]\(https:\/\/berth\.example\.com\/reports\/0011\)/);
    expect(text).toContain("… 490 more");
    expect(text.startsWith("<!-- berth:status -->")).toBe(true);
    expect(text.match(/<details>/g)?.length).toBe(text.match(/<\/details>/g)?.length);
    // The newest log lines are the ones kept.
    expect(text).toContain("line 1999 ");
    expect(text).not.toContain("line 0 ");
  });

  it("keeps everything when it fits", () => {
    const text = renderStatusComment(
      view({ run: { id: "r5", sha: SHA, trigger: "push", status: "failed", stages: [{ name: "build", state: "failed", detail: { logTail: Array.from({ length: 40 }, (_, i) => `l${i}`) } }] } }),
    );
    expect(text).toContain(Array.from({ length: 40 }, (_, i) => `l${i}`).join("\n"));
    expect(text).not.toContain("more lines");
  });
});
