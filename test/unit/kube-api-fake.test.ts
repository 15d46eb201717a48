/**
 * The API fake behaves like a real server where berth and helm depend on it: Status bodies, schema
 * rejections, selectors, patch semantics, namespace termination.
 */
import { ApiException, AppsV1Api, BatchV1Api, CoreV1Api, KubeConfig, PatchStrategy, RbacAuthorizationV1Api, setHeaderOptions, Watch } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startFakeKubeApi, type FakeKubeApi } from "../fakes/kube-api.js";
import { mergePatch, strategicMergePatch } from "../fakes/kube-patch.js";

let fake: FakeKubeApi;
let core: CoreV1Api;
let apps: AppsV1Api;
let batch: BatchV1Api;

beforeAll(async () => {
  fake = await startFakeKubeApi({ namespaceTerminationMs: 300 });
  const kc = new KubeConfig();
  kc.loadFromFile(fake.kubeconfigPath);
  kc.setCurrentContext("fake");
  core = kc.makeApiClient(CoreV1Api);
  apps = kc.makeApiClient(AppsV1Api);
  batch = kc.makeApiClient(BatchV1Api);
  await core.createNamespace({ body: { metadata: { name: "t1", labels: { team: "a" } } } });
  await core.createNamespace({ body: { metadata: { name: "t2", labels: { team: "b" } } } });
});
afterAll(async () => {
  await fake.close();
});

async function failure(promise: Promise<unknown>): Promise<{ code: number; body: any }> {
  const err = await promise.then(
    () => {
      throw new Error("expected the call to fail");
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ApiException);
  const api = err as ApiException<unknown>;
  return { code: api.code, body: typeof api.body === "string" ? JSON.parse(api.body) : api.body };
}

const deployment = (name: string) => ({
  metadata: { name },
  spec: {
    selector: { matchLabels: { app: name } },
    template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: "app", image: "r/x:1", ports: [{ containerPort: 80 }], env: [{ name: "A", value: "1" }] }] } },
  },
});

