/**
 * The API fake's Pod Security admission: the Pod Security Standards' baseline and restricted checks,
 * and a server that refuses pods (403) and fails workloads' pod creation like a real one.
 */
import { ApiException, AppsV1Api, BatchV1Api, CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startFakeKubeApi, type FakeKubeApi } from "../fakes/kube-api.js";
import { enforceLevel, podSecurityViolations } from "../fakes/kube-pod-security.js";

const RESTRICTED_POD = {
  securityContext: { runAsNonRoot: true, runAsUser: 1000, seccompProfile: { type: "RuntimeDefault" } },
  containers: [{ name: "app", image: "r/x:1", securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"], add: ["NET_BIND_SERVICE"] } } }],
  volumes: [{ name: "tmp", emptyDir: {} }, { name: "cfg", configMap: { name: "c" } }],
};

describe("podSecurityViolations", () => {
  it("admits a restricted pod at every level, and anything at privileged", () => {
    for (const level of ["privileged", "baseline", "restricted"] as const) expect(podSecurityViolations(level, {}, RESTRICTED_POD)).toEqual([]);
    expect(podSecurityViolations("privileged", {}, { hostNetwork: true, containers: [{ name: "a", securityContext: { privileged: true } }] })).toEqual([]);
  });

  it("applies the baseline controls", () => {
    const pod = {
      hostNetwork: true,
      hostPID: true,
      securityContext: { sysctls: [{ name: "kernel.msgmax", value: "1" }, { name: "net.ipv4.tcp_syncookies", value: "1" }], seLinuxOptions: { type: "spc_t" } },
      volumes: [{ name: "root", hostPath: { path: "/" } }],
      containers: [
        { name: "a", securityContext: { privileged: true, capabilities: { add: ["SYS_ADMIN", "CHOWN"] }, procMount: "Unmasked", seccompProfile: { type: "Unconfined" } }, ports: [{ containerPort: 80, hostPort: 8080 }] },
        { name: "b", securityContext: { appArmorProfile: { type: "Unconfined" } } },
      ],
    };
    expect(podSecurityViolations("baseline", {}, pod)).toEqual([
      "host namespaces (hostNetwork=true, hostPID=true)",
      'privileged (container "a" must not set securityContext.privileged=true)',
      'non-default capabilities (container "a" must not include "SYS_ADMIN" in securityContext.capabilities.add)',
      'hostPath volumes (volume "root")',
      'hostPort (container "a" uses hostPort 8080)',
      'forbidden AppArmor profile (container "b" must not set securityContext.appArmorProfile.type to "Unconfined")',
      'seLinuxOptions (pod set forbidden securityContext.seLinuxOptions: type "spc_t")',
      'procMount (container "a" must not set securityContext.procMount to "Unmasked")',
      'seccompProfile (container "a" must not set securityContext.seccompProfile.type to "Unconfined")',
      "forbidden sysctls (kernel.msgmax)",
    ]);
  });

  it("applies the restricted controls on top", () => {
    const pod = { volumes: [{ name: "data", nfs: { server: "x", path: "/" } }], containers: [{ name: "app", securityContext: { runAsUser: 0, capabilities: { add: ["CHOWN"] } } }] };
    expect(podSecurityViolations("restricted", {}, pod)).toEqual([
      'restricted volume types (volume "data" uses restricted volume type "nfs")',
      'allowPrivilegeEscalation != false (container "app" must set securityContext.allowPrivilegeEscalation=false)',
      'unrestricted capabilities (container "app" must set securityContext.capabilities.drop=["ALL"]; container "app" must not include "CHOWN" in securityContext.capabilities.add)',
      'runAsNonRoot != true (pod or container "app" must set securityContext.runAsNonRoot=true)',
      'runAsUser=0 (container "app" must not set runAsUser=0)',
      'seccompProfile (pod or container "app" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")',
    ]);
    // Container-level settings count as much as pod-level ones; an explicit false overrides the pod.
    const perContainer = { containers: [{ name: "app", securityContext: { runAsNonRoot: true, allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] }, seccompProfile: { type: "Localhost", localhostProfile: "p.json" } } }] };
    expect(podSecurityViolations("restricted", {}, perContainer)).toEqual([]);
    const overridden = { ...RESTRICTED_POD, containers: [{ ...RESTRICTED_POD.containers[0]!, securityContext: { ...RESTRICTED_POD.containers[0]!.securityContext, runAsNonRoot: false } }] };
    expect(podSecurityViolations("restricted", {}, overridden)).toEqual(['runAsNonRoot != true (container "app" must not set securityContext.runAsNonRoot=false)']);
  });

  it("reads the level from the namespace's enforce label (none: privileged)", () => {
    expect(enforceLevel(undefined)).toBe("privileged");
    expect(enforceLevel({ "pod-security.kubernetes.io/enforce": "baseline" })).toBe("baseline");
    expect(enforceLevel({ "pod-security.kubernetes.io/enforce": "restricted" })).toBe("restricted");
  });
});

