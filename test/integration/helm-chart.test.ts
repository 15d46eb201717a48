/**
 * berth's built-in chart through the real helm binary: lint, render, and validate every rendered
 * object against the Kubernetes schemas. The value flags come from the helm adapter itself, so what
 * is tested here is what berth sends.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseAllDocuments, stringify as stringifyYaml } from "yaml";
import { CommandError, runCommand } from "../../src/adapters/exec.js";
import { HelmCli } from "../../src/adapters/kubernetes/helm.js";
import { previewName } from "../../src/domain/naming.js";
import { validateObject } from "../fakes/k8s-schema.js";
import { podSecurityViolations } from "../fakes/kube-pod-security.js";
import { helmBinary } from "../helpers/helm-bin.js";

const chart = fileURLToPath(new URL("../../charts/berth-preview", import.meta.url));

let helmBin: string;
let home: string;

beforeAll(async () => {
  helmBin = await helmBinary();
  home = await mkdtemp(join(tmpdir(), "berth-helm-home-"));
});
afterAll(async () => {
  await rm(home, { recursive: true, force: true });
});

function helm(args: string[]) {
  return runCommand(helmBin, args, { timeoutMs: 60_000, env: { HOME: home, KUBECONFIG: join(home, "none") } });
}

interface Rendered {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  spec?: any;
}

/**
 * Render the chart with exactly the value flags `HelmCli.upgradeArgs` produces (upgrade-only flags
 * dropped), with `values` in a temp file as the adapter does.
 */
