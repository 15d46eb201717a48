/**
 * An HTTP server on 127.0.0.1 that offers each request to berth's routes in turn (as Probot's
 * server does with `addHandler`), 404 when none takes it.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { RouteHandler } from "../../src/web/routes.js";

export interface RouteServer {
  url: string;
  close(): Promise<void>;
}

export async function serveRoutes(routes: readonly RouteHandler[]): Promise<RouteServer> {
  const server = createServer((req, res) => {
    void (async () => {
      for (const route of routes) if (await route(req, res)) return;
      res.writeHead(404).end();
    })().catch(() => {
      if (!res.headersSent) res.writeHead(500).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
