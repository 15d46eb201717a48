/**
 * A PR with `preview.target: kubernetes` through the whole pipeline: real payloads through
 * `probot.receive`, the GitHub HTTP fake, a real image build and push (Docker engine + registry), the
 * real helm binary and @kubernetes/client-node against the Kubernetes API fake, tests as a Job whose
 * container the fake runs on this machine, then close → helm uninstall and namespace deletion.
 * The reconciler removes an expired preview whose webhook was lost.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDockerClient } from "../../src/adapters/docker/docker-client.js";
import { DockerImageBuilder } from "../../src/adapters/docker/image-builder.js";
import { runCommand } from "../../src/adapters/exec.js";
import { HelmCli } from "../../src/adapters/kubernetes/helm.js";
import { KubeClient } from "../../src/adapters/kubernetes/kube-client.js";
import { createRedactor } from "../../src/domain/redact.js";
import { KubernetesTarget } from "../../src/targets/kubernetes-target.js";
import { previewName } from "../../src/domain/naming.js";
import { previewKeyOf } from "../../src/domain/preview-key.js";
import { FakeGitHubApi } from "../fakes/github-api.js";
import { startFakeKubeApi, type FakeKubeApi } from "../fakes/kube-api.js";
import { pullRequestPayload } from "../helpers/github-payloads.js";
import { helmBinary } from "../helpers/helm-bin.js";
import { createHarness, type Harness } from "../helpers/probot-harness.js";
import { sampleSource } from "../helpers/sample-app.js";
import { requireServices } from "../helpers/services.js";

const services = requireServices();
const docker = createDockerClient(services.dockerHost);
const log = pino({ level: process.env.TEST_LOG_LEVEL ?? "silent" });
const redact = createRedactor([]);
const github = new FakeGitHubApi();
const REPO = "acme/kube-shop";
const INSTANCE = "pipeline-test";
const nsOf = (pr: number): string => previewName({ host: "github", owner: "acme", name: "kube-shop" }, pr, INSTANCE);
const SHA = "c0ffee".repeat(7).slice(0, 40);
let kube: FakeKubeApi;
let harness: Harness;
let home: string;
let reportsDir: string;
let target: KubernetesTarget;

function config(reports: string): string {
  return `preview:
  target: kubernetes
  port: 8080
  healthPath: /
  domain: preview.example.test
  timeout: 30s
test:
  image: preview
  reports: ${reports}
  timeout: 60s
  command:
    - sh
    - -c
    - |
      echo "testing $PREVIEW_URL"
      printf '%s' '<testsuite name="k8s"><testcase name="service answers"/><testcase name="later"><skipped/></testcase></testsuite>' > ${reports}/junit.xml
`;
}

function statusComment(pr: number): string {
  const bodies = github.commentsOf(REPO, pr).filter((b) => b.includes("<!-- berth:status -->"));
  expect(bodies).toHaveLength(1);
  return bodies[0]!;
}

beforeAll(async () => {
  await github.start();
  kube = await startFakeKubeApi({ namespaceTerminationMs: 200 });
  home = await mkdtemp(join(tmpdir(), "berth-k8s-pipeline-"));
  reportsDir = await mkdtemp(join(tmpdir(), "berth-k8s-reports-"));
  // The fake's "kubelet" runs the Job's container command on this machine (the real wrapper script).
  kube.onJob(async (job) => {
    const container = (job.spec as any).template.spec.containers[0];
    const env = Object.fromEntries((container.env as Array<{ name: string; value: string }>).map((e) => [e.name, e.value]));
    const result = await runCommand(container.command[0], [...container.command.slice(1), ...(container.args ?? [])], { timeoutMs: 30_000, env, okExitCodes: [0, 1, 2, 3] });
    return { result: result.exitCode === 0 ? "succeed" : "fail", exitCode: result.exitCode, logs: result.stdout + result.stderr };
  });
  target = new KubernetesTarget({
    // As berth runs by default: helm deploys as each namespace's own ServiceAccount.
    helm: new HelmCli({ bin: await helmBinary(), kubeContext: "fake", kubeconfig: kube.kubeconfigPath, env: { HOME: home }, redact, log, serviceAccount: "berth-deployer" }),
    kube: new KubeClient({ kubeconfig: kube.kubeconfigPath, context: "fake", pollMs: 100 }),
    deployerRole: "admin",
    instance: INSTANCE,
    namespaceWaitMs: 10_000,
    redact,
    log,
  });
  const fake = github.repo(REPO);
  fake.config = config(reportsDir);
  fake.tarballs.set(SHA, (await sampleSource({ variant: "ok", marker: "kube", busybox: services.busybox })).data);
  harness = await createHarness({
    baseUrl: github.url,
    registry: `${services.registry}/berth-k8s`,
    builder: new DockerImageBuilder({ docker, log, redact }),
    target,
  });
});

afterAll(async () => {
  await harness?.close();
  await github.stop();
  await kube?.close();
  await rm(home, { recursive: true, force: true });
  await rm(reportsDir, { recursive: true, force: true });
});

describe("GitHub PR on Kubernetes (helm + API fake)", () => {
  it("builds, installs the release in the PR namespace, runs the tests as a Job, reports, and uninstalls on close", { timeout: 240_000 }, async () => {
    const started = Date.now();
    await harness.probot.receive({ id: "k-open", name: "pull_request", payload: pullRequestPayload({ action: "opened", repo: REPO, prNumber: 21, headSha: SHA }) } as never);
    await harness.engine.idle();
    const wallMs = Date.now() - started;

    const ns = nsOf(21);
    const body = statusComment(21);
    expect(body).toContain("| build | ✅ passed |");
    expect(body).toContain("| deploy | ✅ passed |");
    expect(body).toContain("| test | ✅ passed |");
    expect(body).toContain(`**Preview:** http://${ns}.preview.example.test (commit \`c0ffeec\`)`);
    expect(body).toContain("1 passed, 0 failed, 1 skipped");

    const namespace = kube.get("Namespace", undefined, ns)!;
    expect(namespace.metadata.labels?.["app.kubernetes.io/managed-by"]).toBe("berth");
    expect(namespace.metadata.annotations?.["berth.dev/head-sha"]).toBe(SHA);
    const release = kube.list("Secret", ns).filter((s) => s.metadata.labels?.owner === "helm");
    expect(release.map((s) => s.metadata.labels?.status)).toEqual(["deployed"]);
    const image = (kube.get("Deployment", ns, "preview")!.spec as any).template.spec.containers[0].image;
    // The image repository carries the repository's slug (with its hash), as every derived name does.
    expect(image).toMatch(new RegExp(`^${services.registry.replace(/[.]/g, "\\.")}/berth-k8s/acme-kube-shop-[0-9a-f]{8}:pr-21-c0ffeec$`));
    const job = kube.list("Job", ns)[0]!;
    expect((job.spec as any).template.spec.containers[0].env).toContainEqual({ name: "PREVIEW_URL", value: `http://preview.${ns}.svc.cluster.local` });
    console.info(`kubernetes pipeline (real build + helm against the fake): ${wallMs} ms wall`);

    await harness.probot.receive({ id: "k-close", name: "pull_request", payload: pullRequestPayload({ action: "closed", repo: REPO, prNumber: 21, headSha: SHA }) } as never);
    await harness.engine.idle();
    expect(kube.get("Namespace", undefined, ns)).toBeUndefined();
    expect(statusComment(21)).toContain("The PR is closed: its preview is gone.");
  });

  it("the reconciler removes an expired preview whose close webhook was lost", { timeout: 120_000 }, async () => {
    const key = previewKeyOf({ host: "github", owner: "acme", name: "kube-shop" }, 22);
    const preview = (await import("../../src/config/repo-config.js")).repoConfigSchema.parse({ preview: { target: "kubernetes", domain: "preview.example.test", timeout: "20s" } }).preview;
    await target.deploy({ key, sha: SHA, runId: "orphan", image: "registry.test/acme/kube-shop:1", preview, signal: new AbortController().signal });
    expect(kube.get("Namespace", undefined, nsOf(22))).toBeDefined();
    await target.extendExpiry(key, new Date(Date.now() - 60_000));
    await harness.engine.reconcile();
    await harness.engine.idle();
    for (let i = 0; i < 50 && kube.get("Namespace", undefined, nsOf(22)); i++) await new Promise((r) => setTimeout(r, 100));
    expect(kube.get("Namespace", undefined, nsOf(22))).toBeUndefined();
  });
});
