/**
 * Kubernetes preview target: one namespace per PR, the preview as a Helm release in it, tests as a
 * Job in the same namespace.
 *
 * Deploy: ensure the namespace (labels, annotations, Pod Security admission labels, quota, limits,
 * NetworkPolicies; wait while an old one of the same name terminates; refuse one that belongs to
 * another repository or berth instance) → recover a release left `pending-*` → render the release
 * and refuse manifests the preview may not have ({@link checkManifests}) → `helm upgrade --install
 * --wait` with rollback on failure → URL from the Ingress host, in-cluster URL from the Service.
 * While helm waits, unhealthy pods are sampled, so a failed rollout reports their events and last
 * log lines even after helm's rollback removed them.
 */
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { lstat, readdir, realpath } from "node:fs/promises";
import { dirname, join, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import type { V1Job, V1LimitRangeSpec, V1ResourceQuotaSpec, V1ResourceRequirements } from "@kubernetes/client-node";
import { DEFAULT_LIMIT_RANGE, DEFAULT_QUOTA } from "../config/kube-namespace-defaults.js";
import type { Logger } from "pino";
import type { PreviewConfig } from "../config/repo-config.js";
import { parseAllDocuments } from "yaml";
import { formatDuration } from "../domain/duration.js";
import { dnsLabel, environmentName, previewName, repoSlug } from "../domain/naming.js";
import { CancelledError, type DeployRequest, type DeployResult, type PreviewKey, type PreviewTarget, type TestRequest, type TestRunResult } from "../domain/ports.js";
import { parsePreviewKey, repoPathOf } from "../domain/preview-key.js";
import type { Redactor } from "../domain/redact.js";
import { CommandError, tailLines } from "../adapters/exec.js";
import { diagnosePods, formatDiagnoses, type PodDiagnosis } from "../adapters/kubernetes/diagnose.js";
import type { HelmCli } from "../adapters/kubernetes/helm.js";
import { apiErrorMessage, identityMismatches, NamespaceNotOwnedError, NamespaceStillTerminatingError, type KubeClient } from "../adapters/kubernetes/kube-client.js";
import { checkManifests, formatViolations, type RenderedObject } from "./kube-manifest-policy.js";
import { podSecurityLabels, previewNetworkPolicies, type PodSecurityLevel, type PreviewNetworkOptions } from "./kube-namespace-policy.js";
import { parseTestLog, wrapTestCommand } from "../adapters/kubernetes/test-reports.js";

/** Labels and annotations berth puts on its namespaces. */
export const LABELS = {
  managedBy: "app.kubernetes.io/managed-by",
  repo: "berth.dev/repo",
  host: "berth.dev/host",
  pr: "berth.dev/pr",
  environment: "berth.dev/environment",
  instance: "berth.dev/instance",
} as const;
export const ANNOTATIONS = {
  repo: "berth.dev/repo",
  headSha: "berth.dev/head-sha",
  prUrl: "berth.dev/pr-url",
  runId: "berth.dev/run-id",
  expiresAt: "berth.dev/expires-at",
  /** On a Deployment or StatefulSet put to sleep: its replica count before. */
  replicasBeforeSleep: "berth.dev/replicas-before-sleep",
} as const;
const MANAGED_BY = "berth";

/** Test Job settings. */
export interface KubernetesTestOptions {
  /** Retries of a failed test pod. Default 0: a flaky suite should fail visibly. */
  backoffLimit?: number;
  /** How long a finished Job (and its pod and log) stays for people to inspect. Default 1 h. */
  ttlSecondsAfterFinished?: number;
  /** Run the command under the report wrapper (needs `sh` in the image). Default true. */
  wrapper?: boolean;
  /** Lines of output kept in the result. Default 200. */
  logTailLines?: number;
  resources?: V1ResourceRequirements;
  /**
   * Numeric user (and group) the test container runs as. Default 65532: Pod Security `restricted`
   * needs a non-root user, and a numeric one lets the kubelet check it whatever the image says.
   */
  runAsUser?: number;
}

/** Constructor options of {@link KubernetesTarget}. */
export interface KubernetesTargetOptions {
  helm: HelmCli;
  kube: KubeClient;
  /** `BERTH_PREVIEW_DOMAIN`, used when the repo config sets no `preview.domain`. */
  domain?: string;
  /** berth's built-in chart; default `charts/berth-preview` of this package. */
  builtinChartDir?: string;
  /** Helm release name inside the PR namespace. Default `preview` (one release per namespace). */
  releaseName?: string;
  ingressClassName?: string;
  ingressAnnotations?: Record<string, string>;
  /** Secret in each preview namespace holding the `*.<domain>` certificate; makes URLs https. */
  tlsSecretName?: string;
  /** Force the scheme of preview URLs (e.g. https when TLS ends at a load balancer). */
  urlScheme?: "http" | "https";
  /** Kubernetes cluster DNS domain. Default `cluster.local`. */
  clusterDomain?: string;
  /**
   * Secrets (already in each preview namespace) that pull from berth's own registry. They are given
   * only to pods whose image is on `registry` (the host of `BERTH_REGISTRY` or Harbor's), never to
   * an image on a host a repository chose.
   */
  imagePullSecrets?: { registry: string; names: string[] };
  quota?: V1ResourceQuotaSpec | null;
  limitRange?: V1LimitRangeSpec | null;
  /**
   * ClusterRole the helm ServiceAccount (`HelmCli` `serviceAccount`) gets in each namespace through
   * a RoleBinding. Default `admin`. Unused when helm runs as berth itself.
   */
  deployerRole?: string | undefined;
  /** `expires-at` = deploy time + this. Default 7 days. */
  previewTtlMs?: number;
  /** Longest wait for an old namespace to finish terminating, and for a deleted one to go. Default 5 min. */
  namespaceWaitMs?: number;
  /**
   * Id of this berth installation (`BERTH_INSTANCE`): part of every namespace name and on every
   * namespace as `berth.dev/instance`; only namespaces with this label belong to this berth.
   */
  instance: string;
  /** Pod Security admission level of preview namespaces (`BERTH_KUBE_POD_SECURITY`). Default `restricted`. */
  podSecurity?: PodSecurityLevel;
  /** Who may talk to a preview's pods and where they may go; `false` creates no NetworkPolicies. */
  network?: PreviewNetworkOptions | false;
  test?: KubernetesTestOptions;
  /** How often unhealthy pods are sampled during a rollout. Default 3 s. */
  diagnosePollMs?: number;
  /** Web URL of a PR when the request carries none. */
  prUrl?: (key: PreviewKey) => string;
  redact?: Redactor;
  log?: Logger;
  now?: () => Date;
}

/**
 * A deploy request as this target accepts it. `sourceDir` is the checked-out source of the commit
 * (the lead's build stage has it): `preview.chart` and `preview.valuesFiles` resolve inside it.
 */
export interface KubernetesDeployRequest extends DeployRequest {
  sourceDir?: string;
  prUrl?: string;
}

/** A preview namespace with its bookkeeping, for the reconciler. */
export interface KubernetesPreview {
  key: PreviewKey;
  namespace: string;
  headSha?: string;
  expiresAt?: Date;
}

/** A rollout that failed; `pods` holds what the failing pods said. */
export class KubernetesDeployError extends Error {
  constructor(
    message: string,
    readonly pods: PodDiagnosis[],
  ) {
    super(message);
    this.name = "KubernetesDeployError";
  }
}

function defaultBuiltinChart(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  // src/targets and dist/targets both sit two levels below the package root.
  for (const candidate of [resolve(here, "../../charts/berth-preview"), resolve(here, "../../../charts/berth-preview")]) {
    if (existsSync(join(candidate, "Chart.yaml"))) return candidate;
  }
  return resolve(here, "../../charts/berth-preview");
}

/**
 * Registry host of an image reference, the way container runtimes read it: the first path component
 * when it has a `.` or `:` or is `localhost`, else Docker Hub.
 */
export function registryHostOf(image: string): string {
  const slash = image.indexOf("/");
  if (slash < 0) return "docker.io";
  const first = image.slice(0, slash);
  if (first.includes(".") || first.includes(":") || first === "localhost") return first.toLowerCase();
  return "docker.io";
}

/** `registry:5000/a/b:tag@sha256:…` → repository, tag, digest. */
export function splitImage(image: string): { repository: string; tag: string; digest?: string } {
  const [ref, digest] = image.split("@", 2) as [string, string | undefined];
  const slash = ref.lastIndexOf("/");
  const colon = ref.lastIndexOf(":");
  if (colon > slash) return { repository: ref.slice(0, colon), tag: ref.slice(colon + 1), ...(digest ? { digest } : {}) };
  return { repository: ref, tag: digest ? "" : "latest", ...(digest ? { digest } : {}) };
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Deep merge of plain objects; arrays and scalars from `over` replace. */
function deepMerge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) {
    out[key] = isPlainObject(value) && isPlainObject(out[key]) ? deepMerge(out[key] as Record<string, unknown>, value) : value;
  }
  return out;
}

