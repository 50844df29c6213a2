import http2 from "node:http2";
import net from "node:net";
import type { ConnectError, ConnectRouter, Interceptor } from "@connectrpc/connect";
import { type ConnectNodeAdapterOptions, connectNodeAdapter } from "@connectrpc/connect-node";
import { Broker } from "../../../gen/broker/broker_pb.js";
import { ConsumeService } from "../../../gen/geobroker/v1/consume_pb.js";
import { PublishService } from "../../../gen/geobroker/v1/publish_pb.js";
import { TopicService } from "../../../gen/geobroker/v1/topic_pb.js";
import { Health } from "../../../gen/grpc/health/v1/health_pb.js";
import type { BrokerEngine } from "../engine/engine.js";
import type { InputLimits } from "../engine/limits.js";
import type { HealthSource } from "../observability/http-server.js";
import type { Audit } from "../security/audit.js";
import { createAuthGate } from "../security/auth-gate.js";
import { authorizationInterceptor, connectionAuthInterceptor } from "../security/auth-interceptors.js";
import { AuthThrottle, type AuthThrottleOptions, rateLimited } from "../security/auth-throttle.js";
import type { Authenticator } from "../security/authenticator.js";
import { type Authorizer, allowAll } from "../security/authorization.js";
import { certificateFingerprints, peerContextValues } from "../security/client-cert.js";
import { fromNodeKey, principalKey } from "../security/context-keys.js";
import { applyCors, type CorsPolicy } from "../security/cors.js";
import { TlsFiles } from "../security/file-watch.js";
import {
  clientStreamingPaths,
  guardHttp2Server,
  type Http2GuardOptions,
  healthPathPrefix,
  streamingPaths,
} from "../security/limits.js";
import { http2Settings, widenWindow } from "../transport/http2-windows.js";
import { maxRequestBytes } from "../wire/validate.js";
import { compatBrokerService } from "./compat-service.js";
import type { ConsoleHandler } from "./console-assets.js";
import { consumeService } from "./consume-service.js";
import { type AddressOf, externalAddressesInterceptor, externalCallKey } from "./external-listener.js";
import { healthService } from "./health-service.js";
import { type CallObserver, metricsInterceptor } from "./interceptors.js";
import { publishService } from "./publish-service.js";
import { topicService } from "./topic-service.js";

/**
 * The client services over an engine: what a client port serves behind its security (also served
 * in memory by in-process cluster tests, through the same service code).
 */
export function clientRoutes(engine: BrokerEngine, limits: InputLimits): (router: ConnectRouter) => void {
  return (router) => {
    router.service(Broker, compatBrokerService(engine, limits));
    router.service(TopicService, topicService(engine));
    router.service(PublishService, publishService(engine, limits));
    router.service(ConsumeService, consumeService(engine));
  };
}