describe("Kubernetes API fake", () => {
  it("answers a missing object with a NotFound Status", async () => {
    const { code, body } = await failure(core.readNamespacedSecret({ name: "nope", namespace: "t1" }));
    expect(code).toBe(404);
    expect(body).toMatchObject({ kind: "Status", status: "Failure", reason: "NotFound", message: 'secrets "nope" not found', code: 404 });
  });

  it("answers a duplicate create with AlreadyExists", async () => {
    await core.createNamespacedConfigMap({ namespace: "t1", body: { metadata: { name: "cm" }, data: { a: "1" } } });
    const { code, body } = await failure(core.createNamespacedConfigMap({ namespace: "t1", body: { metadata: { name: "cm" } } }));
    expect(code).toBe(409);
    expect(body.reason).toBe("AlreadyExists");
  });

  it("rejects bodies a real server would reject with 422 Invalid", async () => {
    const noContainers = await failure(batch.createNamespacedJob({ namespace: "t1", body: { metadata: { name: "j" }, spec: { template: { spec: {} } } } as any }));
    expect(noContainers.code).toBe(422);
    expect(noContainers.body.reason).toBe("Invalid");
    expect(noContainers.body.message).toMatch(/must have required property containers/);
    const badLabel = await failure(core.createNamespacedConfigMap({ namespace: "t1", body: { metadata: { name: "x", labels: { repo: "acme/app" } } } }));
    expect(badLabel.code).toBe(422);
    const badName = await failure(core.createNamespace({ body: { metadata: { name: "Not_A_Label" } } }));
    expect(badName.code).toBe(422);
  });

  it("lists with label selectors", async () => {
    const names = async (selector: string) => (await core.listNamespace({ labelSelector: selector })).items.map((n) => n.metadata!.name);
    expect(await names("team=a")).toEqual(["t1"]);
    expect(await names("team in (a,b)")).toEqual(["t1", "t2"]);
    expect(await names("team,team!=a")).toEqual(["t2"]);
    expect(await names("!team")).toEqual(["default", "kube-system"]);
  });

  it("merges merge patches and strategic-merge patches like the server", async () => {
    await core.patchNamespacedConfigMap({ name: "cm", namespace: "t1", body: { data: { b: "2", a: null } } }, setHeaderOptions("Content-Type", PatchStrategy.MergePatch));
    expect((await core.readNamespacedConfigMap({ name: "cm", namespace: "t1" })).data).toEqual({ b: "2" });

    await apps.createNamespacedDeployment({ namespace: "t1", body: deployment("web") });
    await apps.patchNamespacedDeployment(
      { name: "web", namespace: "t1", body: { spec: { template: { spec: { containers: [{ name: "app", image: "r/x:2" }] } } } } },
      setHeaderOptions("Content-Type", PatchStrategy.StrategicMergePatch),
    );
    const container = (await apps.readNamespacedDeployment({ name: "web", namespace: "t1" })).spec!.template.spec!.containers[0]!;
    // Strategic merge keeps the fields the patch did not mention (a merge patch would drop them).
    expect(container).toMatchObject({ name: "app", image: "r/x:2", ports: [{ containerPort: 80 }], env: [{ name: "A", value: "1" }] });
  });

  it("serves server-side apply (create, then merge) and requires a field manager", async () => {
    const apply = setHeaderOptions("Content-Type", PatchStrategy.ServerSideApply);
    await core.patchNamespacedConfigMap({ name: "applied", namespace: "t1", fieldManager: "berth", body: { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "applied" }, data: { a: "1" } } }, apply);
    await core.patchNamespacedConfigMap({ name: "applied", namespace: "t1", fieldManager: "berth", body: { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "applied" }, data: { b: "2" } } }, apply);
    expect((await core.readNamespacedConfigMap({ name: "applied", namespace: "t1" })).data).toEqual({ a: "1", b: "2" });
    const missing = await failure(core.patchNamespacedConfigMap({ name: "applied", namespace: "t1", body: { data: { c: "3" } } }, apply));
    expect(missing.code).toBe(400);
  });

  it("runs Deployments to ready through ReplicaSets and Pods", async () => {
    await apps.createNamespacedDeployment({ namespace: "t2", body: deployment("api") });
    await new Promise((r) => setTimeout(r, 300));
    const status = (await apps.readNamespacedDeployment({ name: "api", namespace: "t2" })).status!;
    expect(status).toMatchObject({ replicas: 1, readyReplicas: 1, updatedReplicas: 1, observedGeneration: 1 });
    const rs = (await apps.listNamespacedReplicaSet({ namespace: "t2", labelSelector: "app=api" })).items;
    expect(rs).toHaveLength(1);
    expect(rs[0]!.metadata!.ownerReferences![0]).toMatchObject({ kind: "Deployment", name: "api", controller: true });
  });

  it("keeps a deleted namespace Terminating, refuses new content, then removes it and its objects", async () => {
    await core.createNamespace({ body: { metadata: { name: "gone" } } });
    await core.createNamespacedSecret({ namespace: "gone", body: { metadata: { name: "s" }, stringData: { a: "b" } } });
    await core.deleteNamespace({ name: "gone" });
    expect((await core.readNamespace({ name: "gone" })).status!.phase).toBe("Terminating");
    const refused = await failure(core.createNamespacedSecret({ namespace: "gone", body: { metadata: { name: "t" } } }));
    expect(refused.code).toBe(403);
    expect((await failure(core.createNamespace({ body: { metadata: { name: "gone" } } }))).code).toBe(409);
    await new Promise((r) => setTimeout(r, 500));
    expect((await failure(core.readNamespace({ name: "gone" }))).code).toBe(404);
    expect(fake.list("Secret", "gone")).toEqual([]);
  });

  it("merges a Secret's write-only stringData into data (base64), over the same key there", async () => {
    const created = await core.createNamespacedSecret({
      namespace: "t1",
      body: { metadata: { name: "creds" }, data: { A: Buffer.from("old").toString("base64"), B: Buffer.from("kept").toString("base64") }, stringData: { A: "new", C: "line 1\nline 2" } },
    });
    expect(created.stringData).toBeUndefined();
    const read = await core.readNamespacedSecret({ name: "creds", namespace: "t1" });
    const decoded = Object.fromEntries(Object.entries(read.data!).map(([k, v]) => [k, Buffer.from(v, "base64").toString("utf8")]));
    expect(decoded).toEqual({ A: "new", B: "kept", C: "line 1\nline 2" });
    await core.replaceNamespacedSecret({ name: "creds", namespace: "t1", body: { metadata: { name: "creds" }, stringData: { D: "d" } } });
    expect(Object.keys((await core.readNamespacedSecret({ name: "creds", namespace: "t1" })).data!)).toEqual(["D"]);
  });

  it("binds a PersistentVolumeClaim as a default StorageClass's provisioner does", async () => {
    await core.createNamespacedPersistentVolumeClaim({ namespace: "t1", body: { metadata: { name: "data" }, spec: { accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "2Gi" } } } } });
    await expect
      .poll(async () => (await core.readNamespacedPersistentVolumeClaim({ name: "data", namespace: "t1" })).status?.phase, { timeout: 5000 })
      .toBe("Bound");
    const claim = await core.readNamespacedPersistentVolumeClaim({ name: "data", namespace: "t1" });
    expect(claim.status).toEqual({ phase: "Bound", accessModes: ["ReadWriteOnce"], capacity: { storage: "2Gi" } });
    expect(claim.spec).toMatchObject({ storageClassName: "standard", volumeName: `pvc-${claim.metadata!.uid}` });
  });

  it("serves ClusterRoles and ClusterRoleBindings cluster-scoped, schema-checked", async () => {
    const kc = new KubeConfig();
    kc.loadFromFile(fake.kubeconfigPath);
    kc.setCurrentContext("fake");
    const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
    await rbac.createClusterRole({ body: { metadata: { name: "reader", namespace: "t1" }, rules: [{ apiGroups: [""], resources: ["pods"], verbs: ["list"] }] } });
    expect((await rbac.readClusterRole({ name: "reader" })).metadata!.namespace).toBeUndefined();
    await rbac.createClusterRoleBinding({
      body: { metadata: { name: "reader" }, roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "reader" }, subjects: [{ kind: "ServiceAccount", name: "x", namespace: "t1" }] },
    });
    expect(fake.list("ClusterRoleBinding").map((b) => b.metadata.name)).toContain("reader");
    const invalid = await failure(rbac.createClusterRoleBinding({ body: { metadata: { name: "no-role" } } as never }));
    expect(invalid.code).toBe(422);
    expect(invalid.body.message).toMatch(/roleRef/);
  });
});