/** `rel` resolved inside `root`, following symlinks; throws when it escapes or does not exist. */
async function resolveInside(root: string, rel: string, what: string): Promise<string> {
  const realRoot = await realpath(root);
  let real: string;
  try {
    real = await realpath(resolve(realRoot, rel));
  } catch {
    throw new Error(`${what} '${rel}' does not exist in the repository`);
  }
  if (real !== realRoot && !real.startsWith(realRoot + sep)) throw new Error(`${what} '${rel}' points outside the repository`);
  return real;
}

/**
 * Helm follows symlinks when it loads a chart, so a PR's chart could pull any file of berth's
 * machine (its private key) into a rendered manifest. Charts from the repository may not contain any.
 */
async function assertNoSymlinks(dir: string): Promise<void> {
  const pending = [dir];
  let seen = 0;
  while (pending.length > 0) {
    const current = pending.pop()!;
    for (const entry of await readdir(current, { withFileTypes: true })) {
      if (++seen > 5000) throw new Error("the chart has more than 5000 files");
      const full = join(current, entry.name);
      const stat = await lstat(full);
      if (stat.isSymbolicLink()) throw new Error(`the chart contains a symbolic link (${full.slice(dir.length + 1)}), which berth does not allow`);
      if (stat.isDirectory()) pending.push(full);
    }
  }
}

