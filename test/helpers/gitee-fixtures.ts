/**
 * Real recorded Gitee webhook payloads, read from the shared fixtures folder (never copied into the
 * repository), plus the `X-Gitee-Event` header each one was delivered with.
 */
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** `../shared/fixtures/gitee/` next to the repository. */
export const GITEE_FIXTURE_DIR = fileURLToPath(new URL("../../../shared/fixtures/gitee/", import.meta.url));

/** Event header of every recorded payload (Gitee does not store it in the body). */
export const GITEE_FIXTURE_EVENTS: Readonly<Record<string, string>> = {
  "pr_open.json": "Merge Request Hook",
  "pr_close.json": "Merge Request Hook",
  "pr_merge.json": "Merge Request Hook",
  "note_hook_pr_comment.json": "Note Hook",
  "tag_create.json": "Tag Push Hook",
  "push.json": "Push Hook",
};

/** File names in the fixture folder. */
export function giteeFixtureNames(): string[] {
  return readdirSync(GITEE_FIXTURE_DIR).filter((name) => name.endsWith(".json")).sort();
}

/** A fresh, mutable copy of a fixture (variants are built by editing it). */
export function loadGiteeFixture(name: string): Record<string, any> {
  return JSON.parse(readFileSync(`${GITEE_FIXTURE_DIR}${name}`, "utf8")) as Record<string, any>;
}

/** The raw bytes of a fixture, as Gitee sent them. */
export function giteeFixtureText(name: string): string {
  return readFileSync(`${GITEE_FIXTURE_DIR}${name}`, "utf8");
}
