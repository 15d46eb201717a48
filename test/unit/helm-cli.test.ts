import { chmod, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { escapeSetValue, HelmCli } from "../../src/adapters/kubernetes/helm.js";

let dir: string;

/** A stand-in helm (a node script) that prints a version, records its argv and fails on request. */
async function fakeHelm(version: string, behaviour: string): Promise<string> {
  const file = join(dir, `helm-${version}-${Math.random().toString(36).slice(2)}`);
  await writeFile(
    file,
    `#!${process.execPath}
const args = process.argv.slice(2);
require("node:fs").appendFileSync(${JSON.stringify(join(dir, "calls.log"))}, JSON.stringify(args) + "\\n");
if (args[0] === "version") { console.log("${version}+gdeadbee"); process.exit(0); }
${behaviour}
`,
  );
  await chmod(file, 0o755);
  return file;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "berth-helm-cli-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const request = { release: "preview", namespace: "acme-app-pr-1", chart: "/charts/berth-preview", timeoutMs: 90_500, setString: { "image.repository": "reg:5000/a,b", "image.tag": "1234567" } };

describe("HelmCli", () => {
  it("uses --atomic on Helm 3 and --rollback-on-failure on Helm 4", async () => {
    const v3 = new HelmCli({ bin: await fakeHelm("v3.17.3", ""), kubeContext: "ctx" });
    const v4 = new HelmCli({ bin: await fakeHelm("v4.1.0", "") });
    const args3 = await v3.upgradeArgs(request);
    const args4 = await v4.upgradeArgs(request);
    expect(args3).toContain("--atomic");
    expect(args3).not.toContain("--rollback-on-failure");
    expect(args4).toContain("--rollback-on-failure");
    expect(args4).not.toContain("--atomic");
    expect(args3.slice(0, 9)).toEqual(["upgrade", "--install", "preview", "/charts/berth-preview", "--namespace", "acme-app-pr-1", "--kube-context", "ctx", "--wait"]);
    expect(args3).toContain("91s");
    expect(args3.filter((a, i) => args3[i - 1] === "--set-string")).toEqual(["image.repository=reg:5000/a\\,b", "image.tag=1234567"]);
  });

  it("runs namespaced commands as the namespace's ServiceAccount when told to", async () => {
    const helm = new HelmCli({ bin: await fakeHelm("v3.17.3", ""), serviceAccount: "berth-deployer" });
    const args = await helm.upgradeArgs(request);
    expect(args.slice(4, 8)).toEqual(["--namespace", "acme-app-pr-1", "--kube-as-user", "system:serviceaccount:acme-app-pr-1:berth-deployer"]);
  });

  it("passes values through a private temp file that is removed afterwards", async () => {
    const bin = await fakeHelm("v3.17.3", `
const file = args[args.lastIndexOf("--values") + 1];
const fs = require("node:fs");
fs.writeFileSync(${JSON.stringify(join(dir, "seen-values"))}, fs.readFileSync(file, "utf8") + "mode=" + (fs.statSync(file).mode & 0o777).toString(8));
`);
    const tmp = await mkdtemp(join(dir, "tmp-"));
    await new HelmCli({ bin, tmpDir: tmp }).upgradeInstall({ ...request, values: { env: { TOKEN: "secret-value" }, tag: "007" } });
    const seen = await readFile(join(dir, "seen-values"), "utf8");
    expect(seen).toContain("TOKEN: secret-value");
    expect(seen).toContain('tag: "007"');
    expect(seen).toContain("mode=600");
    const { readdir } = await import("node:fs/promises");
    expect(await readdir(tmp)).toEqual([]);
  });

  it("treats an uninstall of a missing release as success and rethrows other failures", async () => {
    const missing = await fakeHelm("v3.17.3", `console.error("Error: uninstall: Release not loaded: preview: release: not found"); process.exit(1);`);
    expect(await new HelmCli({ bin: missing }).uninstall("preview", "ns", { timeoutMs: 5000 })).toEqual({ removed: false });
    const broken = await fakeHelm("v3.17.3", `console.error("Error: Kubernetes cluster unreachable"); process.exit(1);`);
    await expect(new HelmCli({ bin: broken }).uninstall("preview", "ns", { timeoutMs: 5000 })).rejects.toThrow(/cluster unreachable/);
  });

  it("rejects --set-string keys that are not plain paths", async () => {
    const cli = new HelmCli({ bin: await fakeHelm("v3.17.3", "") });
    await expect(cli.upgradeArgs({ ...request, setString: { "a,b=c": "x" } })).rejects.toThrow(/invalid --set-string key/);
  });

  it("escapes helm's separators in values", () => {
    expect(escapeSetValue("a,b\\c=d")).toBe("a\\,b\\\\c=d");
  });
});