/** The preview target for `preview.target: kubernetes`. */
export class KubernetesTarget implements PreviewTarget {
  readonly kind = "kubernetes" as const;
  private readonly release: string;
  private readonly chartDir: string;
  private readonly redact: Redactor;
  private readonly now: () => Date;

  constructor(private readonly options: KubernetesTargetOptions) {
    this.release = options.releaseName ?? "preview";
    this.chartDir = options.builtinChartDir ?? defaultBuiltinChart();
    this.redact = options.redact ?? ((text) => text);
    this.now = options.now ?? (() => new Date());
  }

  /**
   * The namespace of a PR's preview (`<repo-slug>-pr-<n>`), or of a tag-flow environment (configured,
   * or `<repo-slug>-env-<environment>`). The slug hashes instance, host and owner/name, so two
   * repositories or two berths never share one; a configured namespace is checked on use.
   */
  namespaceFor(key: PreviewKey): string {
    if (key.namespace) return key.namespace;
    if (key.environment) return environmentName(key, key.environment, this.options.instance);
    return previewName(key, key.pr, this.options.instance);
  }

  /** The public host of a PR's preview: `<repo-slug>-pr-<n>.<domain>`, one DNS label under the domain. */
  hostFor(key: PreviewKey, preview: Pick<PreviewConfig, "domain">): string {
    const domain = preview.domain ?? this.options.domain;
    if (!domain) throw new Error("no preview domain: set preview.domain in .github/berth.yml or BERTH_PREVIEW_DOMAIN");
    return `${this.namespaceFor(key)}.${domain}`;
  }

  /**
   * The labels that say whose a namespace is: berth, this instance, the repository (its slug carries
   * the hash of the full name), host, and PR or environment. A namespace berth uses must carry all
   * of them; every object berth creates in it carries them too.
   */
  private labelsFor(key: PreviewKey): Record<string, string> {
    return {
      [LABELS.managedBy]: MANAGED_BY,
      [LABELS.instance]: this.options.instance,
      [LABELS.repo]: repoSlug(key, this.options.instance),
      [LABELS.host]: key.host,
      [LABELS.pr]: String(key.pr),
      ...(key.environment ? { [LABELS.environment]: dnsLabel(key.environment) } : {}),
    };
  }

  private selector(): string {
    return `${LABELS.managedBy}=${MANAGED_BY},${LABELS.instance}=${this.options.instance}`;
  }

  /**
   * The namespace when it exists and is this key's; null when it does not exist.
   * @throws NamespaceNotOwnedError when it exists and belongs to someone else.
   */
  private async ownNamespace(key: PreviewKey, namespace: string) {
    const existing = await this.options.kube.getNamespace(namespace);
    if (!existing) return null;
    const mismatches = identityMismatches(existing.metadata?.labels, this.labelsFor(key));
    if (mismatches.length > 0) throw new NamespaceNotOwnedError(namespace, mismatches);
    return existing;
  }

  /** Pull secrets for `image`: only when it comes from berth's own registry. */
  private pullSecretsFor(image: string): string[] {
    const secrets = this.options.imagePullSecrets;
    if (!secrets || secrets.names.length === 0) return [];
    return registryHostOf(image) === registryHostOf(`${secrets.registry}/x`) ? secrets.names : [];
  }

  /** The PR's web URL; undefined for a Gitea-family server when the request carries none (its web URL is the server's). */
  private prUrl(key: PreviewKey, explicit?: string): string | undefined {
    if (explicit) return explicit;
    if (this.options.prUrl) return this.options.prUrl(key);
    if (key.host === "gitee") return `https://gitee.com/${repoPathOf(key)}/pulls/${key.pr}`;
    if (key.host === "github") return `https://github.com/${repoPathOf(key)}/pull/${key.pr}`;
    return undefined;
  }

