import { readFileSync } from "node:fs";
import http2 from "node:http2";
import type { ConnectRouter, Interceptor } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { Broker } from "../../../gen/broker/broker_pb.js";
import { ConsumeService } from "../../../gen/geobroker/v1/consume_pb.js";
import { PublishService } from "../../../gen/geobroker/v1/publish_pb.js";
import { TopicService } from "../../../gen/geobroker/v1/topic_pb.js";
import { Health } from "../../../gen/grpc/health/v1/health_pb.js";
import type { HealthSource } from "../observability/http-server.js";
import type { Authenticator } from "../security/authenticator.js";
import { compatBrokerService } from "./compat-service.js";
import { consumeService } from "./consume-service.js";
import type { BrokerEngine } from "./engine.js";
import { healthService } from "./health-service.js";
import { authInterceptor, type CallObserver, metricsInterceptor } from "./interceptors.js";
import { publishService } from "./publish-service.js";
import { topicService } from "./topic-service.js";
import type { InputLimits } from "./validate.js";

export interface ClientServerOptions {
  host: string;
  port: number;
  engine: BrokerEngine;
  limits: InputLimits;
  authenticator: Authenticator;
  health: HealthSource;
  observer: CallObserver;
  tls?: { cert: string; key: string; ca: string; requireClientCert: boolean };
  onAuthFailure?: (method: string, message: string) => void;
  /** Extra services (the cluster admin API) registered by the node. */
  extraRoutes?: (router: ConnectRouter) => void;
}

export interface ClientServer {
  readonly port: number;
  close(): Promise<void>;
}

/**
 * The client port: gRPC, gRPC-Web and Connect over HTTP/2 (TLS when configured, else cleartext h2c,
 * which is also what old gRPC clients use without TLS). Health checks bypass authentication.
 */
export async function startClientServer(o: ClientServerOptions): Promise<ClientServer> {
  const interceptors: Interceptor[] = [
    metricsInterceptor(o.observer),
    authInterceptor(o.authenticator, (method, err) => o.onAuthFailure?.(method, err.rawMessage)),
  ];
  const authenticated = connectNodeAdapter({
    interceptors,
    readMaxBytes: o.limits.maxMessageBytes + o.limits.maxHeaderBytes + o.limits.maxKeyBytes + 64 * 1024,
    routes: (router) => {
      router.service(Broker, compatBrokerService(o.engine, o.limits));
      router.service(TopicService, topicService(o.engine));
      router.service(PublishService, publishService(o.engine, o.limits));
      router.service(ConsumeService, consumeService(o.engine));
      o.extraRoutes?.(router);
    },
  });
  const health = connectNodeAdapter({ routes: (router) => router.service(Health, healthService(o.health)) });
  const handler = (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => {
    if (req.url.startsWith("/grpc.health.v1.Health/")) health(req, res);
    else authenticated(req, res);
  };
  const server = o.tls
    ? http2.createSecureServer(
        {
          cert: readFileSync(o.tls.cert),
          key: readFileSync(o.tls.key),
          ca: readFileSync(o.tls.ca),
          requestCert: o.tls.requireClientCert,
          rejectUnauthorized: o.tls.requireClientCert,
          allowHTTP1: true,
        },
        handler,
      )
    : http2.createServer({}, handler);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(o.port, o.host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : o.port;
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on("session", (s) => {
    sessions.add(s);
    s.once("close", () => sessions.delete(s));
  });
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sessions) s.close();
        server.close(() => resolve());
        setTimeout(() => {
          for (const s of sessions) s.destroy();
        }, 2000).unref();
      }),
  };
}
