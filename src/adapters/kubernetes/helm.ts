/**
 * Helm CLI adapter. Every call goes through the exec adapter with an argv array; values reach helm
 * through a private temp file (never the command line) and image coordinates through `--set-string`,
 * so an all-digit tag stays a string.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Logger } from "pino";
import { stringify as stringifyYaml } from "yaml";
import { CancelledError, type LogSink } from "../../domain/ports.js";
import type { Redactor } from "../../domain/redact.js";
import { CommandError, runCommand } from "../exec.js";

/** Construction options of {@link HelmCli}. */
export interface HelmOptions {
  /** Helm binary (`BERTH_HELM_BIN`); default `helm` from PATH. */
  bin?: string;
  /** `BERTH_KUBE_CONTEXT`: passed as `--kube-context`. */
  kubeContext?: string;
  /** Kubeconfig file; default helm's own lookup (`KUBECONFIG`, ~/.kube/config, in-cluster). */
  kubeconfig?: string;
  /** Extra environment for helm (e.g. HOME or HELM_CACHE_HOME on a read-only root). */
  env?: Record<string, string | undefined>;
  redact?: Redactor;
  log?: Logger;
  /** Where the values temp files go; default the OS temp dir. */
  tmpDir?: string;
  /** Revisions kept per release (`--history-max`). Default 5. */
  historyMax?: number;
  /**
   * Run namespaced commands as this ServiceAccount of the namespace (`--kube-as-user
   * system:serviceaccount:<namespace>:<name>`), so charts get only what it is granted there.
   */
  serviceAccount?: string;
}

/** One revision of a release, as `helm history -o json` prints it. */
export interface HelmRevision {
  revision: number;
  status: string;
  chart: string;
  description: string;
}

/** What to install or upgrade. */
export interface UpgradeInstallRequest {
  release: string;
  namespace: string;
  /** Chart directory (or packaged chart) on local disk. */
  chart: string;
  /** Values files applied first, in order (absolute paths). */
  valuesFiles?: string[];
  /** Values written to a private temp file, applied after `valuesFiles`. */
  values?: Record<string, unknown>;
  /** String values set last with `--set-string` (image.repository, image.tag, ...). */
  setString?: Record<string, string>;
  /** How long helm waits for readiness (and, on failure, for the rollback). */
  timeoutMs: number;
  signal?: AbortSignal;
  onLog?: LogSink;
}

/** Outcome of {@link HelmCli.recoverPending}. */
export type RecoveryAction = "none" | "rolled-back" | "uninstalled";

/** Release statuses a killed helm leaves behind; helm refuses new operations on them. */
const PENDING = new Set(["pending-install", "pending-upgrade", "pending-rollback", "uninstalling"]);

/** Escape a value for `--set-string key=value` (helm's strvals syntax splits on `,` and reads `\`). */
export function escapeSetValue(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/,/g, "\\,");
}

/** Keys for `--set-string` must be plain dotted paths: berth only sets its own fixed keys. */
const SET_KEY = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;

/** `--values` files (the repository's first, berth's last) and `--set-string` pairs, in that order. */
function valueArgs(req: UpgradeInstallRequest, valuesFile: string | undefined): string[] {
  const args: string[] = [];
  for (const file of req.valuesFiles ?? []) args.push("--values", file);
  if (valuesFile) args.push("--values", valuesFile);
  for (const [key, value] of Object.entries(req.setString ?? {})) {
    if (!SET_KEY.test(key)) throw new Error(`invalid --set-string key '${key}'`);
    args.push("--set-string", `${key}=${escapeSetValue(value)}`);
  }
  return args;
}

/** `120000` → `120s` (helm durations). */
function helmDuration(ms: number): string {
  return `${Math.max(1, Math.ceil(ms / 1000))}s`;
}

function isReleaseNotFound(err: unknown): boolean {
  return err instanceof CommandError && /release: not found|release not loaded/i.test(`${err.stderr}\n${err.stdout}`);
}

/** Thin, stateless-per-call wrapper over the helm CLI (the detected version is cached). */
export class HelmCli {
  private readonly bin: string;
  private versionPromise: Promise<{ major: number; version: string }> | undefined;

