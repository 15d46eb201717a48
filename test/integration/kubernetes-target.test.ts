/**
 * The Kubernetes target end to end: the real helm binary and @kubernetes/client-node against the
 * in-process API fake. The kubeconfig's current context points at a dead port, so every call only
 * works when the configured context (`fake`) reaches both helm and the client.
 */
import { cp, mkdir, mkdtemp, readdir, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { gunzipSync, gzipSync } from "node:zlib";
import { pino } from "pino";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { runCommand } from "../../src/adapters/exec.js";
import { HelmCli } from "../../src/adapters/kubernetes/helm.js";
import { KubeClient } from "../../src/adapters/kubernetes/kube-client.js";
import { repoConfigSchema, type PreviewConfig } from "../../src/config/repo-config.js";
import type { PreviewKey } from "../../src/domain/ports.js";
import { createRedactor } from "../../src/domain/redact.js";
import { KubernetesDeployError, KubernetesTarget, type KubernetesDeployRequest } from "../../src/targets/kubernetes-target.js";
import { startFakeKubeApi, type FakeKubeApi, type KubeObject } from "../fakes/kube-api.js";
import { helmBinary, helmMajor } from "../helpers/helm-bin.js";
import { DEFAULT_QUOTA, parseQuota } from "../../src/config/kube-namespace-defaults.js";
import { previewName, repoSlug } from "../../src/domain/naming.js";

const builtinChart = fileURLToPath(new URL("../../charts/berth-preview", import.meta.url));
const NOW = new Date("2030-01-01T00:00:00Z");
const SHA = "0123456789abcdef0123456789abcdef01234567";

let fake: FakeKubeApi;
let home: string;
let valuesTmp: string;
let helm: HelmCli;
let kube: KubeClient;
let target: KubernetesTarget;
let prCounter = 100;

function preview(overrides: Record<string, unknown> = {}): PreviewConfig {
  return repoConfigSchema.parse({ preview: { target: "kubernetes", port: 3000, healthPath: "/healthz", timeout: "20s", env: { MODE: "preview" }, ...overrides } }).preview;
}

const DEPLOYER = { serviceAccount: "berth-deployer", clusterRole: "admin" };
const INSTANCE = "test-berth";
const ACME_APP = { host: "github", owner: "Acme", name: "App" };

/** The namespace berth derives for a PR of Acme/App (computed here, not asked of the target). */
function nsOf(key: PreviewKey): string {
  return previewName(ACME_APP, key.pr, INSTANCE);
}

function nextKey(): PreviewKey {
  return { host: "github", owner: "Acme", name: "App", pr: ++prCounter };
}

function deployRequest(key: PreviewKey, image: string, extra: Partial<KubernetesDeployRequest> = {}): KubernetesDeployRequest {
  return { key, sha: SHA, runId: `run-${key.pr}`, image, preview: preview(), signal: new AbortController().signal, ...extra };
}

/** Helm stores a release as base64(gzip(JSON)) in the Secret's `release` key. */
function decodeRelease(secret: KubeObject): { info: { status: string; description: string }; version: number; config: Record<string, unknown> } {
  const data = (secret.data as Record<string, string>).release!;
  return JSON.parse(gunzipSync(Buffer.from(Buffer.from(data, "base64").toString("utf8"), "base64")).toString("utf8"));
}

function releaseSecrets(namespace: string): Array<{ name: string; status: string; version: string }> {
  return fake
    .list("Secret", namespace)
    .filter((s) => s.metadata.labels?.owner === "helm")
    .map((s) => ({ name: s.metadata.name, status: s.metadata.labels!.status!, version: s.metadata.labels!.version! }))
    .sort((a, b) => Number(a.version) - Number(b.version));
}

function deploymentImage(namespace: string): string {
  const deployment = fake.get("Deployment", namespace, "preview")!;
  return (deployment.spec as any).template.spec.containers[0].image;
}

beforeAll(async () => {
  const bin = await helmBinary();
  fake = await startFakeKubeApi({ namespaceTerminationMs: 200 });
  home = await mkdtemp(join(tmpdir(), "berth-k8s-home-"));
  valuesTmp = await mkdtemp(join(tmpdir(), "berth-k8s-values-"));
  // helm deploys as the namespace's own ServiceAccount, the way berth runs by default.
  helm = new HelmCli({ bin, kubeContext: "fake", kubeconfig: fake.kubeconfigPath, env: { HOME: home }, tmpDir: valuesTmp, serviceAccount: DEPLOYER.serviceAccount });
  kube = new KubeClient({ kubeconfig: fake.kubeconfigPath, context: "fake", pollMs: 100 });
  target = new KubernetesTarget({
    helm,
    kube,
    domain: "preview.example.test",
    builtinChartDir: builtinChart,
    deployerRole: DEPLOYER.clusterRole,
    instance: INSTANCE,
    diagnosePollMs: 250,
    namespaceWaitMs: 10_000,
    now: () => NOW,
    redact: createRedactor(["s3cr3t-db-password"]),
  });
});

afterEach(() => {
  fake.clearRolloutFailures();
  fake.onJob(() => ({ result: "succeed" }));
});

afterAll(async () => {
  await fake?.close();
  await rm(home, { recursive: true, force: true });
  await rm(valuesTmp, { recursive: true, force: true });
});

describe(`KubernetesTarget against the API fake with the real helm ${helmMajor()}`, () => {
  it("runs the Helm major version this test project asks for", async () => {
    if (process.env.BERTH_TEST_HELM_BIN) return;
    expect((await helm.version()).major).toBe(Number(helmMajor()));
  });

  it("deploys into a labelled namespace with quota and a helm release, keeping an all-digit tag", async () => {
    const key = nextKey();
    const result = await target.deploy(deployRequest(key, "registry.test:5000/previews/acme-app:1234567", { preview: preview({ values: { replicaCount: 2 } }) }));
    const ns = nsOf(key);

    expect(result).toEqual({ url: `http://${ns}.preview.example.test`, internalUrl: `http://preview.${ns}.svc.cluster.local` });

    const namespace = fake.get("Namespace", undefined, ns)!;
    expect(ns).toMatch(/^acme-app-[0-9a-f]{8}-pr-\d+$/);
    expect(namespace.metadata.labels).toEqual({
      "app.kubernetes.io/managed-by": "berth",
      "berth.dev/instance": INSTANCE,
      "berth.dev/repo": repoSlug(ACME_APP, INSTANCE),
      "berth.dev/host": "github",
      "berth.dev/pr": String(key.pr),
      // Pod Security admission enforces `restricted` (the default level) in every preview namespace.
      "pod-security.kubernetes.io/enforce": "restricted",
      "pod-security.kubernetes.io/enforce-version": "latest",
      "pod-security.kubernetes.io/warn": "restricted",
      "pod-security.kubernetes.io/warn-version": "latest",
      "pod-security.kubernetes.io/audit": "restricted",
      "pod-security.kubernetes.io/audit-version": "latest",
    });
    expect(namespace.metadata.annotations).toEqual({
      "berth.dev/repo": "Acme/App",
      "berth.dev/head-sha": SHA,
      "berth.dev/pr-url": `https://github.com/Acme/App/pull/${key.pr}`,
      "berth.dev/run-id": `run-${key.pr}`,
      "berth.dev/expires-at": "2030-01-08T00:00:00.000Z",
    });
    expect((fake.get("ResourceQuota", ns, "berth-quota")!.spec as any).hard["limits.memory"]).toBe("4Gi");
    expect((fake.get("LimitRange", ns, "berth-limits")!.spec as any).limits[0].default).toEqual({ cpu: "500m", memory: "512Mi" });
    // helm's identity in the namespace: a ServiceAccount bound to `admin` there, and nowhere else.
    expect(fake.get("ServiceAccount", ns, "berth-deployer")?.metadata.labels).toMatchObject({ "app.kubernetes.io/managed-by": "berth" });
    const binding = fake.get("RoleBinding", ns, "berth-deployer")!;
    expect(binding.roleRef).toEqual({ apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "admin" });
    expect(binding.subjects).toEqual([{ kind: "ServiceAccount", name: "berth-deployer", namespace: ns }]);
    const helmRequests = fake.requests.filter((r) => r.userAgent?.startsWith("Helm/") && r.path.includes(`/namespaces/${ns}/`));
    expect(helmRequests.length).toBeGreaterThan(0);
    expect(new Set(helmRequests.map((r) => r.impersonateUser))).toEqual(new Set([`system:serviceaccount:${ns}:berth-deployer`]));

    expect(releaseSecrets(ns)).toEqual([{ name: "sh.helm.release.v1.preview.v1", status: "deployed", version: "1" }]);
    expect(deploymentImage(ns)).toBe("registry.test:5000/previews/acme-app:1234567");
    const release = decodeRelease(fake.get("Secret", ns, "sh.helm.release.v1.preview.v1")!);
    expect((release.config.image as Record<string, unknown>).tag).toBe("1234567");
    expect(release.config.berth).toEqual({ sha: SHA, pr: String(key.pr), repo: "Acme/App" });
    expect((fake.get("Deployment", ns, "preview")!.spec as any).replicas).toBe(2);
    expect((fake.get("Ingress", ns, "preview")!.spec as any).rules[0].host).toBe(`${ns}.preview.example.test`);
    // The values temp file is gone.
    expect(await readdir(valuesTmp)).toEqual([]);
    // Helm and the client both went through the fake (the current context is a dead port).
    // Helm 3 creates with POST, Helm 4 with a server-side apply PATCH.
    const created = (r: (typeof fake.requests)[number]): boolean =>
      (r.method === "POST" && r.path.endsWith("/deployments")) || (r.method === "PATCH" && r.path.endsWith("/deployments/preview") && r.contentType === "application/apply-patch+yaml");
    expect(fake.requests.some((r) => r.userAgent?.startsWith("Helm/") && created(r))).toBe(true);
  });

  it("gives preview namespaces the quota and limits the server settings ask for", async () => {
    const quota = parseQuota("requests.cpu=1,pods=5,count/jobs.batch=3", DEFAULT_QUOTA);
    if (!quota.ok) throw new Error(quota.error);
    const custom = new KubernetesTarget({ helm, kube, domain: "preview.example.test", builtinChartDir: builtinChart, deployerRole: DEPLOYER.clusterRole, instance: INSTANCE, quota: quota.value, limitRange: null, now: () => NOW, redact: createRedactor([]) });
    const key = nextKey();
    await custom.deploy(deployRequest(key, "registry.test/acme-app:q1"));
    const ns = nsOf(key);
    // The fake validated the ResourceQuota against the Kubernetes schema on its way in.
    expect((fake.get("ResourceQuota", ns, "berth-quota")!.spec as any).hard).toEqual({ "requests.cpu": "1", pods: "5", "count/jobs.batch": "3" });
    expect(fake.get("LimitRange", ns, "berth-limits")).toBeUndefined();
    await custom.remove(key);
  });

  it("upgrades an existing preview on a new push", async () => {
    const key = nextKey();
    const ns = nsOf(key);
    await target.deploy(deployRequest(key, "registry.test/acme-app:pr-1-aaaaaaa"));
    await target.deploy(deployRequest(key, "registry.test/acme-app:pr-1-bbbbbbb", { sha: "b".repeat(40) }));
    expect(deploymentImage(ns)).toBe("registry.test/acme-app:pr-1-bbbbbbb");
    expect(releaseSecrets(ns).map((s) => s.status)).toEqual(["superseded", "deployed"]);
    expect(fake.get("Namespace", undefined, ns)!.metadata.annotations!["berth.dev/head-sha"]).toBe("b".repeat(40));
  });

  it("reports a failed rollout with the pod's events and last log lines, and rolls back", async () => {
    const key = nextKey();
    const ns = nsOf(key);
    await target.deploy(deployRequest(key, "registry.test/acme-app:good"));
    fake.failRollout({ image: /:broken$/, logs: ["starting server", "FATAL: cannot connect to db with password s3cr3t-db-password"] });

    const error = await target.deploy(deployRequest(key, "registry.test/acme-app:broken", { preview: preview({ timeout: "3s" }) })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KubernetesDeployError);
    const message = (error as KubernetesDeployError).message;
    expect(message).toContain(`The preview in namespace ${ns} did not become ready`);
    expect(message).toMatch(/Pod preview-[a-z0-9]+-[a-z0-9]+: CrashLoopBackOff/);
    expect(message).toContain("Warning BackOff: Back-off restarting failed container app");
    expect(message).toContain("FATAL: cannot connect to db with password ***");
    expect(message).not.toContain("s3cr3t-db-password");
    expect((error as KubernetesDeployError).pods[0]!.restarts).toBe(4);

    // --atomic rolled the release back to the good image.
    expect(deploymentImage(ns)).toBe("registry.test/acme-app:good");
    const history = releaseSecrets(ns);
    expect(history.at(-1)!.status).toBe("deployed");
    expect(history.map((h) => h.status)).toContain("failed");
    expect(decodeRelease(fake.get("Secret", ns, history.at(-1)!.name)!).info.description).toMatch(/Rollback to 1/);
  }, 60_000);

  it("a first install that never becomes ready is uninstalled and explained (image pull)", async () => {
    const key = nextKey();
    const ns = nsOf(key);
    fake.failRollout({ image: /:missing$/, mode: "image-pull" });
    const error = await target.deploy(deployRequest(key, "registry.test/acme-app:missing", { preview: preview({ timeout: "2s" }) })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KubernetesDeployError);
    expect((error as Error).message).toContain("ImagePullBackOff");
    expect((error as Error).message).toContain('Failed to pull image "registry.test/acme-app:missing"');
    expect(releaseSecrets(ns)).toEqual([]);
    expect(fake.get("Deployment", ns, "preview")).toBeUndefined();
  }, 60_000);

  it("recovers a release left pending-upgrade by a killed helm", async () => {
    const key = nextKey();
    const ns = nsOf(key);
    await target.deploy(deployRequest(key, "registry.test/acme-app:v1"));

    // What a SIGKILLed `helm upgrade` leaves behind: revision 2 stuck in pending-upgrade.
    const v1 = fake.get("Secret", ns, "sh.helm.release.v1.preview.v1")!;
    const release = decodeRelease(v1);
    const pending = { ...release, version: 2, info: { ...release.info, status: "pending-upgrade", description: "Preparing upgrade" } };
    const encoded = Buffer.from(gzipSync(Buffer.from(JSON.stringify(pending))).toString("base64")).toString("base64");
    fake.put({
      ...v1,
      metadata: { name: "sh.helm.release.v1.preview.v2", namespace: ns, labels: { ...v1.metadata.labels, status: "pending-upgrade", version: "2" } },
      data: { release: encoded },
    });

    // Without recovery helm refuses to touch the release.
    const refused = await helm.upgradeInstall({ release: "preview", namespace: ns, chart: builtinChart, setString: { "image.repository": "r/x", "image.tag": "v2", "ingress.host": "h.example.test" }, timeoutMs: 10_000 }).catch((e: unknown) => e);
    expect(String((refused as Error).message)).toMatch(/another operation \(install\/upgrade\/rollback\) is in progress/);

    await target.deploy(deployRequest(key, "registry.test/acme-app:v2"));
    expect(deploymentImage(ns)).toBe("registry.test/acme-app:v2");
    // Helm keeps the stuck revision in its history; berth rolled back to 1 (v3) and then upgraded (v4).
    expect(releaseSecrets(ns).map((h) => `${h.version}:${h.status}`)).toEqual(["1:superseded", "2:pending-upgrade", "3:superseded", "4:deployed"]);
    expect(decodeRelease(fake.get("Secret", ns, "sh.helm.release.v1.preview.v3")!).info.description).toBe("Rollback to 1");
  }, 60_000);

  it("recovers a first install left pending-install by uninstalling it", async () => {
    const key = nextKey();
    const ns = nsOf(key);
    await target.deploy(deployRequest(key, "registry.test/acme-app:v1"));
    const v1 = fake.get("Secret", ns, "sh.helm.release.v1.preview.v1")!;
    const release = decodeRelease(v1);
    const pending = { ...release, info: { ...release.info, status: "pending-install", description: "Initial install underway" } };
    fake.put({ ...v1, metadata: { ...v1.metadata, labels: { ...v1.metadata.labels, status: "pending-install" } }, data: { release: Buffer.from(gzipSync(Buffer.from(JSON.stringify(pending))).toString("base64")).toString("base64") } });

    await target.deploy(deployRequest(key, "registry.test/acme-app:v2"));
    expect(deploymentImage(ns)).toBe("registry.test/acme-app:v2");
    expect(releaseSecrets(ns)).toEqual([{ name: "sh.helm.release.v1.preview.v1", status: "deployed", version: "1" }]);
  }, 60_000);

  it("cancels a deploy by killing helm, and the next deploy still succeeds", async () => {
    const key = nextKey();
    const ns = nsOf(key);
    await target.deploy(deployRequest(key, "registry.test/acme-app:v1"));
    fake.failRollout({ image: /:hangs$/, mode: "unready" });
    const controller = new AbortController();
    const pending = target.deploy(deployRequest(key, "registry.test/acme-app:hangs", { signal: controller.signal, preview: preview({ timeout: "60s" }) }));
    setTimeout(() => controller.abort(), 1500);
    const started = Date.now();
    await expect(pending).rejects.toMatchObject({ name: "CancelledError" });
    expect(Date.now() - started).toBeLessThan(15_000);
    fake.clearRolloutFailures();

    await target.deploy(deployRequest(key, "registry.test/acme-app:v3"));
    expect(deploymentImage(ns)).toBe("registry.test/acme-app:v3");
    expect(releaseSecrets(ns).at(-1)!.status).toBe("deployed");
  }, 60_000);

  it("runs tests as a Job and collects JUnit reports through the wrapper", async () => {
    const key = nextKey();
    const ns = nsOf(key);
    const deployed = await target.deploy(deployRequest(key, "registry.test/acme-app:v1"));
    const reportsDir = await mkdtemp(join(tmpdir(), "berth-reports-"));
    let seenJob: KubeObject | undefined;
    // The fake's "kubelet" runs the container command on this machine, so the real wrapper script runs.
    fake.onJob(async (job) => {
      seenJob = job;
      const container = (job.spec as any).template.spec.containers[0];
      const env = Object.fromEntries((container.env as Array<{ name: string; value: string }>).map((e) => [e.name, e.value]));
      const result = await runCommand(container.command[0], container.command.slice(1), { timeoutMs: 10_000, env, okExitCodes: [0, 1, 2, 3] });
      return { result: result.exitCode === 0 ? "succeed" : "fail", exitCode: result.exitCode, logs: result.stdout + result.stderr };
    });
    const script = [
      'echo "testing $PREVIEW_URL"',
      'mkdir -p "$BERTH_REPORTS_DIR/sub"',
      `printf '%s' '<testsuite name="api" tests="2" failures="1"><testcase name="ok"/></testsuite>' > "$BERTH_REPORTS_DIR/junit.xml"`,
      `printf '%s' '<testsuite name="ui" tests="1"/>' > "$BERTH_REPORTS_DIR/sub/ui.xml"`,
      'echo "not a report" > "$BERTH_REPORTS_DIR/notes.txt"',
      'echo "token s3cr3t-db-password"',
      "exit 3",
    ].join("\n");
    const lines: string[] = [];
    const result = await target.runTests({
      key,
      sha: SHA,
      runId: `run-${key.pr}`,
      image: "registry.test/acme-app-tests:v1",
      command: ["sh", "-c", script],
      env: { PREVIEW_URL: deployed.internalUrl, EXTRA: "1" },
      reportsDir,
      timeoutMs: 30_000,
      signal: new AbortController().signal,
      onLog: (line) => lines.push(line),
    });
    await rm(reportsDir, { recursive: true, force: true });

    expect(result.exitCode).toBe(3);
    expect(result.timedOut).toBe(false);
    expect(result.logTail).toEqual([`testing http://preview.${ns}.svc.cluster.local`, "token ***"]);
    expect(lines).toEqual(result.logTail);
    expect(result.reports.map((r) => r.path.slice(reportsDir.length)).sort()).toEqual(["/junit.xml", "/sub/ui.xml"]);
    expect(result.reports.find((r) => r.path.endsWith("junit.xml"))!.content).toBe('<testsuite name="api" tests="2" failures="1"><testcase name="ok"/></testsuite>');

    const spec = (seenJob!.spec as any);
    expect(spec.backoffLimit).toBe(0);
    expect(spec.activeDeadlineSeconds).toBe(30);
    expect(spec.ttlSecondsAfterFinished).toBe(3600);
    expect(spec.template.spec.restartPolicy).toBe("Never");
    expect(seenJob!.metadata.namespace).toBe(ns);
    // The Job's pod passes Pod Security `restricted` (the fake enforces it, as the namespace says).
    expect(spec.template.spec.securityContext).toEqual({ runAsNonRoot: true, runAsUser: 65532, runAsGroup: 65532, fsGroup: 65532, seccompProfile: { type: "RuntimeDefault" } });
    expect(spec.template.spec.containers[0].securityContext).toEqual({ allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] }, runAsNonRoot: true });
  }, 60_000);

  it("reports a Job that runs past its deadline as timed out", async () => {
    const key = nextKey();
    await target.deploy(deployRequest(key, "registry.test/acme-app:v1"));
    fake.onJob(() => ({ result: "deadline", logs: "still running\n" }));
    const result = await target.runTests({
      key,
      sha: SHA,
      runId: "run-deadline",
      image: "registry.test/acme-app:v1",
      command: ["npm", "test"],
      env: {},
      reportsDir: "/reports",
      timeoutMs: 1000,
      signal: new AbortController().signal,
    });
    expect(result.timedOut).toBe(true);
    expect(result.exitCode).toBeNull();
    expect(result.reports).toEqual([]);
    expect(result.logTail.join("\n")).toMatch(/DeadlineExceeded/);
  }, 30_000);

  it("lists previews, extends expiry, removes everything, and treats a second remove as success", async () => {
    const key = nextKey();
    const ns = nsOf(key);
    await target.deploy(deployRequest(key, "registry.test/acme-app:v1"));
    expect(await target.list()).toContainEqual(key);
    await target.extendExpiry(key, new Date("2030-02-01T00:00:00Z"));
    const listed = (await target.listPreviews()).find((p) => p.key.pr === key.pr)!;
    expect(listed).toMatchObject({ namespace: ns, headSha: SHA, expiresAt: new Date("2030-02-01T00:00:00Z") });

    expect(await target.remove(key)).toEqual({ removed: 2 });
    expect(fake.get("Namespace", undefined, ns)).toBeUndefined();
    expect(fake.list("Secret", ns)).toEqual([]);
    expect(fake.requests.some((r) => r.method === "DELETE" && r.path === `/apis/apps/v1/namespaces/${ns}/deployments/preview` && r.userAgent?.startsWith("Helm/"))).toBe(true);
    expect(await target.list()).not.toContainEqual(key);
    expect(await target.remove(key)).toEqual({ removed: 0 });
  }, 60_000);

  it("skips, with a warning, a berth namespace whose repository annotation is not owner/name", async () => {
    const warnings: Array<{ msg: string; namespace?: string; repo?: string }> = [];
    const log = pino({ level: "warn" }, { write: (line: string) => void warnings.push(JSON.parse(line)) });
    const watched = new KubernetesTarget({ helm, kube, domain: "preview.example.test", builtinChartDir: builtinChart, deployerRole: DEPLOYER.clusterRole, instance: INSTANCE, now: () => NOW, log });
    const key = nextKey();
    const ns = nsOf(key);
    await watched.deploy(deployRequest(key, "registry.test/acme-app:v1"));
    expect(await watched.list()).toContainEqual(key);
    for (const text of ["AcmeApp", "Acme/", "/App", "Acme/App/extra", "Acme/App "]) {
      warnings.length = 0;
      await kube.annotateNamespace(ns, { "berth.dev/repo": text });
      expect((await watched.list()).some((k) => k.pr === key.pr)).toBe(false);
      expect(warnings).toContainEqual(expect.objectContaining({ namespace: ns, repo: text, msg: "berth namespace with a malformed repository annotation or labels skipped" }));
    }
    await kube.annotateNamespace(ns, { "berth.dev/repo": "Acme/App" });
    expect(await watched.list()).toContainEqual(key);
    await watched.remove(key);
  }, 60_000);

  it("waits for a terminating namespace of a reopened PR before deploying", async () => {
    const key = nextKey();
    const ns = nsOf(key);
    await target.deploy(deployRequest(key, "registry.test/acme-app:v1"));
    const oldUid = fake.get("Namespace", undefined, ns)!.metadata.uid;
    fake.setNamespaceTerminationMs(1500);
    try {
      await kube.deleteNamespace(ns, { timeoutMs: 0 }).catch(() => undefined);
      expect(fake.get("Namespace", undefined, ns)!.status).toEqual({ phase: "Terminating" });
      const started = Date.now();
      await target.deploy(deployRequest(key, "registry.test/acme-app:v2"));
      expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    } finally {
      fake.setNamespaceTerminationMs(200);
    }
    const fresh = fake.get("Namespace", undefined, ns)!;
    expect(fresh.metadata.uid).not.toBe(oldUid);
    expect(fresh.status).toEqual({ phase: "Active" });
    expect(releaseSecrets(ns)).toEqual([{ name: "sh.helm.release.v1.preview.v1", status: "deployed", version: "1" }]);
  }, 60_000);

  it("refuses a namespace berth does not manage", async () => {
    const key = nextKey();
    const ns = nsOf(key);
    fake.put({ apiVersion: "v1", kind: "Namespace", metadata: { name: ns, labels: { team: "payments" } }, status: { phase: "Active" } });
    await expect(target.deploy(deployRequest(key, "registry.test/acme-app:v1"))).rejects.toThrow(`namespace ${ns} exists and does not belong to this repository on this berth (no app.kubernetes.io/managed-by label`);
    await expect(target.remove(key)).rejects.toThrow(/berth leaves it alone/);
    expect(fake.get("Namespace", undefined, ns)?.metadata.labels).toEqual({ team: "payments" });
  });

  it("never adopts, relabels, tests in or deletes a namespace carrying another repository's or another berth's labels", async () => {
    for (const foreign of [
      { "berth.dev/repo": repoSlug({ host: "github", owner: "Acme", name: "Other" }, INSTANCE), "berth.dev/instance": INSTANCE },
      { "berth.dev/repo": repoSlug(ACME_APP, INSTANCE), "berth.dev/instance": "production-berth" },
    ]) {
      const key = nextKey();
      const ns = nsOf(key);
      const labels = { "app.kubernetes.io/managed-by": "berth", "berth.dev/host": "github", "berth.dev/pr": String(key.pr), ...foreign };
      fake.put({ apiVersion: "v1", kind: "Namespace", metadata: { name: ns, labels, annotations: { "berth.dev/repo": "Acme/Other" } }, status: { phase: "Active" } });
      const before = fake.get("Namespace", undefined, ns)!;

      const error = await target.deploy(deployRequest(key, "registry.test/acme-app:v1")).catch((e: unknown) => e);
      expect((error as Error).message).toMatch(new RegExp(`^could not prepare namespace ${ns}: namespace ${ns} exists and does not belong to this repository on this berth \\(berth\\.dev/(repo|instance)=`));
      await expect(target.remove(key)).rejects.toThrow(/berth leaves it alone/);
      await expect(target.runTests({ key, sha: SHA, runId: "r", image: "registry.test/x:1", command: ["true"], env: {}, reportsDir: "/reports", timeoutMs: 5000, signal: new AbortController().signal })).rejects.toThrow(/does not belong/);
      await expect(target.extendExpiry(key, new Date("2031-01-01T00:00:00Z"))).rejects.toThrow(/does not belong/);

      // Untouched: same labels, same resourceVersion, nothing installed or created in it.
      const after = fake.get("Namespace", undefined, ns)!;
      expect(after.metadata.labels).toEqual(labels);
      expect(after.metadata.resourceVersion).toBe(before.metadata.resourceVersion);
      expect(releaseSecrets(ns)).toEqual([]);
      expect(fake.list("ServiceAccount", ns)).toEqual([]);
      expect(fake.requests.some((r) => r.userAgent?.startsWith("Helm/") && r.path.includes(`/namespaces/${ns}/`))).toBe(false);
      // And the reconciler does not see it as this berth's preview.
      expect((await target.list()).some((k) => k.pr === key.pr)).toBe(false);
    }
  });

  it("a configured environment namespace is used only when it is new or already this repository's", async () => {
    const env = (namespace: string): PreviewKey => ({ host: "github", owner: "Acme", name: "App", pr: 0, environment: "production", namespace });
    // New: berth creates it with its labels and deploys.
    await target.deploy(deployRequest(env("acme-prod"), "registry.test/acme-app:v1"));
    expect(fake.get("Namespace", undefined, "acme-prod")!.metadata.labels).toMatchObject({
      "berth.dev/repo": repoSlug(ACME_APP, INSTANCE),
      "berth.dev/instance": INSTANCE,
      "berth.dev/pr": "0",
      "berth.dev/environment": "production",
    });
    // Already this repository's: upgraded in place.
    await target.deploy(deployRequest(env("acme-prod"), "registry.test/acme-app:v2"));
    expect(deploymentImage("acme-prod")).toBe("registry.test/acme-app:v2");

    // Somebody else's namespaces: kube-system, a team's, another repository's environment.
    fake.put({ apiVersion: "v1", kind: "Namespace", metadata: { name: "payments", labels: { team: "payments" } }, status: { phase: "Active" } });
    const other = new KubernetesTarget({ helm, kube, domain: "preview.example.test", builtinChartDir: builtinChart, deployerRole: DEPLOYER.clusterRole, instance: INSTANCE, now: () => NOW });
    await other.deploy(deployRequest({ host: "github", owner: "Acme", name: "Other", pr: 0, environment: "production", namespace: "other-prod" }, "registry.test/acme-other:v1"));
    for (const namespace of ["kube-system", "payments", "other-prod"]) {
      const before = fake.get("Namespace", undefined, namespace)!;
      await expect(target.deploy(deployRequest(env(namespace), "registry.test/acme-app:v1"))).rejects.toThrow(`namespace ${namespace} exists and does not belong to this repository on this berth`);
      expect(fake.get("Namespace", undefined, namespace)!.metadata.resourceVersion).toBe(before.metadata.resourceVersion);
    }
    expect(deploymentImage("other-prod")).toBe("registry.test/acme-other:v1");
  }, 60_000);

  it("two berth instances on one cluster get separate namespaces and never list or remove each other's", async () => {
    const staging = new KubernetesTarget({ helm, kube, domain: "preview.example.test", builtinChartDir: builtinChart, deployerRole: DEPLOYER.clusterRole, instance: "staging", now: () => NOW });
    const key = nextKey();
    await target.deploy(deployRequest(key, "registry.test/acme-app:v1"));
    await staging.deploy(deployRequest(key, "registry.test/acme-app:v1"));
    const mine = nsOf(key);
    const theirs = previewName(ACME_APP, key.pr, "staging");
    expect(theirs).not.toBe(mine);
    expect(fake.get("Namespace", undefined, theirs)!.metadata.labels?.["berth.dev/instance"]).toBe("staging");
    expect((await staging.listPreviews()).map((p) => p.namespace)).toEqual([theirs]);
    expect((await target.listPreviews()).map((p) => p.namespace)).not.toContain(theirs);

    await staging.remove(key);
    expect(fake.get("Namespace", undefined, theirs)).toBeUndefined();
    expect(fake.get("Namespace", undefined, mine)).toBeDefined();
    expect(releaseSecrets(mine).at(-1)!.status).toBe("deployed");
    await target.remove(key);
  }, 60_000);

  it("repositories whose names sanitise alike get different namespaces", () => {
    const dash = target.namespaceFor({ host: "github", owner: "owner", name: "x-app", pr: 1 });
    const dot = target.namespaceFor({ host: "github", owner: "owner", name: "x.app", pr: 1 });
    const gitee = target.namespaceFor({ host: "gitee", owner: "owner", name: "x-app", pr: 1 });
    expect(new Set([dash, dot, gitee]).size).toBe(3);
  });

  it("gives every preview namespace a default-deny NetworkPolicy and the few allow rules a preview needs", async () => {
    const key = nextKey();
    const ns = nsOf(key);
    await target.deploy(deployRequest(key, "registry.test/acme-app:v1"));
    // The fake validated each against the NetworkPolicy schema on its way in.
    const policies = Object.fromEntries(fake.list("NetworkPolicy", ns).map((p) => [p.metadata.name, p.spec as any]));
    expect(Object.keys(policies).sort()).toEqual(["berth-allow-dns", "berth-allow-ingress-controller", "berth-allow-internet-egress", "berth-allow-same-namespace", "berth-default-deny"]);
    expect(policies["berth-default-deny"]).toEqual({ podSelector: {}, policyTypes: ["Ingress", "Egress"] });
    expect(policies["berth-allow-same-namespace"].ingress).toEqual([{ from: [{ podSelector: {} }] }]);
    expect(policies["berth-allow-same-namespace"].egress).toEqual([{ to: [{ podSelector: {} }] }]);
    expect(policies["berth-allow-ingress-controller"].ingress).toEqual([{ from: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "ingress-nginx" } } }] }]);
    expect(policies["berth-allow-dns"].egress[0].ports).toEqual([
      { protocol: "UDP", port: 53 },
      { protocol: "TCP", port: 53 },
    ]);
    const internet = policies["berth-allow-internet-egress"].egress[0].to[0].ipBlock;
    expect(internet.cidr).toBe("0.0.0.0/0");
    expect(internet.except).toEqual(expect.arrayContaining(["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16"]));
    expect(fake.get("NetworkPolicy", ns, "berth-default-deny")!.metadata.labels).toMatchObject({ "berth.dev/instance": INSTANCE });
    await target.remove(key);
  });

  it("a chart whose pods break Pod Security restricted never becomes ready, and the deploy error says why", async () => {
    const source = await mkdtemp(join(tmpdir(), "berth-source-"));
    try {
      await cp(builtinChart, join(source, "chart"), { recursive: true });
      // The pods run as the image's user (root here) with the runtime's default privileges.
      await writeFile(
        join(source, "chart/templates/deployment.yaml"),
        [
          "apiVersion: apps/v1",
          "kind: Deployment",
          "metadata: { name: preview }",
          "spec:",
          "  selector: { matchLabels: { app: preview } }",
          "  template:",
          "    metadata: { labels: { app: preview } }",
          "    spec:",
          "      containers:",
          "        - name: app",
          "          image: {{ printf \"%s:%s\" .Values.image.repository .Values.image.tag | quote }}",
          "          securityContext: { runAsUser: 0, capabilities: { add: [NET_ADMIN] } }",
          "",
        ].join("\n"),
      );
      const key = nextKey();
      const ns = nsOf(key);
      const error = await target.deploy(deployRequest(key, "registry.test/acme-app:v1", { sourceDir: source, preview: preview({ chart: "chart", timeout: "3s" }) })).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(KubernetesDeployError);
      const message = (error as Error).message;
      expect(message).toContain(`helm could not deploy the preview in namespace ${ns}`);
      expect(message).toContain("Pods could not be created:");
      expect(message).toMatch(/ReplicaSet preview-[0-9a-f]+: Error creating: pods "preview-[0-9a-f]+-[0-9a-f]+" is forbidden: violates PodSecurity "restricted:latest": /);
      expect(message).toContain('non-default capabilities (container "app" must not include "NET_ADMIN" in securityContext.capabilities.add)');
      expect(message).toContain('allowPrivilegeEscalation != false (container "app" must set securityContext.allowPrivilegeEscalation=false)');
      expect(message).toContain('runAsNonRoot != true (pod or container "app" must set securityContext.runAsNonRoot=true)');
      expect(message).toContain('runAsUser=0 (container "app" must not set runAsUser=0)');
      expect(fake.list("Pod", ns)).toEqual([]);

      // The same chart where the operator chose `privileged` (BERTH_KUBE_POD_SECURITY) deploys.
      const lax = new KubernetesTarget({ helm, kube, domain: "preview.example.test", builtinChartDir: builtinChart, deployerRole: DEPLOYER.clusterRole, instance: INSTANCE, podSecurity: "privileged", now: () => NOW });
      const laxKey = nextKey();
      await lax.deploy(deployRequest(laxKey, "registry.test/acme-app:v1", { sourceDir: source, preview: preview({ chart: "chart" }) }));
      expect(fake.get("Namespace", undefined, nsOf(laxKey))!.metadata.labels?.["pod-security.kubernetes.io/enforce"]).toBe("privileged");
      expect(fake.list("Pod", nsOf(laxKey))).toHaveLength(1);
      await lax.remove(laxKey);
    } finally {
      await rm(source, { recursive: true, force: true });
    }
  }, 60_000);

  it("refuses a chart whose rendered manifests reach beyond the preview, listing every violation, before installing anything", async () => {
    const key = nextKey();
    const ns = nsOf(key);
    const source = await mkdtemp(join(tmpdir(), "berth-source-"));
    try {
      await cp(builtinChart, join(source, "chart"), { recursive: true });
      await writeFile(
        join(source, "chart/templates/evil.yaml"),
        [
          "apiVersion: networking.k8s.io/v1",
          "kind: Ingress",
          "metadata:",
          "  name: login",
          "  annotations: { nginx.ingress.kubernetes.io/configuration-snippet: 'proxy_pass http://169.254.169.254;' }",
          "spec:",
          "  rules:",
          "    - host: login.bank.example",
          "      http: { paths: [{ path: /, pathType: Prefix, backend: { service: { name: preview, port: { number: 80 } } } }] }",
          "---",
          "apiVersion: v1",
          "kind: Service",
          "metadata: { name: exposed }",
          "spec: { type: NodePort, selector: { app: x }, ports: [{ port: 80 }] }",
          "---",
          "apiVersion: v1",
          "kind: ConfigMap",
          "metadata: { name: planted, namespace: kube-system }",
          "data: { a: b }",
          "---",
          "apiVersion: networking.k8s.io/v1",
          "kind: NetworkPolicy",
          "metadata: { name: allow-all }",
          "spec: { podSelector: {}, egress: [{}], policyTypes: [Egress] }",
          "---",
          "apiVersion: apps/v1",
          "kind: DaemonSet",
          "metadata: { name: node-agent }",
          "spec:",
          "  selector: { matchLabels: { app: agent } }",
          "  template:",
          "    metadata: { labels: { app: agent } }",
          "    spec:",
          "      hostNetwork: true",
          "      volumes: [{ name: root, hostPath: { path: / } }]",
          "      containers: [{ name: agent, image: busybox, securityContext: { privileged: true } }]",
          "",
        ].join("\n"),
      );
      const error = await target.deploy(deployRequest(key, "registry.test/acme-app:v1", { sourceDir: source, preview: preview({ chart: "chart" }) })).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(KubernetesDeployError);
      expect((error as Error).message.split("\n")).toEqual([
        `berth refused the preview's manifests for namespace ${ns}:`,
        "- NetworkPolicy/allow-all kind NetworkPolicy is not allowed in a preview (berth owns the namespace's network policies)",
        "- ConfigMap/planted is in namespace kube-system; a preview may only create objects in " + ns,
        "- Service/exposed is of type NodePort; previews are reached through their Ingress only",
        "- DaemonSet/node-agent sets hostNetwork: true",
        "- DaemonSet/node-agent mounts the node path / (hostPath volume root)",
        "- DaemonSet/node-agent container agent is privileged",
        "- Ingress/login has the annotation nginx.ingress.kubernetes.io/configuration-snippet, which injects ingress controller configuration",
        `- Ingress/login serves host login.bank.example; a preview may only serve ${ns}.preview.example.test`,
      ]);
      expect(releaseSecrets(ns)).toEqual([]);
      expect(fake.get("ConfigMap", "kube-system", "planted")).toBeUndefined();
      expect(fake.list("Deployment", ns)).toEqual([]);

      // Values alone can do it too: the built-in chart passes ingress annotations through.
      const snippet = await target
        .deploy(deployRequest(key, "registry.test/acme-app:v1", { preview: preview({ values: { ingress: { annotations: { "nginx.ingress.kubernetes.io/server-snippet": "location /x {}" } } } }) }))
        .catch((e: unknown) => e);
      expect((snippet as Error).message).toContain("- Ingress/preview has the annotation nginx.ingress.kubernetes.io/server-snippet");
    } finally {
      await rm(source, { recursive: true, force: true });
      await target.remove(key);
    }
  }, 30_000);

  it("gives berth's pull secrets only to images from berth's registry", async () => {
    const withSecrets = new KubernetesTarget({
      helm,
      kube,
      domain: "preview.example.test",
      builtinChartDir: builtinChart,
      deployerRole: DEPLOYER.clusterRole,
      instance: INSTANCE,
      imagePullSecrets: { registry: "registry.test:5000", names: ["berth-pull"] },
      now: () => NOW,
    });
    const key = nextKey();
    const ns = nsOf(key);
    // A repository's values cannot hand the secret to another image either.
    await withSecrets.deploy(deployRequest(key, "registry.test:5000/previews/acme-app:v1", { preview: preview({ values: { imagePullSecrets: ["berth-pull", "other"] } }) }));
    expect((fake.get("Deployment", ns, "preview")!.spec as any).template.spec.imagePullSecrets).toEqual([{ name: "berth-pull" }]);
    // (Another PR: the fake's server-side apply, which Helm 4 uses, merges rather than drops fields.)
    const otherKey = nextKey();
    await withSecrets.deploy(deployRequest(otherKey, "attacker.example/acme-app:v1", { preview: preview({ values: { imagePullSecrets: ["berth-pull"] } }) }));
    expect((fake.get("Deployment", nsOf(otherKey), "preview")!.spec as any).template.spec.imagePullSecrets).toBeUndefined();
    await withSecrets.remove(otherKey);

    const jobs: KubeObject[] = [];
    fake.onJob((job) => {
      jobs.push(job);
      return { result: "succeed" };
    });
    const run = (image: string) =>
      withSecrets.runTests({ key, sha: SHA, runId: `pull-${jobs.length}`, image, command: ["true"], env: {}, reportsDir: "/reports", timeoutMs: 10_000, signal: new AbortController().signal });
    await run("registry.test:5000/previews/acme-app:v1");
    await run("registry.test:5001/previews/acme-app:v1");
    await run("docker.io/library/busybox:1");
    expect(jobs.map((j) => (j.spec as any).template.spec.imagePullSecrets)).toEqual([[{ name: "berth-pull" }], undefined, undefined]);
    await withSecrets.remove(key);
  }, 60_000);

  it("deploys the repository's own chart with its values files", async () => {
    const key = nextKey();
    const ns = nsOf(key);
    const source = await mkdtemp(join(tmpdir(), "berth-source-"));
    try {
      await cp(builtinChart, join(source, "deploy/chart"), { recursive: true });
      await writeFile(join(source, "deploy/preview-values.yaml"), "replicaCount: 3\n");
      await target.deploy(deployRequest(key, "registry.test/acme-app:v1", { sourceDir: source, preview: preview({ chart: "deploy/chart", valuesFiles: ["deploy/preview-values.yaml"] }) }));
      expect((fake.get("Deployment", ns, "preview")!.spec as any).replicas).toBe(3);
    } finally {
      await rm(source, { recursive: true, force: true });
    }
  }, 30_000);

  it("deploys charts as the namespace's ServiceAccount: a chart cannot look up Secrets of other namespaces", async () => {
    fake.put({ apiVersion: "v1", kind: "Secret", metadata: { name: "cluster-admin-token", namespace: "kube-system" }, data: { token: Buffer.from("s3cr3t").toString("base64") } });
    const key = nextKey();
    const ns = nsOf(key);
    const source = await mkdtemp(join(tmpdir(), "berth-source-"));
    try {
      await cp(builtinChart, join(source, "chart"), { recursive: true });
      await writeFile(
        join(source, "chart/templates/steal.yaml"),
        'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: stolen\ndata:\n  token: {{ (lookup "v1" "Secret" "kube-system" "cluster-admin-token").data | toJson | quote }}\n',
      );
      const error = await target.deploy(deployRequest(key, "registry.test/acme-app:v1", { sourceDir: source, preview: preview({ chart: "chart", timeout: "5s" }) })).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(Error);
      expect((error as Error).message).toContain(`secrets "cluster-admin-token" is forbidden: User "system:serviceaccount:${ns}:berth-deployer" cannot get resource "secrets" in API group "" in the namespace "kube-system"`);
      expect(fake.get("ConfigMap", ns, "stolen")).toBeUndefined();
      expect(fake.requests.some((r) => r.path === "/api/v1/namespaces/kube-system/secrets/cluster-admin-token" && r.status === 403)).toBe(true);
    } finally {
      await rm(source, { recursive: true, force: true });
      await target.remove(key);
    }
  });

  it("explains a chart the API server rejects (422 from the fake's schema validation, through helm)", async () => {
    const key = nextKey();
    const ns = nsOf(key);
    const source = await mkdtemp(join(tmpdir(), "berth-source-"));
    try {
      await cp(builtinChart, join(source, "chart"), { recursive: true });
      await writeFile(join(source, "chart/templates/bad.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  labels:\n    repo: acme/app\ndata:\n  a: b\n");
      const error = await target.deploy(deployRequest(key, "registry.test/acme-app:v1", { sourceDir: source, preview: preview({ chart: "chart", timeout: "5s" }) })).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(KubernetesDeployError);
      expect((error as Error).message).toMatch(new RegExp(`^helm could not deploy the preview in namespace ${ns}: .*ConfigMap "settings" is invalid`));
      expect((error as Error).message).toContain("label 'repo': value 'acme/app'");
      const refused = (r: (typeof fake.requests)[number]): boolean =>
        (r.method === "POST" && r.path === `/api/v1/namespaces/${ns}/configmaps`) || (r.method === "PATCH" && r.path === `/api/v1/namespaces/${ns}/configmaps/settings`);
      expect(fake.requests.some((r) => refused(r) && r.status === 422)).toBe(true);
    } finally {
      await rm(source, { recursive: true, force: true });
    }
  }, 30_000);

  it("refuses a repository chart with symlinks or paths leaving the source", async () => {
    const key = nextKey();
    const source = await mkdtemp(join(tmpdir(), "berth-source-"));
    try {
      await cp(builtinChart, join(source, "chart"), { recursive: true });
      await symlink("/etc/hostname", join(source, "chart/templates/leak.yaml"));
      await mkdir(join(source, "other"));
      await symlink("/etc", join(source, "other/escape"));
      await expect(target.deploy(deployRequest(key, "r/x:1", { sourceDir: source, preview: preview({ chart: "chart" }) }))).rejects.toThrow(/symbolic link/);
      await expect(target.deploy(deployRequest(key, "r/x:1", { sourceDir: source, preview: preview({ valuesFiles: ["other/escape/hostname"] }) }))).rejects.toThrow(/outside the repository/);
      await expect(target.deploy(deployRequest(key, "r/x:1", { preview: preview({ chart: "chart" }) }))).rejects.toThrow(/sourceDir/);
    } finally {
      await rm(source, { recursive: true, force: true });
    }
    expect(fake.get("Namespace", undefined, nsOf(key))).toBeUndefined();
  });
});
