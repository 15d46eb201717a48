/**
 * The chart that installs berth itself (`charts/berth`) through the real helm binary: lint and render
 * for several value sets, every rendered object validated against the Kubernetes schemas, what
 * matters asserted (SQLite vs PostgreSQL, probes, security context, credentials by reference only,
 * RBAC from its one source file), bad values refused by the values schema, and `helm install` /
 * `helm uninstall` against the in-process Kubernetes API fake. Last, berth's ClusterRole is checked
 * against every request the Kubernetes target really makes (all allowed, every permission used).
 */
import { generateKeyPairSync } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml, parseAllDocuments, stringify as stringifyYaml } from "yaml";
import { CommandError, runCommand } from "../../src/adapters/exec.js";
import { HelmCli } from "../../src/adapters/kubernetes/helm.js";
import { KubeClient } from "../../src/adapters/kubernetes/kube-client.js";
import { repoConfigSchema } from "../../src/config/repo-config.js";
import { readSettings } from "../../src/config/settings.js";
import type { PreviewKey } from "../../src/domain/ports.js";
import { previewName } from "../../src/domain/naming.js";
import { KubernetesDeployError, KubernetesTarget } from "../../src/targets/kubernetes-target.js";
import { startFakeKubeApi, type FakeKubeApi, type RecordedRequest } from "../fakes/kube-api.js";
import { hasSchema, validateObject } from "../fakes/k8s-schema.js";
import { podSecurityViolations } from "../fakes/kube-pod-security.js";
import { allowingRules, combinedResource, impersonationAttributes, requestAttributes, type PolicyRule, type ResourceAttributes } from "../fakes/kube-rbac.js";
import { helmBinary, helmMajor } from "../helpers/helm-bin.js";

const chart = fileURLToPath(new URL("../../charts/berth", import.meta.url));
const previewChart = fileURLToPath(new URL("../../charts/berth-preview", import.meta.url));
const rulesFile = join(chart, "files", "rbac-rules.yaml");
const readmeFile = fileURLToPath(new URL("../../README.md", import.meta.url));
const envExampleFile = fileURLToPath(new URL("../../.env.example", import.meta.url));

/** Every credential berth reads; none may reach the pod as a plain value. */
const SECRET_KEYS = [
  "APP_ID",
  "PRIVATE_KEY",
  "WEBHOOK_SECRET",
  "GITHUB_CLIENT_ID",
  "GITHUB_CLIENT_SECRET",
  "GITEE_TOKEN",
  "GITEE_WEBHOOK_SECRET",
  "GITEE_WEBHOOK_SECRETS",
  "BERTH_REGISTRY_PASSWORD",
  "BERTH_HARBOR_PASSWORD",
  "BERTH_DATABASE_URL",
];

let helmBin: string;
let home: string;
let valuesDir: string;
let valuesCounter = 0;

beforeAll(async () => {
  helmBin = await helmBinary();
  home = await mkdtemp(join(tmpdir(), "berth-chart-home-"));
  valuesDir = await mkdtemp(join(tmpdir(), "berth-chart-values-"));
});
afterAll(async () => {
  await rm(home, { recursive: true, force: true });
  await rm(valuesDir, { recursive: true, force: true });
});

function helm(args: string[]) {
  return runCommand(helmBin, args, { timeoutMs: 120_000, env: { HOME: home, KUBECONFIG: join(home, "none"), HELM_NO_PLUGINS: "1" } });
}

async function valuesFile(values: Record<string, unknown>): Promise<string> {
  const file = join(valuesDir, `values-${++valuesCounter}.yaml`);
  await writeFile(file, stringifyYaml(values));
  return file;
}

interface Rendered {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [key: string]: any;
}

const RELEASE = "berth";
const NAMESPACE = "berth-system";

async function render(values: Record<string, unknown>, extra: string[] = []): Promise<Rendered[]> {
  const result = await helm(["template", RELEASE, chart, "--namespace", NAMESPACE, "--values", await valuesFile(values), ...extra]);
  return parseAllDocuments(result.stdout)
    .map((doc) => doc.toJS() as Rendered | null)
    .filter((doc): doc is Rendered => doc !== null);
}

/** The stderr of a render that must fail. */
async function renderError(values: Record<string, unknown>): Promise<string> {
  const error = await render(values).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, `rendering ${JSON.stringify(values)} should fail`).toBeInstanceOf(CommandError);
  return (error as CommandError).stderr;
}

function one(objects: Rendered[], kind: string): Rendered {
  const found = objects.filter((o) => o.kind === kind);
  expect(found, kind).toHaveLength(1);
  return found[0]!;
}

function container(objects: Rendered[]): any {
  return one(objects, "Deployment").spec.template.spec.containers[0];
}

type EnvVar = { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string; optional?: boolean } } };

function envOf(objects: Rendered[]): Map<string, EnvVar> {
  const env = container(objects).env as EnvVar[];
  const names = env.map((e) => e.name);
  expect(new Set(names).size, `duplicate env names in ${names.join(",")}`).toBe(names.length);
  return new Map(env.map((e) => [e.name, e]));
}

const privateKey = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ type: "pkcs1", format: "pem" }).toString();
const CREDENTIALS = { secrets: { existingSecret: "berth-credentials" } };
const QUICK_START = { secrets: { create: true, values: { APP_ID: "123456", PRIVATE_KEY: privateKey, WEBHOOK_SECRET: "hook-secret", BERTH_DATABASE_URL: "postgres://berth:pw@db:5432/berth" } } };