export interface ClientServerOptions {
  host: string;
  port: number;
  engine: BrokerEngine;
  limits: InputLimits;
  authenticator: Authenticator;
  /** What each caller may do. Default: everything (no ACL configured). */
  authorizer?: Authorizer;
  health: HealthSource;
  /** While this returns an error, every call is answered with it (a node whose storage failed). */
  refuse?: () => ConnectError | undefined;
  observer: CallObserver;
  /**
   * TLS files, reloaded when they change. `requestCert` asks for a client certificate without
   * requiring one (certificate mode next to basic/bearer); `requireClientCert` refuses the handshake
   * without a certificate from `ca`.
   */
  tls?: {
    cert: string;
    key: string;
    ca: string;
    requireClientCert: boolean;
    requestCert?: boolean;
    /**
     * The peer CA (`tls.peer.ca`), trusted next to `ca` when it differs, so a node that forwards a
     * call with its peer certificate is verified here.
     */
    peerCa?: string;
  };
  /**
   * Accept `x-geobroker-forwarded-for` from connections whose verified certificate names a node
   * (these identity patterns) and chains to the peer CA. Left out: the header is always refused.
   */
  forwardingNodes?: { allowedIdentities: readonly string[] };
  /**
   * Node identity patterns (tls.peer.allowedIdentities): calls over a connection whose verified
   * certificate names a node and chains to the peer CA may carry internal headers (forwarding hops).
   */
  nodeIdentities?: readonly string[];
  /**
   * Without peer TLS: whether a connection's source address is a cluster node's
   * (security/node-addresses.ts), whose internal headers are then believed. With neither this nor
   * `nodeIdentities`, nobody's are.
   */
  nodeAddress?: (remoteAddress: string | undefined) => boolean;
  /** Connection limits (security/limits.ts); defaults apply when left out. */
  connections?: Omit<Http2GuardOptions, "clientStreamingPaths" | "onLimit"> & {
    /** HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS: streams one connection may have open. Default 100. */
    maxConcurrentStreams?: number;
    /** Open streaming calls one principal may hold on this node. Default 1,000. */
    maxStreamsPerPrincipal?: number;
    /** TLS handshakes must finish within this. Default 10,000 ms. */
    handshakeMs?: number;
  };
  /** How often open streams re-check their caller's credentials and grants. Default 1,000 ms. */
  revocationCheckMs?: number;
  /** Bounds on credential checks (security/auth-throttle.ts); defaults apply when left out. */
  authThrottle?: AuthThrottle | AuthThrottleOptions;
  /** Audit lines: auth failures, denials, admin actions, limits, TLS reloads. */
  audit?: Audit;
  onAuthFailure?: (method: string, message: string) => void;
  /** Extra services (the cluster admin API) registered by the node. */
  extraRoutes?: (router: ConnectRouter) => void;
  /** Browser origins allowed to call this port (CORS); left out: none. */
  cors?: CorsPolicy;
  /** The web console's pages under /console (api/console-assets.ts); left out: not served. */
  console?: ConsoleHandler;
  /**
   * A second port for clients outside the cluster network, served by the same server (the same
   * limits, authentication and authorization); the node addresses it answers with are `addressOf`'s.
   */
  external?: { port: number; host?: string; addressOf: AddressOf };
}

/** Largest health request body: a service name, with room to spare. */
export const healthReadMaxBytes = 1024;

/**
 * PublishService's responses are never compressed (connect's default gzips every frame over 1 KiB
 * for a client that accepts it): a batch's acks are a few KiB of varints, and gzip was ~9% of the
 * leader's sampled CPU in the batched bench cell. Deliveries (ConsumeService, the compatible API)
 * keep connect's default: their pacing against slow readers was measured with it (the 1 GiB
 * slow-consumer test). Compressed requests are still accepted. Decision 0048.
 */
const publishResponsesUncompressed = Number.MAX_SAFE_INTEGER;
const publishPathPrefix = `/${PublishService.typeName}/`;

export interface ClientServer {
  readonly port: number;
  /** The external listener's port, when there is one. */
  readonly externalPort?: number;
  close(): Promise<void>;
}

/**
 * The client port: gRPC, gRPC-Web and Connect over HTTP/2 (TLS when configured, else cleartext h2c,
 * which is also what old gRPC clients use without TLS). Health checks bypass authentication. Every
 * other call is authenticated (basic, bearer or the verified client certificate), then authorized.
 */
