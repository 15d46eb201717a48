/**
 * The stable addresses of previews behind berth's gateway: `<repo-slug>-pr-<n>.<domain>` for a PR,
 * `<repo-slug>-env-<environment>.<domain>` for a tag-flow environment — one DNS label under the
 * preview domain, the same names the Kubernetes target gives its Ingress hosts. Pure.
 */
import { environmentName, previewName } from "../domain/naming.js";
import type { PreviewKey } from "../domain/ports.js";

/** How preview URLs are written: the domain under which every preview has a label, and how it is reached. */
export interface GatewayAddressing {
  /** `BERTH_PREVIEW_DOMAIN` (default `localhost`: browsers resolve `*.localhost` to the loopback). */
  domain: string;
  /** `http`, or `https` when a TLS proxy in front of the gateway serves the wildcard certificate. */
  scheme: "http" | "https";
  /** Port in the URLs people open; omitted when it is the scheme's default. */
  port: number;
  /** `BERTH_INSTANCE`: part of every repository slug. */
  instance: string;
  /** `BERTH_PREVIEW_ACCESS`: previews whose berth.yml does not say (default public). */
  defaultAccess?: "public" | "private";
}

/** The label of a preview (PR or environment) under the preview domain. */
export function gatewayLabelOf(key: PreviewKey, instance: string): string {
  return key.environment ? environmentName(key, key.environment, instance) : previewName(key, key.pr, instance);
}

/** `http://<label>.<domain>:<port>/`: the URL of a preview that does not change between pushes. */
export function gatewayUrlOf(key: PreviewKey, addressing: GatewayAddressing): string {
  const defaultPort = addressing.scheme === "https" ? 443 : 80;
  const port = addressing.port === defaultPort ? "" : `:${addressing.port}`;
  return `${addressing.scheme}://${gatewayLabelOf(key, addressing.instance)}.${addressing.domain}${port}/`;
}

const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * The preview label a request's `Host` names, or undefined when it is not exactly one DNS label
 * under `domain` (any port; case-insensitive; a trailing dot allowed).
 */
export function labelOfHost(host: string | undefined, domain: string): string | undefined {
  if (!host || host.length > 300) return undefined;
  const name = host.toLowerCase().replace(/:\d{1,5}$/, "").replace(/\.$/, "");
  const suffix = `.${domain.toLowerCase().replace(/\.$/, "")}`;
  if (!name.endsWith(suffix)) return undefined;
  const label = name.slice(0, -suffix.length);
  return LABEL.test(label) ? label : undefined;
}
