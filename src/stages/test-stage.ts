/**
 * test: run the repo's test command against the preview, collect JUnit reports, store the report.
 */
import { summarize } from "../reports/junit.js";
import { parseJUnitOffThread } from "../reports/junit-off-thread.js";
import { previewKeyOf } from "../domain/preview-key.js";
import { failureFrom, tailLines, targetFor, type StageContext, type StageOutcome } from "./stage-context.js";

export async function testStage(ctx: StageContext): Promise<StageOutcome> {
  const { run, config, deps, signal, pull } = ctx;
  const test = config.test;
  if (!test) return { ok: false, detail: { reason: "no `test` section in berth.yml" } };
  const preview = ctx.earlier.deploy?.preview ?? (pull.preview?.sha === run.sha ? pull.preview : undefined);
  if (!preview) return { ok: false, detail: { reason: "no preview of this commit is running; comment /deploy first" } };
  const image = test.image === "preview" ? (ctx.earlier.build?.image ?? pull.image)?.ref : test.image;
  if (!image) return { ok: false, detail: { reason: "no image was built for this commit" } };

  try {
    const result = await targetFor(ctx).runTests({
      key: previewKeyOf(run.repo, run.prNumber),
      sha: run.sha,
      runId: run.id,
      image,
      command: test.command,
      env: { PREVIEW_URL: preview.internalUrl, BERTH_SHA: run.sha, BERTH_PR: String(run.prNumber) },
      reportsDir: test.reports,
      timeoutMs: test.timeout,
      signal,
      ...(ctx.onLog ? { onLog: ctx.onLog } : {}),
    });
    // Reports are written by the PR's tests: parsed in a worker, bounded in time and memory.
    const parsed = await parseJUnitOffThread(result.reports);
    const report = result.reportsNotRead?.length ? { ...parsed, parseErrors: [...result.reportsNotRead.map((file) => `not read: ${file}`), ...parsed.parseErrors] } : parsed;
    const summary = summarize(report);
    const reportId = deps.newId();
    const logTail = tailLines(result.logTail.join("\n"), 30, deps.redact);
    const reasons: string[] = [];
    if (result.timedOut) reasons.push(`timed out after ${Math.round(test.timeout / 1000)}s`);
    else if (result.exitCode !== 0) reasons.push(`test command exited with ${result.exitCode}`);
    if (summary.failed > 0) reasons.push(`${summary.failed} failing test${summary.failed === 1 ? "" : "s"}`);
    if (report.parseErrors.length) reasons.push(`unreadable report: ${report.parseErrors[0]}`);
    if (summary.total === 0 && reasons.length === 0) reasons.push(`no JUnit XML found in ${test.reports}`);
    // No report at all with exit code 0 passes (the command is the judge) but says so.
    const ok = !result.timedOut && result.exitCode === 0 && summary.failed === 0 && report.parseErrors.length === 0;
    const detail: StageOutcome["detail"] = {
      tests: { ...summary, reportId, exitCode: result.exitCode, timedOut: result.timedOut },
      logTail,
    };
    if (reasons.length) detail.reason = reasons.join("; ");
    return { ok, detail, facts: { report: { id: reportId, report } } };
  } catch (err) {
    return failureFrom(err, deps.redact);
  }
}