export async function startClientServer(o: ClientServerOptions): Promise<ClientServer> {
  const audit: Audit = o.audit ?? (() => {});
  const authorizer = o.authorizer ?? allowAll;
  const services = [Broker, TopicService, PublishService, ConsumeService];
  // A flood of failures: a burst of lines per address, then one a second, with a count held back.
  const authFailure = rateLimited((fields: Record<string, unknown>) => audit("auth.failure", fields));
  const limitHit = rateLimited((fields: Record<string, unknown>) => audit("limit.exceeded", fields));
  const throttle = o.authThrottle instanceof AuthThrottle ? o.authThrottle : new AuthThrottle(o.authThrottle);
  // The peer CA, trusted next to the client CA when it differs (forwarding nodes present node certificates).
  const extraCa = o.tls?.peerCa && o.tls.peerCa !== o.tls.ca ? o.tls.peerCa : undefined;
  const gate = createAuthGate({
    authenticator: o.authenticator,
    throttle,
    ...(o.forwardingNodes
      ? {
          forwardingNodes: {
            allowedIdentities: o.forwardingNodes.allowedIdentities,
            issuers: () => peerCaFingerprints(),
          },
        }
      : {}),
    ...(o.nodeIdentities
      ? { nodes: { allowedIdentities: o.nodeIdentities, issuers: () => peerCaFingerprints() } }
      : o.nodeAddress
        ? { nodeAddress: o.nodeAddress }
        : {}),
    ...(extraCa ? { clientIssuers: () => clientCaFingerprints() } : {}),
    maxStreamsPerPrincipal: o.connections?.maxStreamsPerPrincipal ?? 1000,
    streamingPaths: new Set(streamingPaths(services)),
    onFailure: (method, address, err) => {
      authFailure(address, { method, address, code: err.code, reason: err.rawMessage });
      o.onAuthFailure?.(method, err.rawMessage);
    },
    onLimit: (limit, address) => limitHit(`${limit} ${address}`, { limit, address }),
  });
  const refusing: Interceptor = (next) => async (req) => {
    const refused = o.refuse?.();
    if (refused) throw refused;
    return next(req);
  };
  const interceptors: Interceptor[] = [
    metricsInterceptor(o.observer),
    // Calls arrive authenticated by the gate; this stays for calls that did not pass it.
    connectionAuthInterceptor(o.authenticator, (method, err) => {
      audit("auth.failure", { method, reason: err.rawMessage });
      o.onAuthFailure?.(method, err.rawMessage);
    }),
    authorizationInterceptor(authorizer, {
      onDenied: (principal, method, reason) =>
        audit("authz.denied", { user: principal.name, method, reason }),
      onAdmin: (principal, method, topic) =>
        audit("admin.action", { user: principal.name, method, ...(topic ? { topic } : {}) }),
      revocation: { authenticator: o.authenticator, everyMs: o.revocationCheckMs ?? 1000 },
    }),
    ...(o.external ? [externalAddressesInterceptor(o.external.addressOf)] : []),
    // Last: only a caller that may make the call learns that this node cannot serve it now.
    refusing,
  ];
  let externalPort: number | undefined;
  const adapter: ConnectNodeAdapterOptions = {
    interceptors,
    contextValues: (req) => {
      const values = peerContextValues(req);
      const principal = gate.principalOf(req);
      if (principal) values.set(principalKey, principal);
      values.set(fromNodeKey, gate.fromNode(req));
      values.set(externalCallKey, externalPort !== undefined && req.socket?.localPort === externalPort);
      return values;
    },
    readMaxBytes: maxRequestBytes(o.limits),
    // Unknown fields are skipped, not kept: 1 MiB of them would otherwise become ~90 MB of objects.
    binaryOptions: { readUnknownFields: false },
    routes: (router) => {
      clientRoutes(o.engine, o.limits)(router);
      o.extraRoutes?.(router);
    },
  };
  const authenticated = connectNodeAdapter(adapter);
  // The same services, answering without compression: what PublishService's calls go to.
  const publishing = connectNodeAdapter({ ...adapter, compressMinBytes: publishResponsesUncompressed });
  // Unauthenticated, so as small as its messages: a HealthCheckRequest is a service name. The
  // limit bounds the compressed envelope and, through zlib's maxOutputLength, what it inflates to.
  const health = connectNodeAdapter({
    readMaxBytes: healthReadMaxBytes,
    binaryOptions: { readUnknownFields: false },
    routes: (router) => router.service(Health, healthService(o.health)),
  });
  const route = (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => {
    // Static and public: the page's data comes from calls that pass the gate like any other.
    if (o.console?.(req, res)) return;
    if (applyCors(o.cors, req, res)) return;
    if (req.url.startsWith(healthPathPrefix)) health(req, res);
    else gate.handle(req, res, req.url.startsWith(publishPathPrefix) ? publishing : authenticated);
  };
  const tlsFiles = o.tls
    ? new TlsFiles(
        { cert: o.tls.cert, key: o.tls.key, ca: o.tls.ca, ...(extraCa ? { extraCa } : {}) },
        {
          onReload: (paths) => audit("security.reload", { what: "client tls", paths }),
          onError: (err, paths) =>
            audit("security.reload_failed", { what: "client tls", paths, error: err.message }),
        },
      )
    : undefined;
  // The peer CA's certificates (reloaded with the files): a forwarding node's certificate chains to
  // one. The client CA's: a client's certificate chains to one (a peer-CA certificate is no client).
  const peerCaFingerprints = fingerprintsOfFile(() => {
    const m = tlsFiles?.current();
    return extraCa ? m?.extraCa : m?.ca;
  });
  // `ca` holds both bundles (file-watch.ts): the client CA's are those not in the peer CA's.
  const trustedFingerprints = fingerprintsOfFile(() => tlsFiles?.current()?.ca);
  const clientCaFingerprints = () => {
    const peer = peerCaFingerprints();
    return new Set([...trustedFingerprints()].filter((f) => !peer.has(f)));
  };
  const settings = { ...http2Settings, maxConcurrentStreams: o.connections?.maxConcurrentStreams ?? 100 };
  const server =
    o.tls && tlsFiles
      ? http2.createSecureServer({
          ...tlsFiles.serverOptions(),
          requestCert: o.tls.requireClientCert || o.tls.requestCert === true,
          rejectUnauthorized: o.tls.requireClientCert,
          allowHTTP1: true,
          handshakeTimeout: o.connections?.handshakeMs ?? 10_000,
          settings,
        })
      : http2.createServer({ settings });
  if (tlsFiles) tlsFiles.attach(server as http2.Http2SecureServer);
  const guard = guardHttp2Server(server, {
    ...o.connections,
    clientStreamingPaths: clientStreamingPaths(services),
    onLimit: (limit, address) => audit("limit.exceeded", { limit, address }),
  });
  server.on("request", guard.wrap(route));
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(o.port, o.host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : o.port;
  // The external port hands its connections to the same server; calls tell them apart by the
  // local port of their connection (contextValues above).
  const outside = o.external ? net.createServer((socket) => server.emit("connection", socket)) : undefined;
  if (outside && o.external) {
    await new Promise<void>((resolve, reject) => {
      outside.once("error", reject);
      outside.listen(o.external!.port, o.external!.host ?? o.host, () => resolve());
    });
    const a = outside.address();
    externalPort = typeof a === "object" && a ? a.port : o.external.port;
  }
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on("session", (s) => {
    widenWindow(s);
    sessions.add(s);
    s.once("close", () => sessions.delete(s));
  });
  return {
    port,
    ...(externalPort !== undefined ? { externalPort } : {}),
    close: () =>
      new Promise<void>((resolve) => {
        tlsFiles?.close();
        outside?.close();
        for (const s of sessions) s.close();
        server.close(() => resolve());
        setTimeout(() => {
          for (const s of sessions) s.destroy();
        }, 2000).unref();
      }),
  };
}

/** The fingerprints of the certificates in a (reloadable) PEM bundle, recomputed when it changes. */
function fingerprintsOfFile(pemOf: () => Buffer | undefined): () => ReadonlySet<string> {
  let cached: { pem: Buffer; set: ReadonlySet<string> } | undefined;
  return () => {
    const pem = pemOf();
    if (!pem) return new Set();
    if (cached?.pem !== pem) cached = { pem, set: certificateFingerprints(pem) };
    return cached.set;
  };
}