  /** Chart directory and values files for a deploy. */
  private async resolveChart(req: KubernetesDeployRequest): Promise<{ chart: string; valuesFiles: string[] }> {
    const needsSource = req.preview.chart !== undefined || req.preview.valuesFiles.length > 0;
    if (needsSource && !req.sourceDir) throw new Error("preview.chart and preview.valuesFiles need the checked-out source (sourceDir)");
    let chart = this.chartDir;
    if (req.preview.chart !== undefined) {
      chart = await resolveInside(req.sourceDir!, req.preview.chart, "preview.chart");
      if (!existsSync(join(chart, "Chart.yaml"))) throw new Error(`preview.chart '${req.preview.chart}' has no Chart.yaml`);
      await assertNoSymlinks(chart);
    }
    const valuesFiles: string[] = [];
    for (const file of req.preview.valuesFiles) valuesFiles.push(await resolveInside(req.sourceDir!, file, "preview.valuesFiles entry"));
    return { chart, valuesFiles };
  }

  private valuesFor(req: DeployRequest, host: string): Record<string, unknown> {
    const pullSecrets = this.pullSecretsFor(req.image);
    const base: Record<string, unknown> = {
      port: req.preview.port,
      healthPath: req.preview.healthPath,
      env: req.preview.env,
      ingress: {
        enabled: true,
        ...(this.options.ingressClassName ? { className: this.options.ingressClassName } : {}),
        ...(this.options.ingressAnnotations ? { annotations: this.options.ingressAnnotations } : {}),
        ...(this.options.tlsSecretName ? { tls: { secretName: this.options.tlsSecretName } } : {}),
      },
    };
    // The repository's values go over berth's defaults, but the host (one wildcard certificate) and
    // the bookkeeping are berth's.
    // Pull secrets too: berth decides which image gets its registry's credentials.
    return deepMerge(deepMerge(base, req.preview.values), {
      ingress: { host },
      imagePullSecrets: pullSecrets,
      berth: { sha: req.sha, pr: String(req.key.pr), repo: repoPathOf(req.key) },
    });
  }

  /** Start or update the PR's preview and wait until it is ready. */
  async deploy(req: KubernetesDeployRequest): Promise<DeployResult> {
    const log = this.options.log;
    if (req.signal.aborted) throw new CancelledError("deploy cancelled");
    const namespace = this.namespaceFor(req.key);
    const host = this.hostFor(req.key, req.preview);
    const { chart, valuesFiles } = await this.resolveChart(req);
    const labels = this.labelsFor(req.key);
    const waitMs = this.options.namespaceWaitMs ?? 300_000;

    try {
      await this.prepareNamespace(req, namespace, labels, waitMs);
    } catch (err) {
      if (err instanceof CancelledError) throw err;
      throw new Error(`could not prepare namespace ${namespace}: ${this.redact(apiErrorMessage(err))}`);
    }

    const timeoutMs = req.preview.timeout;
    const recovered = await this.options.helm.recoverPending(this.release, namespace, { timeoutMs, signal: req.signal, onLog: req.onLog });
    if (recovered !== "none") log?.info({ namespace, release: this.release, recovered }, "recovered a release left pending");

    const image = splitImage(req.image);
    const install = {
      release: this.release,
      namespace,
      chart,
      valuesFiles,
      values: this.valuesFor(req, host),
      setString: {
        "image.repository": image.repository,
        "image.tag": image.tag,
        ...(image.digest ? { "image.digest": image.digest } : {}),
      },
      timeoutMs,
      signal: req.signal,
      onLog: req.onLog,
    };
    await this.checkRendered(install, host);
    const sampler = this.sampleUnhealthyPods(namespace);
    try {
      await this.options.helm.upgradeInstall(install);
    } catch (err) {
      const sampled = await sampler.stop();
      if (err instanceof CancelledError || req.signal.aborted) throw err instanceof CancelledError ? err : new CancelledError("deploy cancelled");
      // helm missing or not executable: nothing was deployed, so there is nothing to diagnose.
      if (err instanceof CommandError && err.exitCode === null && !err.timedOut) throw err;
      throw await this.rolloutError(err, namespace, sampled);
    }
    await sampler.stop();
    const urls = await this.urlsOf(namespace, host);
    log?.info({ namespace, url: urls.url }, "kubernetes preview deployed");
    return urls;
  }

  /**
   * Render the release exactly as it would be installed and refuse it when it breaks the preview's
   * boundary (other hosts, snippets, host access, other namespaces, node ports, ...).
   */
  private async checkRendered(install: Parameters<HelmCli["upgradeInstall"]>[0], host: string): Promise<void> {
    const { namespace } = install;
    const isUpgrade = (await this.options.helm.history(this.release, namespace, install.signal)).some((r) => r.status === "deployed");
    let manifest: string;
    try {
      manifest = await this.options.helm.render(install, { isUpgrade });
    } catch (err) {
      if (err instanceof CancelledError || install.signal?.aborted) throw err instanceof CancelledError ? err : new CancelledError("deploy cancelled");
      const lines = err instanceof CommandError ? tailLines(err.stderr || err.stdout, 8) : [err instanceof Error ? err.message : String(err)];
      const refusal = new KubernetesDeployError(this.redact(`helm could not render the preview for namespace ${namespace}: ${lines.map((l) => l.trim()).join(" ").replace(/^Error:\s*/, "")}`), []);
      // The server refused part of it (Helm 4 checks each object's owner there, so an object in
      // another namespace stops it); the policy's full list explains more, when there is one.
      const offline = await this.options.helm.render(install, { isUpgrade, offline: true }).catch(() => undefined);
      if (offline !== undefined) this.refuseViolations(this.parseRendered(offline, namespace), install, host);
      throw refusal;
    }
    this.refuseViolations(this.parseRendered(manifest, namespace), install, host);
  }