describe("the API fake's Pod Security admission", () => {
  let fake: FakeKubeApi;
  let core: CoreV1Api;
  let apps: AppsV1Api;
  let batch: BatchV1Api;
  beforeAll(async () => {
    fake = await startFakeKubeApi();
    const kc = new KubeConfig();
    kc.loadFromFile(fake.kubeconfigPath);
    kc.setCurrentContext("fake");
    core = kc.makeApiClient(CoreV1Api);
    apps = kc.makeApiClient(AppsV1Api);
    batch = kc.makeApiClient(BatchV1Api);
    await core.createNamespace({ body: { metadata: { name: "locked", labels: { "pod-security.kubernetes.io/enforce": "restricted" } } } });
    await core.createNamespace({ body: { metadata: { name: "open" } } });
  });
  afterAll(async () => {
    await fake.close();
  });

  const rootPod = { containers: [{ name: "app", image: "r/x:1" }] };

  it("refuses a pod above the namespace's level with 403 Forbidden, like the API server", async () => {
    const err = await core.createNamespacedPod({ namespace: "locked", body: { metadata: { name: "root" }, spec: rootPod } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiException);
    expect((err as ApiException<unknown>).code).toBe(403);
    const body = JSON.parse(String((err as ApiException<string>).body));
    expect(body).toMatchObject({ kind: "Status", status: "Failure", reason: "Forbidden", code: 403 });
    expect(body.message).toMatch(/^pods "root" is forbidden: violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false/);
    await core.createNamespacedPod({ namespace: "locked", body: { metadata: { name: "ok" }, spec: RESTRICTED_POD } });
    await core.createNamespacedPod({ namespace: "open", body: { metadata: { name: "root" }, spec: rootPod } });
  });

  it("admits a Deployment whose pods it refuses: the ReplicaSet records FailedCreate and no pod appears", async () => {
    await apps.createNamespacedDeployment({
      namespace: "locked",
      body: { metadata: { name: "web" }, spec: { selector: { matchLabels: { app: "web" } }, template: { metadata: { labels: { app: "web" } }, spec: rootPod } } },
    });
    let events: string[] = [];
    for (let i = 0; i < 50 && events.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 50));
      events = fake.list("Event", "locked").filter((e) => e.reason === "FailedCreate").map((e) => `${(e.involvedObject as any).kind}: ${String(e.message)}`);
    }
    expect(events).toHaveLength(1);
    expect(events[0]).toMatch(/^ReplicaSet: Error creating: pods "web-[0-9a-f]+-[0-9a-f]+" is forbidden: violates PodSecurity "restricted:latest": /);
    expect(fake.list("Pod", "locked").filter((p) => p.metadata.name.startsWith("web-"))).toEqual([]);
    const status = (await apps.readNamespacedDeployment({ name: "web", namespace: "locked" })).status!;
    expect(status.readyReplicas).toBe(0);
    expect(status.conditions?.find((c) => c.type === "ReplicaFailure")).toMatchObject({ status: "True", reason: "FailedCreate" });
  });

  it("fails a Job whose pod it refuses at the Job's deadline, after a FailedCreate event", async () => {
    await batch.createNamespacedJob({ namespace: "locked", body: { metadata: { name: "t" }, spec: { activeDeadlineSeconds: 1, backoffLimit: 0, template: { spec: { ...rootPod, restartPolicy: "Never" } } } } });
    let job;
    for (let i = 0; i < 60; i++) {
      job = await batch.readNamespacedJob({ name: "t", namespace: "locked" });
      if (job.status?.conditions?.some((c) => c.type === "Failed")) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(job!.status?.conditions?.find((c) => c.type === "Failed")).toMatchObject({ reason: "DeadlineExceeded" });
    expect(fake.list("Event", "locked").some((e) => e.reason === "FailedCreate" && (e.involvedObject as any).kind === "Job")).toBe(true);
  });

  it("records FailedCreate for workloads it runs no controller for", async () => {
    await apps.createNamespacedStatefulSet({
      namespace: "locked",
      body: { metadata: { name: "db" }, spec: { serviceName: "db", selector: { matchLabels: { app: "db" } }, template: { metadata: { labels: { app: "db" } }, spec: { ...rootPod, hostNetwork: true } } } },
    });
    const event = fake.list("Event", "locked").find((e) => e.reason === "FailedCreate" && (e.involvedObject as any).name === "db");
    expect(String(event?.message)).toContain("host namespaces (hostNetwork=true)");
  });
});
