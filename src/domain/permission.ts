/**
 * Ordering of collaborator permissions.
 */
import type { Permission } from "./types.js";

const RANK: Record<Permission, number> = { none: 0, read: 1, triage: 2, write: 3, maintain: 4, admin: 5 };

/** Whether `actual` is `required` or higher. */
export function hasPermission(actual: Permission, required: Permission): boolean {
  return RANK[actual] >= RANK[required];
}

/**
 * A host's permission word as berth's level: GitHub-like words (`admin`, `write`, `read`, ...),
 * Gitee role names (`master`, `developer`, `reporter`, ...) and Gitea's access levels (`owner`,
 * `admin`, `write`, `read`, `none`). Unknown words are `none`.
 */
export function permissionFromWord(value: string | null | undefined): Permission {
  switch ((value ?? "").trim().toLowerCase()) {
    case "admin":
    case "owner":
      return "admin";
    case "maintain":
    case "master":
      return "maintain";
    case "write":
    case "push":
    case "developer":
      return "write";
    case "triage":
    case "reporter":
      return "triage";
    case "read":
    case "pull":
    case "viewer":
    case "guest":
      return "read";
    default:
      return "none";
  }
}