  constructor(private readonly options: HelmOptions = {}) {
    this.bin = options.bin ?? "helm";
  }

  /** The ServiceAccount namespaced commands run as, if any. */
  get serviceAccount(): string | undefined {
    return this.options.serviceAccount;
  }

  private globalArgs(namespace?: string): string[] {
    const args: string[] = [];
    if (namespace) args.push("--namespace", namespace);
    if (this.options.kubeContext) args.push("--kube-context", this.options.kubeContext);
    if (this.options.kubeconfig) args.push("--kubeconfig", this.options.kubeconfig);
    if (namespace && this.options.serviceAccount) args.push("--kube-as-user", `system:serviceaccount:${namespace}:${this.options.serviceAccount}`);
    return args;
  }

  private run(args: string[], opts: { timeoutMs: number; signal?: AbortSignal; onLog?: LogSink }) {
    return runCommand(this.bin, args, {
      timeoutMs: opts.timeoutMs,
      signal: opts.signal,
      env: { HELM_NO_PLUGINS: "1", ...this.options.env },
      redact: this.options.redact,
      onLine: opts.onLog,
      maxOutputBytes: 8 * 1024 * 1024,
    });
  }

  /** Helm's version; major 3 uses `--atomic`, 4 and later `--rollback-on-failure`. */
  version(): Promise<{ major: number; version: string }> {
    this.versionPromise ??= this.run(["version", "--short"], { timeoutMs: 30_000 }).then((result) => {
      const match = /v(\d+)\.(\d+)\.(\d+)/.exec(result.stdout);
      if (!match) throw new Error(`cannot read the helm version from '${result.stdout.trim()}'`);
      return { major: Number(match[1]), version: match[0] };
    });
    // A failed probe (helm missing) must not be cached forever.
    this.versionPromise.catch(() => {
      this.versionPromise = undefined;
    });
    return this.versionPromise;
  }

  /**
   * The argv of `helm upgrade --install` (without the values temp file, which the caller adds).
   * Exposed for tests: the same flags are fed to `helm template` there.
   */
  async upgradeArgs(req: UpgradeInstallRequest, valuesFile?: string): Promise<string[]> {
    const { major } = await this.version();
    const args = [
      "upgrade",
      "--install",
      req.release,
      req.chart,
      ...this.globalArgs(req.namespace),
      "--wait",
      // Helm 4 renamed --atomic; both roll back (or uninstall a first install) when the rollout fails.
      major >= 4 ? "--rollback-on-failure" : "--atomic",
      "--timeout",
      helmDuration(req.timeoutMs),
      // Values come only from this call, never silently from the previous release.
      "--reset-values",
      "--history-max",
      String(this.options.historyMax ?? 5),
    ];
    return [...args, ...valueArgs(req, valuesFile)];
  }

  /**
   * The argv of `helm template` for exactly what {@link upgradeArgs} would install: same chart,
   * values, namespace and identity. `--dry-run=server` lets `lookup` see what the install would see
   * (as the namespace's ServiceAccount), so a chart cannot render one thing here and another there
   * by asking the cluster.
   */
  templateArgs(req: UpgradeInstallRequest, opts: { isUpgrade: boolean; offline?: boolean }, valuesFile?: string): string[] {
    return [
      "template",
      req.release,
      req.chart,
      ...(opts.offline ? ["--namespace", req.namespace] : [...this.globalArgs(req.namespace), "--dry-run=server"]),
      ...(opts.isUpgrade ? ["--is-upgrade"] : []),
      ...valueArgs(req, valuesFile),
    ];
  }

  /**
   * The manifests (hooks and tests included) a release would install, as helm prints them.
   * `offline` renders without the cluster (`lookup` finds nothing): only for explaining a refusal.
   */
  async render(req: UpgradeInstallRequest, opts: { isUpgrade: boolean; offline?: boolean }): Promise<string> {
    return this.withValuesFile(req, async (valuesFile) => {
      const result = await this.run(this.templateArgs(req, opts, valuesFile), { timeoutMs: Math.max(60_000, req.timeoutMs), signal: req.signal });
      return result.stdout;
    });
  }