const VALUE_SETS: Record<string, Record<string, unknown>> = {
  "SQLite (the default)": CREDENTIALS,
  "PostgreSQL with 3 replicas": { ...CREDENTIALS, database: { type: "postgres" }, replicaCount: 3 },
  "ingress on, with TLS": { ...CREDENTIALS, ingress: { enabled: true, host: "berth.example.com", className: "nginx", tls: { secretName: "berth-tls" } } },
  "existingSecret with a database Secret of its own, Gitee, Harbor and a Docker engine": {
    ...CREDENTIALS,
    database: { type: "postgres", urlSecret: { name: "berth-db-app", key: "uri" } },
    replicaCount: 2,
    gitee: { enabled: true, apiUrl: "https://gitee.example.com/api/v5", botLogin: "berth-bot" },
    config: {
      targets: "kubernetes,docker",
      previewDomain: "preview.example.com",
      registry: "harbor.example.com/previews",
      harborUrl: "https://harbor.example.com",
      harborUsername: "robot$previews+berth",
      dockerHost: "tcp://dind.berth-system.svc:2375",
      kube: { deployer: "ci-deployer", deployerRole: "edit", ingressNamespace: "kubernetes.io/metadata.name=ingress-nginx" },
    },
  },
  "a quick-start Secret created by the chart": QUICK_START,
};

