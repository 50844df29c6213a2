import type { Interceptor } from "@connectrpc/connect";
import { createConnectTransport, createGrpcWebTransport } from "@connectrpc/connect-web";
import { type ClientOptions, GeoBrokerClient } from "./client.js";

export * from "./exports.js";

export interface WebClientOptions extends ClientOptions {
  /** "connect" (default) or "grpc-web". */
  protocol?: "connect" | "grpc-web";
  /** https (default when the page itself is served over https) or http. */
  tls?: boolean;
}

/**
 * A client for browsers: fetch-based Connect or gRPC-Web to the nodes' client ports. The browser's
 * own TLS trust applies; client certificates are the browser's too. fetch cannot stream a request
 * body, so each publish is a unary call and durable consumers (a bidirectional stream) are not
 * available here; subscriptions (a server stream) are.
 */
export function connect(options: WebClientOptions): GeoBrokerClient {
  const secure =
    options.tls ?? (globalThis as { location?: { protocol?: string } }).location?.protocol === "https:";
  const build = (address: string, interceptors: Interceptor[]) => {
    const o = { baseUrl: `${secure ? "https" : "http"}://${address}`, interceptors };
    return options.protocol === "grpc-web" ? createGrpcWebTransport(o) : createConnectTransport(o);
  };
  return new GeoBrokerClient(options, build, { requestStreaming: false });
}