  /** Run `fn` with `req.values` in a private temp file (removed afterwards). */
  private async withValuesFile<T>(req: UpgradeInstallRequest, fn: (valuesFile: string | undefined) => Promise<T>): Promise<T> {
    const dir = await mkdtemp(join(this.options.tmpDir ?? tmpdir(), "berth-helm-"));
    try {
      let valuesFile: string | undefined;
      if (req.values && Object.keys(req.values).length > 0) {
        valuesFile = join(dir, "values.yaml");
        // Values may carry secrets (env): readable by berth only, deleted in finally.
        await writeFile(valuesFile, stringifyYaml(req.values), { mode: 0o600 });
      }
      return await fn(valuesFile);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  /**
   * `helm upgrade --install --wait` with rollback on failure.
   * @throws CommandError with helm's (redacted) output when the release fails.
   */
  async upgradeInstall(req: UpgradeInstallRequest): Promise<void> {
    await this.withValuesFile(req, async (valuesFile) => {
      const args = await this.upgradeArgs(req, valuesFile);
      this.options.log?.info({ release: req.release, namespace: req.namespace, chart: req.chart }, "helm upgrade --install");
      // Helm may spend the timeout waiting and then as long again rolling back.
      await this.run(args, { timeoutMs: req.timeoutMs * 2 + 60_000, signal: req.signal, onLog: req.onLog });
    });
  }

  /** Revisions of a release, oldest first; empty when the release does not exist. */
  async history(release: string, namespace: string, signal?: AbortSignal): Promise<HelmRevision[]> {
    try {
      const result = await this.run(["history", release, ...this.globalArgs(namespace), "--max", "20", "--output", "json"], { timeoutMs: 60_000, signal });
      const parsed = JSON.parse(result.stdout) as Array<{ revision: number; status: string; chart: string; description: string }>;
      return parsed.map((r) => ({ revision: r.revision, status: r.status, chart: r.chart, description: r.description })).sort((a, b) => a.revision - b.revision);
    } catch (err) {
      if (isReleaseNotFound(err)) return [];
      throw err;
    }
  }

  /**
   * A helm killed mid-operation leaves the release `pending-*`, and every later upgrade fails with
   * "another operation is in progress". Roll back to the last good revision, or uninstall when there
   * is none (a first install that never finished).
   */
  async recoverPending(release: string, namespace: string, opts: { timeoutMs: number; signal?: AbortSignal; onLog?: LogSink }): Promise<RecoveryAction> {
    const history = await this.history(release, namespace, opts.signal);
    const last = history.at(-1);
    if (!last || !PENDING.has(last.status)) return "none";
    const good = [...history].reverse().find((r) => r.revision !== last.revision && (r.status === "deployed" || r.status === "superseded"));
    this.options.log?.info({ release, namespace, status: last.status, rollbackTo: good?.revision ?? null }, "recovering a pending helm release");
    if (last.status !== "uninstalling" && good) {
      await this.run(["rollback", release, String(good.revision), ...this.globalArgs(namespace), "--wait", "--timeout", helmDuration(opts.timeoutMs), "--history-max", String(this.options.historyMax ?? 5)], {
        timeoutMs: opts.timeoutMs + 60_000,
        signal: opts.signal,
        onLog: opts.onLog,
      });
      return "rolled-back";
    }
    await this.uninstall(release, namespace, opts);
    return "uninstalled";
  }

  /** `helm uninstall --wait`; a missing release (or namespace) counts as success. */
  async uninstall(release: string, namespace: string, opts: { timeoutMs: number; signal?: AbortSignal; onLog?: LogSink }): Promise<{ removed: boolean }> {
    try {
      await this.run(["uninstall", release, ...this.globalArgs(namespace), "--wait", "--timeout", helmDuration(opts.timeoutMs)], {
        timeoutMs: opts.timeoutMs + 60_000,
        signal: opts.signal,
        onLog: opts.onLog,
      });
      return { removed: true };
    } catch (err) {
      if (err instanceof CancelledError) throw err;
      if (isReleaseNotFound(err)) return { removed: false };
      throw err;
    }
  }
}