describe("patch helpers", () => {
  it("merge patch replaces lists and deletes nulls", () => {
    expect(mergePatch({ a: [1, 2], b: { c: 1, d: 2 } }, { a: [3], b: { c: null } })).toEqual({ a: [3], b: { d: 2 } });
  });

  it("strategic merge honours $patch: delete and $setElementOrder", () => {
    const live = { containers: [{ name: "a", image: "1" }, { name: "b", image: "2" }] };
    expect(strategicMergePatch(live, { containers: [{ name: "a", $patch: "delete" }] })).toEqual({ containers: [{ name: "b", image: "2" }] });
    expect(strategicMergePatch(live, { "$setElementOrder/containers": [{ name: "b" }, { name: "a" }], containers: [{ name: "a", image: "3" }] })).toEqual({
      containers: [
        { name: "b", image: "2" },
        { name: "a", image: "3" },
      ],
    });
  });
  it("streams watch events to client-node's Watch, filtered by label selector", async () => {
    const kc = new KubeConfig();
    kc.loadFromFile(fake.kubeconfigPath);
    kc.setCurrentContext("fake");
    const events: string[] = [];
    const controller = await new Watch(kc).watch(
      "/api/v1/namespaces/t1/configmaps",
      { labelSelector: "watched=yes", resourceVersion: String(Number.MAX_SAFE_INTEGER) },
      (type: string, object: { metadata?: { name?: string } }) => events.push(`${type} ${object.metadata?.name ?? ""}`),
      () => undefined,
    );
    await core.createNamespacedConfigMap({ namespace: "t1", body: { metadata: { name: "w1", labels: { watched: "yes" } }, data: { a: "1" } } });
    await core.createNamespacedConfigMap({ namespace: "t1", body: { metadata: { name: "w2" } } });
    await core.patchNamespacedConfigMap({ namespace: "t1", name: "w1", body: { data: { a: "2" } } }, setHeaderOptions("Content-Type", PatchStrategy.MergePatch));
    await core.deleteNamespacedConfigMap({ namespace: "t1", name: "w1" });
    const deadline = Date.now() + 2000;
    while (events.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    controller.abort();
    expect(events).toEqual(["ADDED w1", "MODIFIED w1", "DELETED w1"]);
  });

  it("serves watch-list: initial ADDED events, then the initial-events-end bookmark; refuses it without bookmarks", async () => {
    const base = `${fake.url}/api/v1/namespaces/t2/configmaps?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan`;
    const headers = { authorization: `Bearer ${fake.token}` };
    const refused = await fetch(base, { headers });
    expect(refused.status).toBe(422);
    await core.createNamespacedConfigMap({ namespace: "t2", body: { metadata: { name: "initial" } } });
    const abort = new AbortController();
    const res = await fetch(`${base}&allowWatchBookmarks=true&timeoutSeconds=5`, { headers, signal: abort.signal });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    let text = "";
    while (!text.includes("BOOKMARK")) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    abort.abort();
    const lines = text.trim().split("\n").map((l) => JSON.parse(l) as { type: string; object: { metadata: { name?: string; annotations?: Record<string, string> } } });
    expect(lines.map((l) => l.type)).toEqual(["ADDED", "BOOKMARK"]);
    expect(lines[0]!.object.metadata.name).toBe("initial");
    expect(lines[1]!.object.metadata.annotations).toEqual({ "k8s.io/initial-events-end": "true" });
  });
});