  private parseRendered(manifest: string, namespace: string): RenderedObject[] {
    const objects: RenderedObject[] = [];
    for (const doc of parseAllDocuments(manifest)) {
      if (doc.errors.length > 0) throw new KubernetesDeployError(`berth could not read the rendered manifests for namespace ${namespace}: ${doc.errors[0]!.message}`, []);
      const value: unknown = doc.toJS({ maxAliasCount: 100 });
      if (value === null || value === undefined) continue;
      objects.push(typeof value === "object" && !Array.isArray(value) ? (value as RenderedObject) : { kind: "(not an object)" });
    }
    return objects;
  }

  private refuseViolations(objects: RenderedObject[], install: { namespace: string }, host: string): void {
    const { namespace } = install;
    const violations = checkManifests(objects, { namespace, host, deployerServiceAccount: this.options.helm.serviceAccount });
    if (violations.length > 0) {
      this.options.log?.warn({ namespace, violations: violations.length }, "refused the preview's manifests");
      throw new KubernetesDeployError(this.redact(formatViolations(namespace, violations)), []);
    }
  }

  private async prepareNamespace(req: KubernetesDeployRequest, namespace: string, labels: Record<string, string>, waitMs: number): Promise<void> {
    const prUrl = this.prUrl(req.key, req.prUrl);
    await this.options.kube.ensureNamespace({
      name: namespace,
      labels: { ...labels, ...podSecurityLabels(this.options.podSecurity ?? "restricted") },
      identity: labels,
      annotations: {
        [ANNOTATIONS.repo]: repoPathOf(req.key),
        [ANNOTATIONS.headSha]: req.sha,
        ...(prUrl ? { [ANNOTATIONS.prUrl]: prUrl } : {}),
        [ANNOTATIONS.runId]: req.runId,
        [ANNOTATIONS.expiresAt]: new Date(this.now().getTime() + (this.options.previewTtlMs ?? 7 * 24 * 3_600_000)).toISOString(),
      },
      waitTimeoutMs: waitMs,
      signal: req.signal,
    });
    const quota = this.options.quota === undefined ? DEFAULT_QUOTA : this.options.quota;
    if (quota) await this.options.kube.applyResourceQuota(namespace, "berth-quota", quota, labels);
    const limits = this.options.limitRange === undefined ? DEFAULT_LIMIT_RANGE : this.options.limitRange;
    if (limits) await this.options.kube.applyLimitRange(namespace, "berth-limits", limits, labels);
    if (this.options.network !== false) {
      for (const policy of previewNetworkPolicies(namespace, labels, this.options.network)) await this.options.kube.applyNetworkPolicy(policy);
    }
    // helm impersonates this account: it must exist, with its role, before helm runs.
    const account = this.options.helm.serviceAccount;
    if (account) await this.options.kube.applyDeployerAccess(namespace, account, this.options.deployerRole ?? "admin", labels);
  }

  /** Samples unhealthy pods while helm waits: helm's rollback deletes them, and their logs with them. */
  private sampleUnhealthyPods(namespace: string): { stop(): Promise<PodDiagnosis[]> } {
    let latest: PodDiagnosis[] = [];
    let running: Promise<void> | undefined;
    const sample = (): void => {
      if (running) return;
      running = diagnosePods(this.options.kube, namespace)
        .then((found) => {
          if (found.length > 0) latest = found;
        })
        .catch(() => undefined)
        .finally(() => {
          running = undefined;
        });
    };
    const timer = setInterval(sample, this.options.diagnosePollMs ?? 3000);
    timer.unref();
    return {
      async stop() {
        clearInterval(timer);
        await running;
        return latest;
      },
    };
  }

