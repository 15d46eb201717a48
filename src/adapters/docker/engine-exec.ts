/**
 * Run a command inside a running container (`docker exec` through the engine API, argv only):
 * its combined output goes line by line to `onLine`, the exit code is returned. A run past
 * `timeoutMs` (or an aborted signal) is abandoned with an error; the engine has no exec kill, so
 * the container's removal on a failed deploy ends it.
 */
import { PassThrough } from "node:stream";
import type Docker from "dockerode";
import { CancelledError } from "../../domain/ports.js";

export async function execInContainer(
  docker: Docker,
  containerId: string,
  command: string[],
  options: { timeoutMs: number; signal: AbortSignal; onLine: (line: string) => void },
): Promise<{ exitCode: number | null }> {
  const exec = await docker.getContainer(containerId).exec({ Cmd: command, AttachStdout: true, AttachStderr: true, Tty: false });
  const stream = await exec.start({ hijack: true, stdin: false });
  const out = new PassThrough();
  docker.modem.demuxStream(stream, out, out);
  let pending = "";
  out.on("data", (chunk: Buffer) => {
    pending += chunk.toString("utf8");
    const lines = pending.split(/\r?\n/);
    pending = lines.pop() ?? "";
    for (const line of lines) options.onLine(line);
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => finish(new Error(`did not finish within ${Math.round(options.timeoutMs / 1000)} s`)), options.timeoutMs);
    const onAbort = (): void => finish(new CancelledError("cancelled"));
    options.signal.addEventListener("abort", onAbort, { once: true });
    function finish(err?: Error): void {
      clearTimeout(timer);
      options.signal.removeEventListener("abort", onAbort);
      if (err) {
        stream.destroy();
        reject(err);
      } else resolve();
    }
    stream.on("end", () => finish());
    stream.on("close", () => finish());
    stream.on("error", (err: Error) => finish(err));
  });
  if (pending) options.onLine(pending);
  const info = await exec.inspect();
  return { exitCode: info.ExitCode ?? null };
}
