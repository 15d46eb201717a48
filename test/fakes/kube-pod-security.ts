/**
 * Pod Security admission as the API server's built-in `PodSecurity` plugin evaluates it (the Pod
 * Security Standards, `latest` version): the checks of the baseline and restricted levels, with the
 * server's wording, so the fake can refuse pods like a real cluster. Only `enforce` decides; the
 * level comes from the namespace label `pod-security.kubernetes.io/enforce` (no label: privileged,
 * the server default). No exemptions, no per-version differences.
 */

export type PodSecurityLevel = "privileged" | "baseline" | "restricted";

type Obj = Record<string, any>;

/** Capabilities baseline allows to be added. */
const BASELINE_CAPABILITIES = new Set(["AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"]);
/** Sysctls baseline allows. */
const SAFE_SYSCTLS = new Set([
  "kernel.shm_rmid_forced",
  "net.ipv4.ip_local_port_range",
  "net.ipv4.ip_unprivileged_port_start",
  "net.ipv4.tcp_syncookies",
  "net.ipv4.ping_group_range",
  "net.ipv4.ip_local_reserved_ports",
  "net.ipv4.tcp_keepalive_time",
  "net.ipv4.tcp_fin_timeout",
  "net.ipv4.tcp_keepalive_intvl",
  "net.ipv4.tcp_keepalive_probes",
]);
const SELINUX_TYPES = new Set(["", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"]);
/** Volume types restricted allows. */
const RESTRICTED_VOLUMES = new Set(["configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret"]);

/** The enforce level a namespace's labels ask for (unknown values count as restricted, like the server's strictest reading). */
export function enforceLevel(labels: Record<string, string> | undefined): PodSecurityLevel {
  const value = labels?.["pod-security.kubernetes.io/enforce"];
  if (value === undefined || value === "privileged") return "privileged";
  return value === "baseline" ? "baseline" : "restricted";
}

function containersOf(spec: Obj): Obj[] {
  return [...(spec.initContainers ?? []), ...(spec.containers ?? []), ...(spec.ephemeralContainers ?? [])].filter((c: unknown) => c && typeof c === "object");
}

const quoteList = (names: string[]): string => names.map((n) => `"${n}"`).join(", ");
const containerWord = (names: string[]): string => (names.length === 1 ? "container" : "containers");

function baseline(metadata: Obj, spec: Obj): string[] {
  const out: string[] = [];
  const containers = containersOf(spec);
  const podSc: Obj = spec.securityContext ?? {};

  // HostProcess
  const hostProcess = containers.filter((c) => c.securityContext?.windowsOptions?.hostProcess === true).map((c) => c.name);
  if (podSc.windowsOptions?.hostProcess === true || hostProcess.length > 0) {
    out.push(`hostProcess (${podSc.windowsOptions?.hostProcess === true ? "pod" : `${containerWord(hostProcess)} ${quoteList(hostProcess)}`} must not set securityContext.windowsOptions.hostProcess=true)`);
  }
  // Host namespaces
  const hostNs = (["hostNetwork", "hostPID", "hostIPC"] as const).filter((f) => spec[f] === true);
  if (hostNs.length > 0) out.push(`host namespaces (${hostNs.map((f) => `${f}=true`).join(", ")})`);
  // Privileged
  const privileged = containers.filter((c) => c.securityContext?.privileged === true).map((c) => c.name);
  if (privileged.length > 0) out.push(`privileged (${containerWord(privileged)} ${quoteList(privileged)} must not set securityContext.privileged=true)`);
  // Capabilities
  const added = new Set<string>();
  const addedBy: string[] = [];
  for (const c of containers) {
    const extra = ((c.securityContext?.capabilities?.add ?? []) as string[]).filter((cap) => !BASELINE_CAPABILITIES.has(cap));
    if (extra.length > 0) {
      addedBy.push(c.name);
      for (const cap of extra) added.add(cap);
    }
  }
  if (addedBy.length > 0) out.push(`non-default capabilities (${containerWord(addedBy)} ${quoteList(addedBy)} must not include ${quoteList([...added].sort())} in securityContext.capabilities.add)`);
  // HostPath volumes
  const hostPath = ((spec.volumes ?? []) as Obj[]).filter((v) => v.hostPath !== undefined).map((v) => v.name);
  if (hostPath.length > 0) out.push(`hostPath volumes (${hostPath.length === 1 ? "volume" : "volumes"} ${quoteList(hostPath)})`);
  // Host ports
  const hostPorts: number[] = [];
  const hostPortUsers: string[] = [];
  for (const c of containers) {
    const ports = ((c.ports ?? []) as Obj[]).map((p) => p.hostPort).filter((p): p is number => typeof p === "number" && p !== 0);
    if (ports.length > 0) {
      hostPortUsers.push(c.name);
      hostPorts.push(...ports);
    }
  }
  if (hostPortUsers.length > 0) out.push(`hostPort (${containerWord(hostPortUsers)} ${quoteList(hostPortUsers)} ${hostPortUsers.length === 1 ? "uses" : "use"} ${hostPorts.length === 1 ? "hostPort" : "hostPorts"} ${hostPorts.join(", ")})`);
  // AppArmor (field and the older annotations)
  const badAppArmor: string[] = [];
  const okAppArmor = (type: unknown): boolean => type === undefined || type === "RuntimeDefault" || type === "Localhost";
  if (!okAppArmor(podSc.appArmorProfile?.type)) badAppArmor.push(`pod must not set securityContext.appArmorProfile.type to "${String(podSc.appArmorProfile.type)}"`);
  for (const c of containers) {
    if (!okAppArmor(c.securityContext?.appArmorProfile?.type)) badAppArmor.push(`container "${c.name}" must not set securityContext.appArmorProfile.type to "${String(c.securityContext.appArmorProfile.type)}"`);
  }
  for (const [key, value] of Object.entries((metadata.annotations ?? {}) as Record<string, string>)) {
    if (key.startsWith("container.apparmor.security.beta.kubernetes.io/") && value !== "runtime/default" && !value.startsWith("localhost/")) {
      badAppArmor.push(`annotation ${key}="${value}"`);
    }
  }
  if (badAppArmor.length > 0) out.push(`forbidden AppArmor profile${badAppArmor.length === 1 ? "" : "s"} (${badAppArmor.join(", ")})`);
  // SELinux
  const seLinuxBad: string[] = [];
  const checkSeLinux = (options: Obj | undefined, who: string): void => {
    if (!options) return;
    if (options.type !== undefined && !SELINUX_TYPES.has(options.type)) seLinuxBad.push(`${who} set forbidden securityContext.seLinuxOptions: type "${options.type}"`);
    if (options.user !== undefined && options.user !== "") seLinuxBad.push(`${who} set forbidden securityContext.seLinuxOptions: user "${options.user}"`);
    if (options.role !== undefined && options.role !== "") seLinuxBad.push(`${who} set forbidden securityContext.seLinuxOptions: role "${options.role}"`);
  };
  checkSeLinux(podSc.seLinuxOptions, "pod");
  for (const c of containers) checkSeLinux(c.securityContext?.seLinuxOptions, `container "${c.name}"`);
  if (seLinuxBad.length > 0) out.push(`seLinuxOptions (${seLinuxBad.join(", ")})`);
  // /proc mount
  const procMount = containers.filter((c) => c.securityContext?.procMount !== undefined && c.securityContext.procMount !== "Default").map((c) => c.name);
  if (procMount.length > 0) out.push(`procMount (${containerWord(procMount)} ${quoteList(procMount)} must not set securityContext.procMount to "Unmasked")`);
  // Seccomp: Unconfined is forbidden at any level above privileged.
  const unconfined: string[] = [];
  if (podSc.seccompProfile?.type === "Unconfined") unconfined.push("pod");
  const unconfinedContainers = containers.filter((c) => c.securityContext?.seccompProfile?.type === "Unconfined").map((c) => c.name);
  if (unconfinedContainers.length > 0) unconfined.push(`${containerWord(unconfinedContainers)} ${quoteList(unconfinedContainers)}`);
  if (unconfined.length > 0) out.push(`seccompProfile (${unconfined.join(" and ")} must not set securityContext.seccompProfile.type to "Unconfined")`);
  // Sysctls
  const sysctls = ((podSc.sysctls ?? []) as Obj[]).map((s) => String(s.name)).filter((name) => !SAFE_SYSCTLS.has(name));
  if (sysctls.length > 0) out.push(`forbidden sysctls (${sysctls.join(", ")})`);
  return out;
}

function restricted(spec: Obj): string[] {
  const out: string[] = [];
  const containers = containersOf(spec);
  const podSc: Obj = spec.securityContext ?? {};
  // Volume types
  const badVolumes: string[] = [];
  for (const volume of (spec.volumes ?? []) as Obj[]) {
    const type = Object.keys(volume).find((k) => k !== "name");
    if (type !== undefined && !RESTRICTED_VOLUMES.has(type)) badVolumes.push(`volume "${volume.name}" uses restricted volume type "${type}"`);
  }
  if (badVolumes.length > 0) out.push(`restricted volume types (${badVolumes.join(", ")})`);
  // Privilege escalation
  const escalating = containers.filter((c) => c.securityContext?.allowPrivilegeEscalation !== false).map((c) => c.name);
  if (escalating.length > 0) out.push(`allowPrivilegeEscalation != false (${containerWord(escalating)} ${quoteList(escalating)} must set securityContext.allowPrivilegeEscalation=false)`);
  // Capabilities: drop ALL, add at most NET_BIND_SERVICE
  const noDrop = containers.filter((c) => !((c.securityContext?.capabilities?.drop ?? []) as string[]).includes("ALL")).map((c) => c.name);
  const badAdd = containers.filter((c) => ((c.securityContext?.capabilities?.add ?? []) as string[]).some((cap) => cap !== "NET_BIND_SERVICE"));
  if (noDrop.length > 0 || badAdd.length > 0) {
    const parts: string[] = [];
    if (noDrop.length > 0) parts.push(`${containerWord(noDrop)} ${quoteList(noDrop)} must set securityContext.capabilities.drop=["ALL"]`);
    for (const c of badAdd) {
      const caps = ((c.securityContext.capabilities.add ?? []) as string[]).filter((cap) => cap !== "NET_BIND_SERVICE");
      parts.push(`container "${c.name}" must not include ${quoteList(caps)} in securityContext.capabilities.add`);
    }
    out.push(`unrestricted capabilities (${parts.join("; ")})`);
  }
  // Running as non-root: explicit false anywhere fails; otherwise pod-level true or every container true.
  const explicitFalse = containers.filter((c) => c.securityContext?.runAsNonRoot === false).map((c) => c.name);
  const unset = containers.filter((c) => c.securityContext?.runAsNonRoot === undefined).map((c) => c.name);
  if (podSc.runAsNonRoot === false || explicitFalse.length > 0) {
    const who = [...(podSc.runAsNonRoot === false ? ["pod"] : []), ...(explicitFalse.length > 0 ? [`${containerWord(explicitFalse)} ${quoteList(explicitFalse)}`] : [])];
    out.push(`runAsNonRoot != true (${who.join(" and ")} must not set securityContext.runAsNonRoot=false)`);
  } else if (podSc.runAsNonRoot !== true && unset.length > 0) {
    out.push(`runAsNonRoot != true (pod or ${containerWord(unset)} ${quoteList(unset)} must set securityContext.runAsNonRoot=true)`);
  }
  // Non-root user id
  const rootUsers = [...(podSc.runAsUser === 0 ? ["pod"] : []), ...containers.filter((c) => c.securityContext?.runAsUser === 0).map((c) => `container "${c.name}"`)];
  if (rootUsers.length > 0) out.push(`runAsUser=0 (${rootUsers.join(" and ")} must not set runAsUser=0)`);
  // Seccomp: RuntimeDefault or Localhost, at pod level or on every container.
  const okSeccomp = (type: unknown): boolean => type === "RuntimeDefault" || type === "Localhost";
  const podSeccomp = podSc.seccompProfile?.type;
  const missing = containers.filter((c) => {
    const type = c.securityContext?.seccompProfile?.type;
    if (type === undefined) return !okSeccomp(podSeccomp);
    return !okSeccomp(type) && type !== "Unconfined";
  }).map((c) => c.name);
  if (podSeccomp !== undefined && !okSeccomp(podSeccomp) && podSeccomp !== "Unconfined") {
    out.push(`seccompProfile (pod must not set securityContext.seccompProfile.type to "${String(podSeccomp)}")`);
  } else if (missing.length > 0) {
    out.push(`seccompProfile (pod or ${containerWord(missing)} ${quoteList(missing)} must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")`);
  }
  return out;
}

/** Every Pod Security violation of a pod (metadata + spec) at `level`; empty when it is admitted. */
export function podSecurityViolations(level: PodSecurityLevel, metadata: Obj | undefined, spec: Obj | undefined): string[] {
  if (level === "privileged" || !spec) return [];
  const out = baseline(metadata ?? {}, spec);
  if (level === "restricted") out.push(...restricted(spec));
  return out;
}

/** The API server's wording: `violates PodSecurity "restricted:latest": a, b`. */
export function podSecurityMessage(level: PodSecurityLevel, violations: string[]): string {
  return `violates PodSecurity "${level}:latest": ${violations.join(", ")}`;
}