async function render(values: Record<string, unknown>, setString: Record<string, string>): Promise<Rendered[]> {
  const cli = new HelmCli({ bin: helmBin, env: { HOME: home } });
  const dir = await mkdtemp(join(tmpdir(), "berth-values-"));
  try {
    const file = join(dir, "values.yaml");
    await writeFile(file, stringifyYaml(values));
    const upgrade = await cli.upgradeArgs({ release: "preview", namespace: "acme-app-pr-7", chart, values, setString, timeoutMs: 60_000 }, file);
    const valueFlags: string[] = [];
    for (let i = 0; i < upgrade.length; i++) {
      if (upgrade[i] === "--values" || upgrade[i] === "--set-string") valueFlags.push(upgrade[i]!, upgrade[++i]!);
    }
    const result = await helm(["template", "preview", chart, "--namespace", "acme-app-pr-7", ...valueFlags]);
    return parseAllDocuments(result.stdout)
      .map((doc) => doc.toJS() as Rendered | null)
      .filter((doc): doc is Rendered => doc !== null);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const host = `${previewName({ host: "github", owner: "acme", name: "app" }, 7)}.preview.example.test`;
const baseValues = {
  port: 3000,
  healthPath: "/healthz",
  env: { NODE_ENV: "preview", WORKERS: "2" },
  ingress: { host, className: "nginx", tls: { secretName: "wildcard-preview" } },
  berth: { sha: "0123456789abcdef0123456789abcdef01234567", pr: "7", repo: "acme/app" },
};

describe("built-in chart", () => {
  it("passes helm lint --strict with berth's values", async () => {
    const result = await helm(["lint", chart, "--strict", "--set-string", `image.repository=registry.test/acme-app,image.tag=pr-7-0123456,ingress.host=${host}`]);
    expect(result.stdout).toContain("0 chart(s) failed");
  });

  it("renders a Deployment, Service and Ingress that all pass schema validation", async () => {
    const objects = await render(baseValues, { "image.repository": "registry.test:5000/previews/acme-app", "image.tag": "pr-7-0123456" });
    expect(objects.map((o) => o.kind).sort()).toEqual(["Deployment", "Ingress", "Service"]);
    for (const object of objects) {
      expect(await validateObject(object), `${object.kind} ${object.metadata.name}`).toEqual([]);
    }
    const deployment = objects.find((o) => o.kind === "Deployment")!;
    const container = deployment.spec.template.spec.containers[0];
    expect(container.image).toBe("registry.test:5000/previews/acme-app:pr-7-0123456");
    expect(container.ports).toEqual([{ name: "http", containerPort: 3000, protocol: "TCP" }]);
    expect(container.readinessProbe.httpGet).toEqual({ path: "/healthz", port: "http" });
    expect(container.livenessProbe.httpGet).toEqual({ path: "/healthz", port: "http" });
    expect(container.resources.limits).toBeDefined();
    expect(container.resources.requests).toBeDefined();
    expect(container.env).toEqual([
      { name: "NODE_ENV", value: "preview" },
      { name: "WORKERS", value: "2" },
    ]);
    expect(deployment.spec.template.spec.automountServiceAccountToken).toBe(false);
    expect(deployment.spec.template.metadata.annotations["berth.dev/sha"]).toBe(baseValues.berth.sha);

    const ingress = objects.find((o) => o.kind === "Ingress")!;
    expect(ingress.spec.rules[0].host).toBe(host);
    expect(host).toMatch(/^acme-app-[0-9a-f]{8}-pr-7\.preview\.example\.test$/);
    expect(ingress.spec.tls).toEqual([{ hosts: [host], secretName: "wildcard-preview" }]);
    expect(ingress.spec.ingressClassName).toBe("nginx");
    const service = objects.find((o) => o.kind === "Service")!;
    expect(ingress.spec.rules[0].http.paths[0].backend.service.name).toBe(service.metadata.name);
    expect(service.spec.ports[0]).toMatchObject({ port: 80, targetPort: "http" });
  });

  it("keeps an all-digit (or float-looking) tag a string", async () => {
    for (const tag of ["1234567", "1e10", "0123", "true"]) {
      const objects = await render(baseValues, { "image.repository": "registry.test/acme-app", "image.tag": tag });
      const deployment = objects.find((o) => o.kind === "Deployment")!;
      expect(deployment.spec.template.spec.containers[0].image).toBe(`registry.test/acme-app:${tag}`);
    }
  });

  it("rejects a numeric tag through its values schema (why berth uses --set-string)", async () => {
    const error = await helm(["template", "preview", chart, "--set", "image.repository=r/x,image.tag=1234567", "--set-string", `ingress.host=${host}`]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CommandError);
    // Helm 3 and Helm 4 word the schema error differently.
    expect((error as CommandError).stderr).toMatch(/image\.tag: Invalid type\. Expected: string|at '\/image\/tag': got number, want string/);
  });

  it("pulls by digest when one is given", async () => {
    const digest = `sha256:${"ab".repeat(32)}`;
    const objects = await render(baseValues, { "image.repository": "registry.test/acme-app", "image.tag": "pr-7-0123456", "image.digest": digest });
    expect(objects.find((o) => o.kind === "Deployment")!.spec.template.spec.containers[0].image).toBe(`registry.test/acme-app@${digest}`);
  });

  it("renders no Ingress when disabled and fails without a host when enabled", async () => {
    const objects = await render({ ...baseValues, ingress: { enabled: false } }, { "image.repository": "r/x", "image.tag": "1" });
    expect(objects.map((o) => o.kind).sort()).toEqual(["Deployment", "Service"]);
    const error = await render({ ...baseValues, ingress: { host: "" } }, { "image.repository": "r/x", "image.tag": "1" }).catch((e: unknown) => e);
    expect(String((error as CommandError).stderr)).toContain("ingress.host is required");
  });

  it("rejects values the schema forbids", async () => {
    const error = await render({ ...baseValues, healthPath: "healthz" }, { "image.repository": "r/x", "image.tag": "1" }).catch((e: unknown) => e);
    expect((error as CommandError).stderr).toMatch(/healthPath/);
  });

  it("runs its pods as Pod Security restricted asks, by default and with every value the schema allows", async () => {
    for (const extra of [{}, { podSecurityContext: { runAsUser: 1000, runAsGroup: 1000, fsGroup: 2000 }, securityContext: { readOnlyRootFilesystem: true } }]) {
      const objects = await render({ ...baseValues, ...extra }, { "image.repository": "r/x", "image.tag": "1" });
      const pod = objects.find((o) => o.kind === "Deployment")!.spec.template;
      expect(podSecurityViolations("restricted", pod.metadata, pod.spec)).toEqual([]);
      expect(pod.spec.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } });
      expect(typeof pod.spec.securityContext.runAsUser).toBe("number");
      expect(pod.spec.containers[0].securityContext).toMatchObject({ allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } });
    }
    const custom = await render({ ...baseValues, podSecurityContext: { runAsUser: 1000 }, securityContext: { readOnlyRootFilesystem: true } }, { "image.repository": "r/x", "image.tag": "1" });
    const spec = custom.find((o) => o.kind === "Deployment")!.spec.template.spec;
    expect(spec.securityContext.runAsUser).toBe(1000);
    expect(spec.containers[0].securityContext.readOnlyRootFilesystem).toBe(true);
  });

  it("its values schema refuses security contexts beyond the restricted subset", async () => {
    for (const values of [
      { securityContext: { privileged: true } },
      { securityContext: { allowPrivilegeEscalation: true } },
      { securityContext: { capabilities: { add: ["SYS_ADMIN"] } } },
      { podSecurityContext: { runAsUser: 0 } },
      { podSecurityContext: { runAsNonRoot: false } },
      { podSecurityContext: { seccompProfile: { type: "Unconfined" } } },
    ]) {
      const error = await render({ ...baseValues, ...values }, { "image.repository": "r/x", "image.tag": "1" }).catch((e: unknown) => e);
      expect(error, JSON.stringify(values)).toBeInstanceOf(CommandError);
      expect((error as CommandError).stderr).toMatch(/values don't meet the specifications of the schema|schema/);
    }
  });

  it("the schema check itself catches a broken object", async () => {
    const objects = await render(baseValues, { "image.repository": "r/x", "image.tag": "1" });
    const deployment = structuredClone(objects.find((o) => o.kind === "Deployment")!);
    deployment.spec.replicas = "1";
    delete deployment.spec.template.spec.containers[0].name;
    const errors = await validateObject(deployment);
    expect(errors.join("\n")).toMatch(/replicas must be integer/);
    expect(errors.join("\n")).toMatch(/containers\/0 must have required property name/);
    expect(await validateObject({ ...objects.find((o) => o.kind === "Service")!, metadata: { name: "1-starts-with-digit" } })).not.toEqual([]);
  });
});
