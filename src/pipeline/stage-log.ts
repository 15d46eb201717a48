/**
 * The full output of one stage (build log, push progress, helm output, test output), kept bounded
 * in memory while the stage runs and stored when it ends, so the status comment can link to it.
 */

/** Lines and bytes a stored stage log keeps at most (the newest; older lines are dropped). */
export const STAGE_LOG_LIMITS = { lines: 10_000, bytes: 1024 * 1024 } as const;

export class StageLog {
  private readonly lines: string[] = [];
  private bytes = 0;
  private dropped = 0;

  constructor(private readonly limits: { lines: number; bytes: number } = STAGE_LOG_LIMITS) {}

  push(line: string): void {
    this.lines.push(line);
    this.bytes += Buffer.byteLength(line) + 1;
    while (this.lines.length > 1 && (this.lines.length > this.limits.lines || this.bytes > this.limits.bytes)) {
      this.bytes -= Buffer.byteLength(this.lines.shift()!) + 1;
      this.dropped++;
    }
  }

  get empty(): boolean {
    return this.lines.length === 0;
  }

  /** The log as text; says how many earlier lines were dropped, if any. */
  text(): string {
    const head = this.dropped > 0 ? [`[berth: ${this.dropped} earlier line(s) dropped; the last ${this.lines.length} follow]`] : [];
    return `${[...head, ...this.lines].join("\n")}\n`;
  }
}
