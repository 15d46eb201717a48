/**
 * Ordering of collaborator permissions.
 */
import type { Permission } from "./types.js";

const RANK: Record<Permission, number> = { none: 0, read: 1, triage: 2, write: 3, maintain: 4, admin: 5 };

/** Whether `actual` is `required` or higher. */
export function hasPermission(actual: Permission, required: Permission): boolean {
  return RANK[actual] >= RANK[required];
}