describe(`berth's own chart with helm ${helmMajor()}`, () => {
  it("passes helm lint --strict with every value set", async () => {
    for (const [name, values] of Object.entries(VALUE_SETS)) {
      const result = await helm(["lint", chart, "--strict", "--namespace", NAMESPACE, "--values", await valuesFile(values)]);
      expect(result.stdout, name).toContain("1 chart(s) linted, 0 chart(s) failed");
    }
  });

  it("renders only objects a real API server accepts, for every value set", async () => {
    for (const [name, values] of Object.entries(VALUE_SETS)) {
      const objects = await render(values);
      expect(objects.length, name).toBeGreaterThanOrEqual(5);
      for (const object of objects) {
        expect(await hasSchema(object.apiVersion, object.kind), `${object.kind} has a schema`).toBe(true);
        expect(await validateObject(object), `${name}: ${object.kind} ${object.metadata.name}`).toEqual([]);
      }
      const ids = objects.map((o) => `${o.kind}/${o.metadata.name}`);
      expect(new Set(ids).size, name).toBe(ids.length);
    }
  });

  it("SQLite mode: one replica, a PersistentVolumeClaim for the data dir, Recreate, no database URL", async () => {
    const objects = await render(CREDENTIALS);
    expect(objects.map((o) => o.kind).sort()).toEqual(["ClusterRole", "ClusterRoleBinding", "Deployment", "PersistentVolumeClaim", "Service", "ServiceAccount"]);
    const deployment = one(objects, "Deployment");
    expect(deployment.spec.replicas).toBe(1);
    expect(deployment.spec.strategy).toEqual({ type: "Recreate" });
    const pvc = one(objects, "PersistentVolumeClaim");
    expect(pvc.metadata.name).toBe("berth-data");
    expect(pvc.metadata.annotations?.["helm.sh/resource-policy"]).toBe("keep");
    expect(pvc.spec).toEqual({ accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Gi" } } });
    const volume = deployment.spec.template.spec.volumes.find((v: any) => v.name === "data");
    expect(volume).toEqual({ name: "data", persistentVolumeClaim: { claimName: "berth-data" } });
    expect(container(objects).volumeMounts).toContainEqual({ name: "data", mountPath: "/data" });
    const env = envOf(objects);
    expect(env.get("BERTH_DATA_DIR")).toEqual({ name: "BERTH_DATA_DIR", value: "/data" });
    expect(env.has("BERTH_DATABASE_URL")).toBe(false);

    const claimed = await render({ ...CREDENTIALS, persistence: { existingClaim: "old-berth-data", storageClassName: "fast" } });
    expect(claimed.some((o) => o.kind === "PersistentVolumeClaim")).toBe(false);
    expect(one(claimed, "Deployment").spec.template.spec.volumes).toContainEqual({ name: "data", persistentVolumeClaim: { claimName: "old-berth-data" } });
    expect(one(await render({ ...CREDENTIALS, persistence: { storageClassName: "fast", size: "5Gi" } }), "PersistentVolumeClaim").spec).toMatchObject({
      storageClassName: "fast",
      resources: { requests: { storage: "5Gi" } },
    });
  });

  it("refuses more than one replica with SQLite and says why", async () => {
    for (const replicaCount of [2, 5]) {
      const stderr = await renderError({ ...CREDENTIALS, replicaCount });
      expect(stderr).toContain(`replicaCount is ${replicaCount} but database.type is sqlite: SQLite holds a lock on its data directory`);
      expect(stderr).toContain("Set database.type=postgres");
    }
    // Zero (stopped) is fine.
    expect(one(await render({ ...CREDENTIALS, replicaCount: 0 }), "Deployment").spec.replicas).toBe(0);
  });

  it("PostgreSQL mode: the replicas asked for, RollingUpdate, BERTH_DATABASE_URL from a Secret, no volume", async () => {
    const objects = await render(VALUE_SETS["PostgreSQL with 3 replicas"]!);
    expect(objects.some((o) => o.kind === "PersistentVolumeClaim")).toBe(false);
    const deployment = one(objects, "Deployment");
    expect(deployment.spec.replicas).toBe(3);
    expect(deployment.spec.strategy).toEqual({ type: "RollingUpdate", rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } });
    expect(deployment.spec.template.spec.volumes.map((v: any) => v.name)).toEqual(["tmp", "helm"]);
    const env = envOf(objects);
    expect(env.get("BERTH_DATABASE_URL")).toEqual({ name: "BERTH_DATABASE_URL", valueFrom: { secretKeyRef: { name: "berth-credentials", key: "BERTH_DATABASE_URL" } } });
    expect(env.has("BERTH_DATA_DIR")).toBe(false);

    const own = envOf(await render(VALUE_SETS["existingSecret with a database Secret of its own, Gitee, Harbor and a Docker engine"]!));
    expect(own.get("BERTH_DATABASE_URL")).toEqual({ name: "BERTH_DATABASE_URL", valueFrom: { secretKeyRef: { name: "berth-db-app", key: "uri" } } });
  });

  it("probes /healthz (startup, liveness) and /readyz (readiness) on berth's port", async () => {
    for (const values of [CREDENTIALS, { ...CREDENTIALS, port: 8080 }]) {
      const c = container(await render(values));
      const port = (values as { port?: number }).port ?? 3000;
      expect(c.ports).toEqual([{ name: "http", containerPort: port, protocol: "TCP" }]);
      expect(envOf(await render(values)).get("PORT")?.value).toBe(String(port));
      expect(c.startupProbe.httpGet).toEqual({ path: "/healthz", port: "http" });
      expect(c.livenessProbe.httpGet).toEqual({ path: "/healthz", port: "http" });
      expect(c.readinessProbe.httpGet).toEqual({ path: "/readyz", port: "http" });
    }
  });

  it("runs as Pod Security restricted asks: non-root, read-only root with an emptyDir /tmp, no capabilities, RuntimeDefault", async () => {
    for (const [values, uid] of [
      [CREDENTIALS, 10001],
      [{ ...CREDENTIALS, podSecurityContext: { runAsUser: 1000, runAsGroup: 1000, fsGroup: 1000 } }, 1000],
    ] as const) {
      const objects = await render(values);
      const pod = one(objects, "Deployment").spec.template;
      expect(podSecurityViolations("restricted", pod.metadata, pod.spec)).toEqual([]);
      expect(pod.spec.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: uid, runAsGroup: uid, fsGroup: uid, seccompProfile: { type: "RuntimeDefault" } });
      const c = pod.spec.containers[0];
      expect(c.securityContext).toEqual({ runAsNonRoot: true, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ["ALL"] } });
      expect(c.volumeMounts).toContainEqual({ name: "tmp", mountPath: "/tmp" });
      expect(pod.spec.volumes).toContainEqual({ name: "tmp", emptyDir: { sizeLimit: "1Gi" } });
      // helm (kubernetes target) keeps its cache and config under HOME: on the writable /tmp.
      expect(envOf(objects).get("HOME")?.value).toBe("/tmp");
      expect(c.resources.requests).toMatchObject({ cpu: expect.any(String), memory: expect.any(String) });
      expect(c.resources.limits).toMatchObject({ cpu: expect.any(String), memory: expect.any(String) });
    }
  });

  it("passes credentials only by Secret reference: required ones as required, the rest optional", async () => {
    for (const [name, values] of Object.entries(VALUE_SETS)) {
      const env = envOf(await render(values));
      for (const key of SECRET_KEYS) expect(env.get(key)?.value, `${name}: ${key} as a plain value`).toBeUndefined();
    }
    const github = envOf(await render(CREDENTIALS));
    for (const key of ["APP_ID", "PRIVATE_KEY", "WEBHOOK_SECRET"]) {
      expect(github.get(key)!.valueFrom).toEqual({ secretKeyRef: { name: "berth-credentials", key } });
    }
    for (const key of ["GITHUB_CLIENT_ID", "GITHUB_CLIENT_SECRET", "BERTH_REGISTRY_PASSWORD"]) {
      expect(github.get(key)!.valueFrom).toEqual({ secretKeyRef: { name: "berth-credentials", key, optional: true } });
    }
    for (const key of ["GITEE_TOKEN", "GITEE_WEBHOOK_SECRET", "GITEE_WEBHOOK_SECRETS", "BERTH_HARBOR_PASSWORD"]) expect(github.has(key), key).toBe(false);

    const everything = envOf(await render(VALUE_SETS["existingSecret with a database Secret of its own, Gitee, Harbor and a Docker engine"]!));
    expect(everything.get("GITEE_TOKEN")!.valueFrom).toEqual({ secretKeyRef: { name: "berth-credentials", key: "GITEE_TOKEN" } });
    expect(everything.get("GITEE_WEBHOOK_SECRETS")!.valueFrom?.secretKeyRef?.optional).toBe(true);
    expect(everything.get("BERTH_HARBOR_PASSWORD")!.valueFrom).toEqual({ secretKeyRef: { name: "berth-credentials", key: "BERTH_HARBOR_PASSWORD" } });

    const giteeOnly = envOf(await render({ ...CREDENTIALS, github: { enabled: false }, gitee: { enabled: true } }));
    for (const key of ["APP_ID", "PRIVATE_KEY", "WEBHOOK_SECRET", "GITHUB_CLIENT_ID"]) expect(giteeOnly.has(key), key).toBe(false);
    expect(giteeOnly.has("GITEE_TOKEN")).toBe(true);
  });

  it("refuses to render without a Secret, naming both ways to give one", async () => {
    const stderr = await renderError({});
    expect(stderr).toContain("berth needs its credentials from a Secret: set secrets.existingSecret");
    expect(stderr).toContain("secrets.create=true");
  });

  it("creates a quick-start Secret from values only when asked, refusing one without the required keys", async () => {
    const objects = await render(QUICK_START);
    const secret = one(objects, "Secret");
    expect(secret.metadata.name).toBe("berth");
    expect(secret.stringData).toEqual(QUICK_START.secrets.values);
    const env = envOf(objects);
    expect(env.get("PRIVATE_KEY")!.valueFrom).toEqual({ secretKeyRef: { name: "berth", key: "PRIVATE_KEY" } });
    // A changed credential rolls the pods.
    const checksum = one(objects, "Deployment").spec.template.metadata.annotations["checksum/secret"];
    expect(checksum).toMatch(/^[0-9a-f]{64}$/);
    const changed = await render({ secrets: { ...QUICK_START.secrets, values: { ...QUICK_START.secrets.values, WEBHOOK_SECRET: "rotated" } } });
    expect(one(changed, "Deployment").spec.template.metadata.annotations["checksum/secret"]).not.toBe(checksum);

    expect(await renderError({ secrets: { create: true, values: { APP_ID: "1", PRIVATE_KEY: privateKey } } })).toContain("secrets.values.WEBHOOK_SECRET is required");
    expect(await renderError({ database: { type: "postgres" }, secrets: { create: true, values: { APP_ID: "1", PRIVATE_KEY: privateKey, WEBHOOK_SECRET: "w" } } })).toContain(
      "secrets.values.BERTH_DATABASE_URL is required",
    );
    // existingSecret wins: no chart Secret.
    expect((await render({ secrets: { ...QUICK_START.secrets, existingSecret: "mine" } })).some((o) => o.kind === "Secret")).toBe(false);
    expect((await render(CREDENTIALS)).some((o) => o.kind === "Secret")).toBe(false);
  });

  it("puts berth's settings into the environment, BERTH_TARGETS=kubernetes by default", async () => {
    const defaults = envOf(await render(CREDENTIALS));
    const plain = (env: Map<string, EnvVar>): Record<string, string | undefined> => Object.fromEntries([...env].filter(([, e]) => e.value !== undefined).map(([k, e]) => [k, e.value]));
    expect(plain(defaults)).toEqual({
      BERTH_CONCURRENCY: "2",
      BERTH_DATA_DIR: "/data",
      BERTH_HELM_BIN: "/opt/helm/helm",
      BERTH_KUBE_DEPLOYER: "berth-deployer",
      BERTH_KUBE_DEPLOYER_ROLE: "admin",
      BERTH_KUBE_NETWORK_POLICY: "on",
      BERTH_KUBE_POD_SECURITY: "restricted",
      BERTH_RETENTION_DAYS: "30",
      BERTH_TARGETS: "kubernetes",
      HOME: "/tmp",
      HOST: "0.0.0.0",
      LOG_LEVEL: "info",
      NODE_ENV: "production",
      PORT: "3000",
    });
    const full = plain(envOf(await render(VALUE_SETS["existingSecret with a database Secret of its own, Gitee, Harbor and a Docker engine"]!)));
    expect(full).toMatchObject({
      BERTH_TARGETS: "kubernetes,docker",
      BERTH_PREVIEW_DOMAIN: "preview.example.com",
      BERTH_REGISTRY: "harbor.example.com/previews",
      BERTH_HARBOR_URL: "https://harbor.example.com",
      BERTH_HARBOR_USERNAME: "robot$previews+berth",
      DOCKER_HOST: "tcp://dind.berth-system.svc:2375",
      BERTH_KUBE_DEPLOYER: "ci-deployer",
      BERTH_KUBE_DEPLOYER_ROLE: "edit",
      BERTH_KUBE_INGRESS_NAMESPACE: "kubernetes.io/metadata.name=ingress-nginx",
      GITEE_API_URL: "https://gitee.example.com/api/v5",
      GITEE_BOT_LOGIN: "berth-bot",
    });
    // The public URL follows the Ingress unless set.
    expect(plain(envOf(await render(VALUE_SETS["ingress on, with TLS"]!))).BERTH_PUBLIC_URL).toBe("https://berth.example.com");
    expect(plain(envOf(await render({ ...CREDENTIALS, ingress: { enabled: true, host: "berth.example.com" }, config: { publicUrl: "https://ci.example.com/berth" } }))).BERTH_PUBLIC_URL).toBe(
      "https://ci.example.com/berth",
    );
    expect(plain(envOf(await render({ ...CREDENTIALS, extraEnv: { BERTH_COMMENT_INTERVAL_MS: 5000, GHE_PROTOCOL: "https" } })))).toMatchObject({ BERTH_COMMENT_INTERVAL_MS: "5000", GHE_PROTOCOL: "https" });
  });

  it("gives berth a helm binary from an init container (its image has none), unless told its image has one", async () => {
    const spec = one(await render(CREDENTIALS), "Deployment").spec.template.spec;
    expect(spec.initContainers).toHaveLength(1);
    const init = spec.initContainers[0];
    expect(init).toMatchObject({ name: "helm", image: "alpine/helm:3.17.3", command: ["cp", "/usr/bin/helm", "/opt/helm/helm"], volumeMounts: [{ name: "helm", mountPath: "/opt/helm" }] });
    expect(init.securityContext).toEqual({ runAsNonRoot: true, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ["ALL"] } });
    expect(spec.containers[0].volumeMounts).toContainEqual({ name: "helm", mountPath: "/opt/helm", readOnly: true });
    expect(spec.volumes).toContainEqual({ name: "helm", emptyDir: { sizeLimit: "256Mi" } });

    const pinned = one(await render({ ...CREDENTIALS, helmBinary: { image: { repository: "registry.example.com/helm", digest: `sha256:${"cd".repeat(32)}` }, path: "/bin/helm" } }), "Deployment");
    expect(pinned.spec.template.spec.initContainers[0]).toMatchObject({ image: `registry.example.com/helm@sha256:${"cd".repeat(32)}`, command: ["cp", "/bin/helm", "/opt/helm/helm"] });

    const own = await render({ ...CREDENTIALS, helmBinary: { enabled: false } });
    expect(one(own, "Deployment").spec.template.spec.initContainers).toBeUndefined();
    expect(envOf(own).has("BERTH_HELM_BIN")).toBe(false);
    expect(one(own, "Deployment").spec.template.spec.volumes.map((v: any) => v.name)).toEqual(["tmp", "data"]);
  });

  it("renders an environment berth's settings parser accepts, of documented names only", async () => {
    // What the Secrets would hold (by key); the database Secret of its own uses the key `uri`.
    const secretValues: Record<string, string> = {
      APP_ID: "123456",
      PRIVATE_KEY: privateKey,
      WEBHOOK_SECRET: "hook",
      GITHUB_CLIENT_ID: "Iv1.0123",
      GITHUB_CLIENT_SECRET: "client-secret",
      GITEE_TOKEN: "gitee-token",
      GITEE_WEBHOOK_SECRET: "gitee-hook",
      GITEE_WEBHOOK_SECRETS: "acme/shop=s1,acme=s2",
      BERTH_REGISTRY_PASSWORD: "registry-pw",
      BERTH_HARBOR_PASSWORD: "harbor-pw",
      BERTH_DATABASE_URL: "postgres://berth:pw@db:5432/berth",
      uri: "postgres://berth:pw@db-app:5432/app",
    };
    const processEnv = (objects: Rendered[]): Record<string, string> =>
      Object.fromEntries([...envOf(objects).values()].map((e) => [e.name, e.value ?? secretValues[e.valueFrom!.secretKeyRef!.key]!]));
    const documented = new Set([
      ...[...(await readFile(envExampleFile, "utf8")).matchAll(/^#? ?([A-Z][A-Z0-9_]+)=/gm)].map((m) => m[1]!),
      ...[...(await readFile(readmeFile, "utf8")).matchAll(/`([A-Z][A-Z0-9_]{2,})`/g)].map((m) => m[1]!),
      // Probot's OAuth client, and the runtime's own.
      "GITHUB_CLIENT_ID",
      "GITHUB_CLIENT_SECRET",
      "NODE_ENV",
      "HOME",
    ]);
    const settingsOf = async (values: Record<string, unknown>) => {
      const env = processEnv(await render(values));
      for (const name of Object.keys(env)) expect(documented.has(name), `${name} is not a documented setting`).toBe(true);
      const result = readSettings(env);
      if (!result.ok) throw new Error(`berth refuses the chart's environment: ${result.error}`);
      return result.settings;
    };
    for (const values of Object.values(VALUE_SETS)) await settingsOf(values);

    expect(await settingsOf(CREDENTIALS)).toMatchObject({
      targets: ["kubernetes"],
      dataDir: "/data",
      databaseUrl: undefined,
      helmBin: "/opt/helm/helm",
      kubeDeployer: { serviceAccount: "berth-deployer", clusterRole: "admin" },
      kubePodSecurity: "restricted",
      kubeNetwork: { internetEgress: true },
      registryPassword: "registry-pw",
    });
    expect((await settingsOf(VALUE_SETS["PostgreSQL with 3 replicas"]!)).databaseUrl).toBe("postgres://berth:pw@db:5432/berth");
    const full = await settingsOf(VALUE_SETS["existingSecret with a database Secret of its own, Gitee, Harbor and a Docker engine"]!);
    expect(full).toMatchObject({
      targets: ["kubernetes", "docker"],
      databaseUrl: "postgres://berth:pw@db-app:5432/app",
      previewDomain: "preview.example.com",
      dockerHost: "tcp://dind.berth-system.svc:2375",
      kubeDeployer: { serviceAccount: "ci-deployer", clusterRole: "edit" },
      harbor: { url: "https://harbor.example.com", username: "robot$previews+berth", password: "harbor-pw" },
      gitee: { token: "gitee-token", webhookSecret: "gitee-hook", apiUrl: "https://gitee.example.com/api/v5", botLogin: "berth-bot" },
    });
    // Unquoted off is YAML 1.1's false: still off.
    const off = await settingsOf({ ...CREDENTIALS, config: { kube: { deployer: false, deployerRole: "admin", networkPolicy: false } } });
    expect(off.kubeDeployer).toBeUndefined();
    expect(off.kubeNetwork).toBe(false);
    expect((await settingsOf(VALUE_SETS["ingress on, with TLS"]!)).publicUrl).toBe("https://berth.example.com");
  });

  it("without the kubernetes target: no RBAC, no API token, no helm, no BERTH_KUBE_* settings", async () => {
    const objects = await render({ ...CREDENTIALS, config: { targets: "docker", dockerHost: "tcp://dind:2375" } });
    expect(objects.map((o) => o.kind).sort()).toEqual(["Deployment", "PersistentVolumeClaim", "Service", "ServiceAccount"]);
    const spec = one(objects, "Deployment").spec.template.spec;
    expect(spec.automountServiceAccountToken).toBe(false);
    expect(spec.initContainers).toBeUndefined();
    expect([...envOf(objects).keys()].filter((k) => k.startsWith("BERTH_KUBE_") || k === "BERTH_HELM_BIN")).toEqual([]);
    expect(envOf(objects).get("DOCKER_HOST")?.value).toBe("tcp://dind:2375");
    expect(one(await render(CREDENTIALS), "Deployment").spec.template.spec.automountServiceAccountToken).toBe(true);
  });

  it("renders the Ingress only when enabled, and needs a host then", async () => {
    expect((await render(CREDENTIALS)).some((o) => o.kind === "Ingress")).toBe(false);
    const objects = await render(VALUE_SETS["ingress on, with TLS"]!);
    const ingress = one(objects, "Ingress");
    const service = one(objects, "Service");
    expect(ingress.spec).toEqual({
      ingressClassName: "nginx",
      tls: [{ hosts: ["berth.example.com"], secretName: "berth-tls" }],
      rules: [{ host: "berth.example.com", http: { paths: [{ path: "/", pathType: "Prefix", backend: { service: { name: service.metadata.name, port: { name: "http" } } } }] } }],
    });
    expect(service.spec.ports).toEqual([{ name: "http", port: 80, targetPort: "http", protocol: "TCP" }]);
    expect(await renderError({ ...CREDENTIALS, ingress: { enabled: true } })).toContain("ingress.host is required when ingress.enabled");
  });

  it("builds the ClusterRole from files/rbac-rules.yaml and binds it to berth's ServiceAccount", async () => {
    const source = parseYaml(await readFile(rulesFile, "utf8")) as { kind: string; rules: PolicyRule[] };
    expect(source.kind).toBe("ClusterRole");
    const objects = await render(CREDENTIALS);
    const role = one(objects, "ClusterRole");
    expect(role.metadata.name).toBe(`${NAMESPACE}-berth`);
    expect(role.rules).toEqual(source.rules);
    const binding = one(objects, "ClusterRoleBinding");
    const account = one(objects, "ServiceAccount");
    expect(binding.roleRef).toEqual({ apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: role.metadata.name });
    expect(binding.subjects).toEqual([{ kind: "ServiceAccount", name: account.metadata.name, namespace: NAMESPACE }]);
    expect(one(objects, "Deployment").spec.template.spec.serviceAccountName).toBe(account.metadata.name);

    // Other deployer names: only the resourceNames that name the defaults change.
    const custom = one(await render({ ...CREDENTIALS, config: { kube: { deployer: "ci-deployer", deployerRole: "edit" } } }), "ClusterRole").rules as PolicyRule[];
    const rename: Record<string, string> = { "berth-deployer": "ci-deployer", admin: "edit" };
    expect(custom).toEqual(source.rules.map((r) => (r.resourceNames ? { ...r, resourceNames: r.resourceNames.map((n) => rename[n] ?? n) } : r)));
    expect(custom.some((r) => r.resourceNames?.includes("ci-deployer") && r.verbs.includes("impersonate"))).toBe(true);

    // Deployer off: helm runs as berth, which is bound to the deployer role cluster-wide instead.
    const off = await render({ ...CREDENTIALS, config: { kube: { deployer: "off", deployerRole: "admin" } } });
    expect(one(off, "Deployment").spec.template.spec.containers[0].env).toContainEqual({ name: "BERTH_KUBE_DEPLOYER", value: "off" });
    expect(off.find((o) => o.kind === "ClusterRole")!.rules).toEqual(source.rules.filter((r) => !r.resourceNames?.includes("berth-deployer")));
    const bindings = off.filter((o) => o.kind === "ClusterRoleBinding");
    expect(bindings.map((b) => b.roleRef.name).sort()).toEqual(["admin", `${NAMESPACE}-berth`]);

    // Cluster-scoped names carry the namespace: two releases named alike in two namespaces do not collide.
    const elsewhere = await helm(["template", RELEASE, chart, "--namespace", "berth-staging", "--values", await valuesFile(CREDENTIALS), "--show-only", "templates/clusterrole.yaml"]);
    expect((parseYaml(elsewhere.stdout) as Rendered).metadata.name).toBe("berth-staging-berth");
    expect((await render({ ...CREDENTIALS, rbac: { create: false } })).filter((o) => o.kind.startsWith("ClusterRole"))).toEqual([]);
  });

  it("the README shows files/rbac-rules.yaml verbatim (one source for docs and chart)", async () => {
    const readme = await readFile(readmeFile, "utf8");
    const blocks = [...readme.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);
    const shown = blocks.filter((b) => /^kind: ClusterRole$/m.test(b));
    expect(shown, "README must show berth's ClusterRole exactly once").toHaveLength(1);
    expect(shown[0]!.trim(), "paste charts/berth/files/rbac-rules.yaml into the README's RBAC block").toBe((await readFile(rulesFile, "utf8")).trim());
  });

  it("its values schema refuses bad values, in helm template and helm lint", async () => {
    const bad: Array<[Record<string, unknown>, RegExp]> = [
      [{ replicaCount: "3" }, /replicaCount/],
      [{ replicaCount: -1 }, /replicaCount/],
      [{ port: 80 }, /port/],
      [{ database: { type: "mysql" } }, /database|type/],
      [{ podSecurityContext: { runAsUser: 0, runAsGroup: 1, fsGroup: 1 } }, /runAsUser/],
      [{ securityContext: { privileged: true } }, /securityContext|additional/i],
      [{ extraEnv: { PRIVATE_KEY: "inline" } }, /extraEnv|PRIVATE_KEY/],
      [{ extraEnv: { BERTH_DATA_DIR: "/elsewhere" } }, /extraEnv|BERTH_DATA_DIR/],
      [{ secrets: { create: true, values: { APP_KEY: "typo" } } }, /secrets|APP_KEY/],
      [{ config: { targets: "k8s" } }, /targets/],
      [{ config: { kube: { deployer: "Bad_Name", deployerRole: "admin" } } }, /deployer/],
      [{ config: { publicUrl: "berth.example.com" } }, /publicUrl/],
      [{ image: { repository: "berth", tag: 1234567 } }, /tag/],
      [{ ingress: { enabled: true, host: "Not A Host" } }, /host/],
      [{ resources: { requests: { cpu: "lots" }, limits: {} } }, /cpu/],
      [{ replicas: 3 }, /replicas|additional/i],
    ];
    for (const [values, key] of bad) {
      const merged = { ...CREDENTIALS, ...values };
      const stderr = await renderError(merged);
      expect(stderr, JSON.stringify(values)).toMatch(/values don't meet the specifications of the schema|jsonschema/);
      expect(stderr, JSON.stringify(values)).toMatch(key);
      const lint = await helm(["lint", chart, "--strict", "--values", await valuesFile(merged)]).then(
        (r) => r.stdout,
        (e: unknown) => (e instanceof CommandError ? `${e.stdout}\n${e.stderr}` : String(e)),
      );
      expect(lint, JSON.stringify(values)).toContain("1 chart(s) failed");
    }
  });
});

describe(`berth's chart installed with helm ${helmMajor()} into the Kubernetes API fake`, () => {
  let fake: FakeKubeApi;

  beforeAll(async () => {
    fake = await startFakeKubeApi({ namespaceTerminationMs: 100 });
  });
  afterAll(async () => {
    await fake?.close();
  });

  const kube = (): string[] => ["--kube-context", "fake", "--kubeconfig", fake.kubeconfigPath];
  const releaseObjects = (release: string) => (kind: string, namespace?: string) =>
    fake.list(kind, namespace).filter((o) => o.metadata.labels?.["app.kubernetes.io/instance"] === release);

  it("installs (PostgreSQL, 3 replicas, quick-start Secret), waits for readiness, and uninstalls everything", async () => {
    const values = { ...QUICK_START, database: { type: "postgres" }, replicaCount: 3 };
    const ns = "berth-pg";
    await helm(["install", "berth", chart, "--namespace", ns, "--create-namespace", ...kube(), "--values", await valuesFile(values), "--wait", "--timeout", "60s"]);
    const of = releaseObjects("berth");
    const deployment = fake.get("Deployment", ns, "berth")!;
    expect((deployment.status as { readyReplicas?: number }).readyReplicas).toBe(3);
    expect(of("Pod", ns)).toHaveLength(3);
    expect(of("Secret", ns).map((s) => s.metadata.name)).toEqual(["berth"]);
    const stored = fake.get("Secret", ns, "berth")!;
    expect(stored.stringData).toBeUndefined();
    const decoded = Object.fromEntries(Object.entries(stored.data as Record<string, string>).map(([k, v]) => [k, Buffer.from(v, "base64").toString("utf8")]));
    expect(decoded).toEqual(QUICK_START.secrets.values);
    expect(of("PersistentVolumeClaim", ns)).toEqual([]);
    const role = fake.get("ClusterRole", undefined, `${ns}-berth`)!;
    expect(role.rules).toEqual((parseYaml(await readFile(rulesFile, "utf8")) as { rules: unknown }).rules);
    expect(fake.get("ClusterRoleBinding", undefined, `${ns}-berth`)!.subjects).toEqual([{ kind: "ServiceAccount", name: "berth", namespace: ns }]);
    expect(fake.get("ServiceAccount", ns, "berth")).toBeDefined();
    expect((fake.get("Service", ns, "berth")!.spec as { clusterIP?: string }).clusterIP).toMatch(/^10\.96\./);

    const status = JSON.parse((await helm(["status", "berth", "--namespace", ns, ...kube(), "--output", "json"])).stdout) as { info: { status: string; notes: string } };
    expect(status.info.status).toBe("deployed");
    expect(status.info.notes).toContain("PostgreSQL, 3 replica(s)");

    await helm(["uninstall", "berth", "--namespace", ns, ...kube(), "--wait", "--timeout", "60s"]);
    for (const kind of ["Deployment", "Service", "ServiceAccount", "Secret", "ConfigMap"]) expect(of(kind, ns), kind).toEqual([]);
    expect(fake.get("ClusterRole", undefined, `${ns}-berth`)).toBeUndefined();
    expect(fake.get("ClusterRoleBinding", undefined, `${ns}-berth`)).toBeUndefined();
    expect(fake.list("Secret", ns).filter((s) => s.metadata.labels?.owner === "helm")).toEqual([]);
  }, 120_000);

  it("installs in SQLite mode with its data claim, which outlives an uninstall", async () => {
    const ns = "berth-lite";
    // helm waits for the claim to be bound too (the fake binds it as a default StorageClass would).
    await helm(["install", "berth", chart, "--namespace", ns, "--create-namespace", ...kube(), "--values", await valuesFile(QUICK_START), "--wait", "--timeout", "60s"]);
    const claim = fake.get("PersistentVolumeClaim", ns, "berth-data")!;
    expect(claim.spec).toMatchObject({ accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "1Gi" } } });
    expect(claim.status).toMatchObject({ phase: "Bound" });
    const deployment = fake.get("Deployment", ns, "berth")!;
    expect((deployment.spec as { replicas: number }).replicas).toBe(1);
    expect((deployment.status as { readyReplicas?: number }).readyReplicas).toBe(1);

    const refused = await helm(["upgrade", "berth", chart, "--namespace", ns, ...kube(), "--values", await valuesFile({ ...QUICK_START, replicaCount: 2 })]).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(CommandError);
    expect((refused as CommandError).stderr).toContain("replicaCount is 2 but database.type is sqlite");
    expect((fake.get("Deployment", ns, "berth")!.spec as { replicas: number }).replicas).toBe(1);

    const result = await helm(["uninstall", "berth", "--namespace", ns, ...kube()]);
    expect(`${result.stdout}${result.stderr}`).toMatch(/kept due to the resource policy[\s\S]*berth-data|berth-data[\s\S]*resource policy/i);
    expect(fake.get("Deployment", ns, "berth")).toBeUndefined();
    expect(fake.get("PersistentVolumeClaim", ns, "berth-data")).toBeDefined();
  }, 120_000);
});

