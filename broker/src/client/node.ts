import type { Interceptor } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { type ClientOptions, GeoBrokerClient } from "./client.js";

export * from "./exports.js";

export interface NodeClientOptions extends Omit<ClientOptions, "endpoints"> {
  /** Default: GEOBROKER_ENDPOINTS or GEOBROKER_ENDPOINT (comma-separated host:port). */
  endpoints?: string | string[];
  /** "grpc" (default) or "connect" (the Connect protocol over HTTP/2). */
  protocol?: "grpc" | "connect";
  /** TLS: the CA that signed the nodes' certificates, and a client certificate (PEM). */
  tls?: { ca?: string | Buffer; cert?: string | Buffer; key?: string | Buffer; serverName?: string };
}

/**
 * A client for Node. The region defaults to GEOBROKER_REGION; without `tls` it speaks cleartext
 * HTTP/2 (h2c), as a node's client port does without TLS.
 */
export function connect(options: NodeClientOptions = {}): GeoBrokerClient {
  const endpoints = options.endpoints ?? process.env.GEOBROKER_ENDPOINTS ?? process.env.GEOBROKER_ENDPOINT;
  if (!endpoints || endpoints.length === 0)
    throw new TypeError("no endpoints: pass endpoints, or set GEOBROKER_ENDPOINTS=host:port[,host:port]");
  const region = options.region ?? process.env.GEOBROKER_REGION;
  const tls = options.tls;
  const build = (address: string, interceptors: Interceptor[]) => {
    const common = {
      baseUrl: `${tls ? "https" : "http"}://${address}`,
      interceptors,
      ...(tls
        ? {
            nodeOptions: {
              ...(tls.ca ? { ca: tls.ca } : {}),
              ...(tls.cert ? { cert: tls.cert } : {}),
              ...(tls.key ? { key: tls.key } : {}),
              ...(tls.serverName ? { servername: tls.serverName } : {}),
            },
          }
        : {}),
    };
    return options.protocol === "connect"
      ? createConnectTransport({ ...common, httpVersion: "2" })
      : createGrpcTransport(common);
  };
  return new GeoBrokerClient({ ...options, endpoints, ...(region ? { region } : {}) }, build);
}
