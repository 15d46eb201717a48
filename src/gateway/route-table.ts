/**
 * Which preview a gateway host name leads to: built from the store (every PR preview and
 * environment behind the gateway), kept for a moment and rebuilt by one caller at a time, so a
 * burst of requests costs one look-up and a new deploy is routed within `ttlMs`. With several
 * replicas each builds its own from the shared store.
 */
import { environmentPreviewKeyOf, previewKeyOf, previewKeyText } from "../domain/preview-key.js";
import type { PreviewKey } from "../domain/ports.js";
import type { PrKey, PreviewRecord } from "../domain/records.js";
import type { Store } from "../pipeline/store.js";
import { gatewayLabelOf } from "./preview-host-names.js";

/** Where one host name is routed. */
export interface GatewayRoute {
  key: PreviewKey;
  /** The PR's (or environment's) key in the store. */
  prKey: PrKey;
  /** `owner/name#12` or `owner/name (production)`, for pages and logs. */
  title: string;
  /** Base URL berth reaches the preview at. */
  upstream: string;
  target: PreviewRecord["target"];
  /** Commit the preview runs. */
  sha: string;
  /** Stopped for lack of traffic: a request wakes it. */
  sleeping?: true;
  /** Visitors must sign in or bring a signed link. */
  private?: true;
}

export interface RouteLookup {
  resolve(label: string): Promise<GatewayRoute | undefined>;
}

export class StoreRouteTable implements RouteLookup {
  private routes?: Map<string, GatewayRoute>;
  private builtAt = 0;
  private building?: Promise<Map<string, GatewayRoute>>;

  constructor(
    private readonly store: Pick<Store, "pullsWithPreview" | "listEnvironments">,
    private readonly instance: string,
    private readonly ttlMs = 1000,
    private readonly now: () => number = Date.now,
  ) {}

  async resolve(label: string): Promise<GatewayRoute | undefined> {
    const fresh = this.routes && this.now() - this.builtAt < this.ttlMs;
    const routes = fresh ? this.routes! : await this.rebuild();
    return routes.get(label);
  }

  /** Forget the table (a deploy or removal just happened here). */
  invalidate(): void {
    this.builtAt = 0;
  }

  private rebuild(): Promise<Map<string, GatewayRoute>> {
    this.building ??= this.build()
      .then((routes) => {
        this.routes = routes;
        this.builtAt = this.now();
        return routes;
      })
      .finally(() => (this.building = undefined));
    return this.building;
  }

  private async build(): Promise<Map<string, GatewayRoute>> {
    const routes = new Map<string, GatewayRoute>();
    for (const pull of await this.store.pullsWithPreview()) {
      const preview = pull.preview;
      if (!preview?.upstream || pull.state !== "open") continue;
      const key = previewKeyOf(pull.repo, pull.prNumber);
      const route: GatewayRoute = { key, prKey: pull.prKey, title: previewKeyText(key), upstream: preview.upstream, target: preview.target, sha: preview.sha };
      if (preview.sleeping) route.sleeping = true;
      if (preview.access === "private") route.private = true;
      routes.set(gatewayLabelOf(key, this.instance), route);
    }
    for (const env of await this.store.listEnvironments()) {
      if (!env.upstream) continue;
      const key = environmentPreviewKeyOf(env.repo, env.environment);
      routes.set(gatewayLabelOf(key, this.instance), { key, prKey: env.key, title: previewKeyText(key), upstream: env.upstream, target: env.target, sha: env.sha });
    }
    return routes;
  }
}

