/**
 * Names and URL paths of the Harbor API v2.0.
 *
 * Tags come from git tag names and branch names, so every name is checked against the registry
 * grammar before it reaches a URL: a bad name is refused with a clear message instead of producing
 * a surprising request.
 */

/** Harbor project names: lower-case words joined by `.`, `_` or `-`. */
const PROJECT_NAME = /^[a-z0-9]+(?:[._-][a-z0-9]+)*$/;
/** OCI distribution repository path (below the project): components joined by `/`. */
const REPOSITORY_NAME = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;
/** OCI tag grammar. */
const TAG_NAME = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
/** OCI digest grammar (`sha256:<hex>`). */
const DIGEST = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$/;

function shown(value: string): string {
  return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
}

/** Refuse a project name Harbor would not accept. */
export function checkProjectName(name: string): string {
  if (name.length > 255 || !PROJECT_NAME.test(name)) throw new Error(`invalid Harbor project name ${shown(name)}`);
  return name;
}

/** Refuse a repository name (below the project, e.g. `app` or `team/app`) that is not an OCI name. */
export function checkRepositoryName(name: string): string {
  if (name.length > 255 || !REPOSITORY_NAME.test(name)) throw new Error(`invalid Harbor repository name ${shown(name)}`);
  return name;
}

/** Refuse a tag that is not an OCI tag. */
export function checkTagName(tag: string): string {
  if (!TAG_NAME.test(tag)) throw new Error(`invalid image tag ${shown(tag)}`);
  return tag;
}

/** True for `sha256:…` style digests. */
export function isDigest(reference: string): boolean {
  return DIGEST.test(reference);
}

/** Refuse a reference that is neither a tag nor a digest. */
export function checkReference(reference: string): string {
  if (!isDigest(reference) && !TAG_NAME.test(reference)) throw new Error(`invalid artifact reference ${shown(reference)}`);
  return reference;
}

/** `/projects/<project>` */
export function projectPath(project: string): string {
  return `/projects/${encodeURIComponent(checkProjectName(project))}`;
}

/**
 * `/projects/<project>/repositories/<repository>`. Harbor wants the repository name URL-encoded
 * twice (`a/b` → `a%2Fb` → `a%252Fb`): its router decodes the path once before matching.
 */
export function repositoryPath(project: string, repository: string): string {
  return `${projectPath(project)}/repositories/${encodeURIComponent(encodeURIComponent(checkRepositoryName(repository)))}`;
}

/** `/projects/<project>/repositories/<repository>/artifacts/<reference>` */
export function artifactPath(project: string, repository: string, reference: string): string {
  return `${repositoryPath(project, repository)}/artifacts/${encodeURIComponent(checkReference(reference))}`;
}