describe(`berth's ClusterRole against what the Kubernetes target does (helm ${helmMajor()})`, () => {
  let fake: FakeKubeApi;
  let valuesTmp: string;

  beforeAll(async () => {
    fake = await startFakeKubeApi({ namespaceTerminationMs: 100 });
    valuesTmp = await mkdtemp(join(tmpdir(), "berth-chart-rbac-"));
  });
  afterAll(async () => {
    await fake?.close();
    await rm(valuesTmp, { recursive: true, force: true });
  });

  async function chartRules(deployerRole: string): Promise<PolicyRule[]> {
    const result = await helm([
      "template",
      RELEASE,
      chart,
      "--namespace",
      NAMESPACE,
      "--values",
      await valuesFile({ ...CREDENTIALS, config: { kube: { deployer: "berth-deployer", deployerRole } } }),
      "--show-only",
      "templates/clusterrole.yaml",
    ]);
    return (parseYaml(result.stdout) as { rules: PolicyRule[] }).rules;
  }

  function targetWith(deployerRole: string): KubernetesTarget {
    const helmCli = new HelmCli({ bin: helmBin, kubeContext: "fake", kubeconfig: fake.kubeconfigPath, env: { HOME: home }, tmpDir: valuesTmp, serviceAccount: "berth-deployer" });
    return new KubernetesTarget({
      helm: helmCli,
      kube: new KubeClient({ kubeconfig: fake.kubeconfigPath, context: "fake", pollMs: 100 }),
      domain: "preview.example.test",
      builtinChartDir: previewChart,
      deployerRole,
      instance: "rbac-check",
      diagnosePollMs: 250,
      namespaceWaitMs: 10_000,
    });
  }

  /** The requests of `requests` berth's rules do not allow, and which rule indexes allowed which verbs. */
  function check(requests: RecordedRequest[], rules: PolicyRule[], deployerRole: string): { forbidden: string[]; used: Set<string> } {
    const forbidden: string[] = [];
    const used = new Set<string>();
    const ask = (attrs: ResourceAttributes, what: string): void => {
      const allowing = allowingRules(rules, attrs);
      if (allowing.length === 0) forbidden.push(`${attrs.verb} ${attrs.apiGroup || "core"}/${combinedResource(attrs)}${attrs.name ? ` ${attrs.name}` : ""} (${what})`);
      for (const i of allowing) used.add(`${i}:${attrs.verb}`);
    };
    for (const request of requests) {
      const what = `${request.method} ${request.path}`;
      if (request.impersonateUser) {
        // helm runs as the deployer: berth needs only the right to impersonate it.
        const attrs = impersonationAttributes(request.impersonateUser);
        if (!attrs) forbidden.push(`impersonating ${request.impersonateUser} (${what})`);
        else ask(attrs, what);
        continue;
      }
      const attrs = requestAttributes(request);
      if (!attrs) continue;
      ask(attrs, what);
      // RBAC escalation check: binding a role needs `bind` on it (or every permission it holds).
      if (attrs.resource === "rolebindings" && attrs.verb === "create") ask({ verb: "bind", apiGroup: "rbac.authorization.k8s.io", resource: "clusterroles", name: deployerRole }, what);
    }
    return { forbidden: [...new Set(forbidden)], used };
  }

  it("allows every request of deploy, failed rollout, tests, cancelled tests, keep, sleep, wake, reconcile and remove, and each permission is used", async () => {
    const key: PreviewKey = { host: "github", owner: "Acme", name: "Rbac", pr: 1 };
    const namespace = previewName({ host: "github", owner: "Acme", name: "Rbac" }, 1, "rbac-check");
    const previewFor = (timeout: string) => repoConfigSchema.parse({ preview: { target: "kubernetes", port: 3000, healthPath: "/healthz", timeout } }).preview;
    const deploy = (target: KubernetesTarget, image: string, timeout = "20s") =>
      target.deploy({ key, sha: "0123456789abcdef0123456789abcdef01234567", runId: "run-1", image, preview: previewFor(timeout), signal: new AbortController().signal });
    const testRequest = (runId: string, signal: AbortSignal) => ({ key, sha: "0123456789abcdef0123456789abcdef01234567", runId, image: "registry.test/acme-rbac:v1", command: ["true"], env: {}, reportsDir: "/reports", timeoutMs: 10_000, signal });

    const target = targetWith("admin");
    const first = fake.requests.length;
    await deploy(target, "registry.test/acme-rbac:v1");
    // Second deploy: quota, limits, policies and the binding exist and are read and replaced.
    await deploy(target, "registry.test/acme-rbac:v2");
    fake.failRollout({ image: /:broken$/, logs: ["boom"] });
    const failed = await deploy(target, "registry.test/acme-rbac:broken", "3s").catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(KubernetesDeployError);
    fake.clearRolloutFailures();
    fake.onJob(() => ({ result: "succeed", logs: "ok\n" }));
    expect((await target.runTests(testRequest("run-tests", new AbortController().signal))).exitCode).toBe(0);
    // A cancelled test run deletes its Job.
    let release: () => void = () => undefined;
    fake.onJob(() => new Promise((resolve) => (release = () => resolve({ result: "succeed" }))));
    const cancel = new AbortController();
    const cancelled = target.runTests(testRequest("run-cancel", cancel.signal)).catch((e: unknown) => e);
    await expect.poll(() => fake.list("Job", namespace).some((j) => j.metadata.name.includes("run-cancel")), { timeout: 10_000 }).toBe(true);
    cancel.abort();
    expect(String(await cancelled)).toMatch(/cancelled/);
    release();
    await target.extendExpiry(key, new Date("2031-01-01T00:00:00Z"));
    // An idle preview sleeps (its workloads at 0) and wakes again.
    expect((await target.sleep(key)).stopped).toBeGreaterThan(0);
    expect(fake.list("Deployment", namespace).every((d) => (d as { spec?: { replicas?: number } }).spec?.replicas === 0)).toBe(true);
    await target.wake(key, previewFor("20s"), new AbortController().signal);
    expect(fake.list("Deployment", namespace).every((d) => ((d as { spec?: { replicas?: number } }).spec?.replicas ?? 0) > 0)).toBe(true);
    expect((await target.listPreviews()).map((p) => p.namespace)).toEqual([namespace]);
    const adminRequests = fake.requests.slice(first);

    // The operator changes BERTH_KUBE_DEPLOYER_ROLE (and the chart's rules with it): the binding is replaced.
    const second = fake.requests.length;
    const editTarget = targetWith("edit");
    await deploy(editTarget, "registry.test/acme-rbac:v3");
    expect(await editTarget.remove(key)).toEqual({ removed: 2 });
    const editRequests = fake.requests.slice(second);
    expect(editRequests.some((r) => r.method === "DELETE" && r.path.endsWith("/rolebindings/berth-deployer"))).toBe(true);

    const adminRules = await chartRules("admin");
    const editRules = await chartRules("edit");
    const a = check(adminRequests, adminRules, "admin");
    const e = check(editRequests, editRules, "edit");
    expect([...a.forbidden, ...e.forbidden]).toEqual([]);
    const used = new Set([...a.used, ...e.used]);
    const unused = adminRules.flatMap((rule, i) => rule.verbs.filter((verb) => !used.has(`${i}:${verb}`)).map((verb) => `${verb} ${rule.resources!.join(",")}`));
    expect(unused, "permissions berth never used (least privilege: drop them)").toEqual([]);

    // The check can fail: without pod logs the diagnosis and the test stage are refused.
    const withoutLogs = adminRules.filter((r) => !r.resources?.includes("pods/log"));
    expect(check(adminRequests, withoutLogs, "admin").forbidden.some((f) => f.startsWith("get core/pods/log"))).toBe(true);
    expect(check(adminRequests, adminRules, "edit").forbidden.some((f) => f.startsWith("bind rbac.authorization.k8s.io/clusterroles edit"))).toBe(true);
  }, 180_000);
});