  private async rolloutError(err: unknown, namespace: string, sampled: PodDiagnosis[]): Promise<KubernetesDeployError> {
    const fresh = await diagnosePods(this.options.kube, namespace).catch(() => []);
    const pods = fresh.length > 0 ? fresh : sampled;
    // Helm's own explanation: from its last "Error:" line on (it can span lines: "1 error occurred: * …").
    const helmLines = err instanceof CommandError ? tailLines(err.stderr || err.stdout, 8) : [err instanceof Error ? err.message : String(err)];
    const errorAt = helmLines.findLastIndex((l) => l.startsWith("Error:"));
    const explanation = (errorAt >= 0 ? helmLines.slice(errorAt) : helmLines.slice(-1)).map((l) => l.trim()).join(" ");
    const headline = err instanceof CommandError && err.timedOut ? "helm timed out" : explanation.replace(/^Error:\s*/, "") || "helm failed";
    const parts: string[] = [];
    if (pods.length > 0) {
      parts.push(`The preview in namespace ${namespace} did not become ready: ${headline}`, formatDiagnoses(pods));
    } else {
      // No unhealthy pod: the chart did not render, the API refused an object, or a controller could
      // not create pods (Pod Security admission, quota); helm's words and the controllers' say why.
      parts.push(`helm could not deploy the preview in namespace ${namespace}: ${headline}`);
      const refused = await this.options.kube.failedCreateEvents(namespace).catch(() => []);
      const seen = new Set<string>();
      for (const event of refused) {
        const line = `${event.involvedObject?.kind ?? "?"} ${event.involvedObject?.name ?? "?"}: ${event.message ?? ""}`;
        if (!seen.has(line)) seen.add(line);
      }
      if (seen.size > 0) parts.push("Pods could not be created:", ...[...seen].slice(-4).map((l) => `  ${l}`));
    }
    return new KubernetesDeployError(this.redact(parts.join("\n")), pods.map((p) => ({ ...p, events: p.events.map(this.redact), logTail: p.logTail.map(this.redact) })));
  }

  /** Public URL from the Ingress, in-cluster URL from the release's Service. */
  private async urlsOf(namespace: string, fallbackHost: string): Promise<DeployResult> {
    const ingresses = await this.options.kube.listIngresses(namespace);
    let host = fallbackHost;
    let tls = Boolean(this.options.tlsSecretName);
    const rule = ingresses.flatMap((i) => (i.spec?.rules ?? []).map((r) => ({ host: r.host, tls: i.spec?.tls ?? [] }))).find((r) => r.host);
    if (rule?.host) {
      host = rule.host;
      tls = rule.tls.some((t) => (t.hosts ?? []).includes(rule.host!));
    } else {
      this.options.log?.warn({ namespace }, "the release has no Ingress host; using the computed host");
    }
    const scheme = this.options.urlScheme ?? (tls ? "https" : "http");
    const url = `${scheme}://${host}`;
    return { url, internalUrl: (await this.internalUrl(namespace)) ?? url };
  }

  private async internalUrl(namespace: string): Promise<string | undefined> {
    const own = await this.options.kube.listServices(namespace, `app.kubernetes.io/instance=${this.release}`);
    const services = own.length > 0 ? own : await this.options.kube.listServices(namespace);
    const service = services.find((s) => s.spec?.type !== "ExternalName" && (s.spec?.ports?.length ?? 0) > 0);
    if (!service?.metadata?.name) return undefined;
    const ports = service.spec?.ports ?? [];
    const port = (ports.find((p) => p.name === "http") ?? ports[0])!.port;
    return `http://${service.metadata.name}.${namespace}.svc.${this.options.clusterDomain ?? "cluster.local"}${port === 80 ? "" : `:${port}`}`;
  }

