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

function nextKey(): PreviewKey {
  return { repo: "Acme/App", host: "github", pr: ++prCounter };
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
    const ns = `acme-app-pr-${key.pr}`;

    expect(result).toEqual({ url: `http://${ns}.preview.example.test`, internalUrl: `http://preview.${ns}.svc.cluster.local` });

    const namespace = fake.get("Namespace", undefined, ns)!;
    expect(namespace.metadata.labels).toEqual({
      "app.kubernetes.io/managed-by": "berth",
      "berth.dev/repo": "acme-app",
      "berth.dev/host": "github",
      "berth.dev/pr": String(key.pr),
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
    const custom = new KubernetesTarget({ helm, kube, domain: "preview.example.test", builtinChartDir: builtinChart, deployerRole: DEPLOYER.clusterRole, quota: quota.value, limitRange: null, now: () => NOW, redact: createRedactor([]) });
    const key = nextKey();
    await custom.deploy(deployRequest(key, "registry.test/acme-app:q1"));
    const ns = `acme-app-pr-${key.pr}`;
    // The fake validated the ResourceQuota against the Kubernetes schema on its way in.
    expect((fake.get("ResourceQuota", ns, "berth-quota")!.spec as any).hard).toEqual({ "requests.cpu": "1", pods: "5", "count/jobs.batch": "3" });
    expect(fake.get("LimitRange", ns, "berth-limits")).toBeUndefined();
    await custom.remove(key);
  });

  it("upgrades an existing preview on a new push", async () => {
    const key = nextKey();
    const ns = `acme-app-pr-${key.pr}`;
    await target.deploy(deployRequest(key, "registry.test/acme-app:pr-1-aaaaaaa"));
    await target.deploy(deployRequest(key, "registry.test/acme-app:pr-1-bbbbbbb", { sha: "b".repeat(40) }));
    expect(deploymentImage(ns)).toBe("registry.test/acme-app:pr-1-bbbbbbb");
    expect(releaseSecrets(ns).map((s) => s.status)).toEqual(["superseded", "deployed"]);
    expect(fake.get("Namespace", undefined, ns)!.metadata.annotations!["berth.dev/head-sha"]).toBe("b".repeat(40));
  });

  it("reports a failed rollout with the pod's events and last log lines, and rolls back", async () => {
    const key = nextKey();
    const ns = `acme-app-pr-${key.pr}`;
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
    const ns = `acme-app-pr-${key.pr}`;
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
    const ns = `acme-app-pr-${key.pr}`;
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
    const ns = `acme-app-pr-${key.pr}`;
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
    const ns = `acme-app-pr-${key.pr}`;
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
    const ns = `acme-app-pr-${key.pr}`;
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
    const ns = `acme-app-pr-${key.pr}`;
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

  it("waits for a terminating namespace of a reopened PR before deploying", async () => {
    const key = nextKey();
    const ns = `acme-app-pr-${key.pr}`;
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
    const ns = `acme-app-pr-${key.pr}`;
    fake.put({ apiVersion: "v1", kind: "Namespace", metadata: { name: ns, labels: { team: "payments" } }, status: { phase: "Active" } });
    await expect(target.deploy(deployRequest(key, "registry.test/acme-app:v1"))).rejects.toThrow(/not managed by berth/);
    await expect(target.remove(key)).rejects.toThrow(/not managed by berth/);
    expect(fake.get("Namespace", undefined, ns)).toBeDefined();
  });

  it("deploys the repository's own chart with its values files", async () => {
    const key = nextKey();
    const ns = `acme-app-pr-${key.pr}`;
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
    const ns = `acme-app-pr-${key.pr}`;
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
    const ns = `acme-app-pr-${key.pr}`;
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
    expect(fake.get("Namespace", undefined, `acme-app-pr-${key.pr}`)).toBeUndefined();
  });
});