  /** Run the test command as a Job in the PR namespace; reports come back through the container log. */
  async runTests(req: TestRequest): Promise<TestRunResult> {
    const opts = this.options.test ?? {};
    const kube = this.options.kube;
    const namespace = this.namespaceFor(req.key);
    if (req.signal.aborted) throw new CancelledError("tests cancelled");
    if ((await this.ownNamespace(req.key, namespace)) === null) throw new Error(`no preview namespace ${namespace}: deploy first`);

    const nonce = randomBytes(12).toString("hex");
    const jobName = dnsLabel(`berth-test-${dnsLabel(req.runId, 30)}-${randomBytes(2).toString("hex")}`);
    const previewUrl = req.env.PREVIEW_URL ?? (await this.internalUrl(namespace)) ?? "";
    const wrapper = opts.wrapper ?? true;
    const env = { ...req.env, PREVIEW_URL: previewUrl, BERTH_REPORTS_DIR: req.reportsDir, BERTH_REPORT_NONCE: nonce };
    const podLabels = { [LABELS.managedBy]: MANAGED_BY, "berth.dev/role": "test" };
    const user = opts.runAsUser ?? 65532;
    const pullSecrets = this.pullSecretsFor(req.image);
    const job: V1Job = {
      apiVersion: "batch/v1",
      kind: "Job",
      metadata: { name: jobName, namespace, labels: { ...podLabels, "berth.dev/run-id": dnsLabel(req.runId) }, annotations: { [ANNOTATIONS.headSha]: req.sha } },
      spec: {
        backoffLimit: opts.backoffLimit ?? 0,
        activeDeadlineSeconds: Math.max(1, Math.ceil(req.timeoutMs / 1000)),
        ttlSecondsAfterFinished: opts.ttlSecondsAfterFinished ?? 3600,
        template: {
          metadata: { labels: podLabels },
          spec: {
            restartPolicy: "Never",
            automountServiceAccountToken: false,
            enableServiceLinks: false,
            // Pod Security `restricted`, whatever level the namespace enforces.
            securityContext: { runAsNonRoot: true, runAsUser: user, runAsGroup: user, fsGroup: user, seccompProfile: { type: "RuntimeDefault" } },
            ...(pullSecrets.length > 0 ? { imagePullSecrets: pullSecrets.map((name) => ({ name })) } : {}),
            containers: [
              {
                name: "test",
                image: req.image,
                // A wrapper-less run still gets the argv as-is: command replaces the entrypoint.
                command: wrapper ? wrapTestCommand(req.command) : [...req.command],
                env: Object.entries(env).map(([name, value]) => ({ name, value })),
                volumeMounts: [{ name: "reports", mountPath: req.reportsDir }],
                securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] }, runAsNonRoot: true },
                ...(opts.resources ? { resources: opts.resources } : {}),
              },
            ],
            volumes: [{ name: "reports", emptyDir: {} }],
          },
        },
      },
    };
    try {
      await kube.createJob(namespace, job);
    } catch (err) {
      throw new Error(`could not create the test job: ${this.redact(apiErrorMessage(err))}`);
    }
    this.options.log?.info({ namespace, job: jobName }, "test job created");

    let outcome;
    try {
      // activeDeadlineSeconds ends the Job in the cluster; the extra minute covers scheduling and pulls.
      outcome = await kube.waitForJob(namespace, jobName, { timeoutMs: req.timeoutMs + 60_000, signal: req.signal });
    } catch (err) {
      if (err instanceof CancelledError) {
        await kube.deleteJob(namespace, jobName).catch(() => undefined);
        throw new CancelledError("tests cancelled");
      }
      throw err;
    }
    const timedOut = outcome.state === "timed-out" || outcome.reason === "DeadlineExceeded";
    if (outcome.state === "timed-out") await kube.deleteJob(namespace, jobName).catch(() => undefined);

    const pods = (await kube.listPods(namespace, `job-name=${jobName}`)).sort(
      (a, b) => new Date(a.metadata?.creationTimestamp ?? 0).getTime() - new Date(b.metadata?.creationTimestamp ?? 0).getTime(),
    );
    const pod = pods.at(-1);
    const status = pod?.status?.containerStatuses?.find((s) => s.name === "test");
    const exitCode = timedOut ? null : (status?.state?.terminated?.exitCode ?? (outcome.state === "succeeded" ? 0 : null));
    const rawLog = pod?.metadata?.name ? await kube.podLog(namespace, pod.metadata.name, { container: "test", limitBytes: 16 * 1024 * 1024 }) : "";
    const parsed = parseTestLog(this.redact(rawLog), nonce);
    const lines = parsed.lines;
    if (lines.length === 0 && outcome.state !== "succeeded") lines.push(`test job ended: ${outcome.reason ?? outcome.state}${outcome.message ? `: ${outcome.message}` : ""}`);
    for (const line of lines) req.onLog?.(line);
    return { exitCode, timedOut, logTail: lines.slice(-(opts.logTailLines ?? 200)), reports: parsed.reports };
  }

  /**
   * Uninstall the release and delete the namespace; not found is success. A namespace of that name
   * that is not this key's (another repository, another berth, not berth's at all) is left alone,
   * and the error says so.
   */
  async remove(key: PreviewKey): Promise<{ removed: number }> {
    const namespace = this.namespaceFor(key);
    let existing;
    try {
      existing = await this.ownNamespace(key, namespace);
    } catch (err) {
      if (err instanceof NamespaceNotOwnedError) this.options.log?.warn({ namespace, mismatches: err.mismatches }, "not removing a namespace that is not this preview's");
      throw err;
    }
    const waitMs = this.options.namespaceWaitMs ?? 300_000;
    let removed = 0;
    if (existing && !existing.metadata?.deletionTimestamp) {
      // Uninstall first so hooks and finalizers of the chart run while the namespace still works.
      // Deleting the namespace removes the release too, so a failed uninstall does not stop it.
      try {
        const release = await this.options.helm.uninstall(this.release, namespace, { timeoutMs: 120_000 });
        if (release.removed) removed++;
      } catch (err) {
        this.options.log?.warn({ namespace, err: this.redact(err instanceof Error ? err.message : String(err)) }, "helm uninstall failed; deleting the namespace anyway");
      }
    }
    try {
      if (await this.options.kube.deleteNamespace(namespace, { timeoutMs: waitMs })) removed++;
    } catch (err) {
      if (!(err instanceof NamespaceStillTerminatingError)) throw err;
      // Deletion is under way and cannot be undone; a later deploy of the PR waits for it.
      this.options.log?.warn({ namespace }, "namespace still terminating after the wait");
      removed++;
    }
    this.options.log?.info({ namespace, removed }, "kubernetes preview removed");
    return { removed };
  }

  /** Every berth preview namespace with its bookkeeping (for the reconciler). */
  async listPreviews(): Promise<KubernetesPreview[]> {
    const out: KubernetesPreview[] = [];
    for (const ns of await this.options.kube.listNamespaces(this.selector())) {
      const labels = ns.metadata?.labels ?? {};
      const annotations = ns.metadata?.annotations ?? {};
      // Environments (pr 0) are not previews: they never expire and are never reconciled away.
      if (labels[LABELS.pr] === "0" || labels[LABELS.environment] !== undefined || ns.metadata?.deletionTimestamp) continue;
      const text = { host: labels[LABELS.host], repo: annotations[ANNOTATIONS.repo], pr: labels[LABELS.pr] };
      const parsed = parsePreviewKey(text);
      if (!parsed.ok) {
        this.options.log?.warn({ namespace: ns.metadata?.name, ...text, reason: parsed.reason }, "berth namespace with a malformed repository annotation or labels skipped");
        continue;
      }
      const { key } = parsed;
      // Only a namespace whose name and labels are what this berth derives for that repository.
      if (ns.metadata?.name !== this.namespaceFor(key) || identityMismatches(labels, this.labelsFor(key)).length > 0) continue;
      const expires = annotations[ANNOTATIONS.expiresAt] ? new Date(annotations[ANNOTATIONS.expiresAt]!) : undefined;
      out.push({
        key,
        namespace: ns.metadata!.name!,
        headSha: annotations[ANNOTATIONS.headSha],
        expiresAt: expires && !Number.isNaN(expires.getTime()) ? expires : undefined,
      });
    }
    return out;
  }

  /** All previews this target holds. */
  async list(): Promise<PreviewKey[]> {
    return (await this.listPreviews()).map((p) => p.key);
  }

  async listExpiring(): Promise<Array<{ key: PreviewKey; expiresAt?: Date }>> {
    return this.listPreviews();
  }

  /**
   * Scale the preview's Deployments and StatefulSets to 0, remembering each one's replica count in
   * an annotation; Services, Ingress, volumes and the Helm release stay.
   */
  async sleep(key: PreviewKey): Promise<{ stopped: number }> {
    const namespace = this.namespaceFor(key);
    if ((await this.ownNamespace(key, namespace)) === null) return { stopped: 0 };
    let stopped = 0;
    for (const workload of await this.options.kube.listWorkloads(namespace)) {
      if (workload.replicas === 0) continue;
      await this.options.kube.scaleWorkload(namespace, workload, 0, { [ANNOTATIONS.replicasBeforeSleep]: String(workload.replicas) });
      stopped++;
    }
    this.options.log?.info({ key, namespace, stopped }, "preview asleep");
    return { stopped };
  }

  /** Scale what `sleep` stopped back to its replica counts and wait (up to `preview.timeout`) until they are ready. */
  async wake(key: PreviewKey, preview: PreviewConfig, signal: AbortSignal): Promise<Record<string, never>> {
    const namespace = this.namespaceFor(key);
    if ((await this.ownNamespace(key, namespace)) === null) throw new Error(`no preview namespace ${namespace}: comment /deploy to start it again`);
    const woken: string[] = [];
    for (const workload of await this.options.kube.listWorkloads(namespace)) {
      const before = Number(workload.annotations[ANNOTATIONS.replicasBeforeSleep]);
      if (!Number.isInteger(before) || before < 1) continue;
      await this.options.kube.scaleWorkload(namespace, workload, before, { [ANNOTATIONS.replicasBeforeSleep]: null });
      woken.push(workload.name);
    }
    const deadline = Date.now() + preview.timeout;
    for (;;) {
      const waiting = (await this.options.kube.listWorkloads(namespace)).filter((w) => woken.includes(w.name) && w.readyReplicas < w.replicas);
      if (waiting.length === 0) break;
      if (signal.aborted) throw new CancelledError("wake cancelled");
      if (Date.now() > deadline) throw new Error(`not ready ${formatDuration(preview.timeout)} after waking: ${waiting.map((w) => `${w.kind} ${w.name} (${w.readyReplicas}/${w.replicas})`).join(", ")}`);
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
    this.options.log?.info({ key, namespace, woken }, "preview awake");
    return {};
  }

  /** Push `expires-at` forward (`/keep`). */
  async extendExpiry(key: PreviewKey, until: Date): Promise<void> {
    const namespace = this.namespaceFor(key);
    if ((await this.ownNamespace(key, namespace)) === null) throw new Error(`no preview namespace ${namespace}`);
    await this.options.kube.annotateNamespace(namespace, { [ANNOTATIONS.expiresAt]: until.toISOString() });
  }
}
