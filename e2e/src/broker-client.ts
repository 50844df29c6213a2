import { type Client, createClient, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { Broker } from "../../gen/broker/broker_pb.js";
import { ClusterService } from "../../gen/geobroker/v1/cluster_pb.js";
import { corePath, type Kube } from "./kube-rest.js";

// A client of the original wire contract (package broker: Publish, Subscribe, basic auth), aimed
// at a region the way an application in that region would: through the region Service's ready
// endpoints, with TLS verified against the cluster CA for the Service's DNS name.

export interface RegionTarget {
  namespace: string;
  /** Name of the region's client Service, e.g. demo-eu. */
  service: string;
  user: string;
  password: string;
}

export interface RegionClient {
  broker: Client<typeof Broker>;
  address: string;
  close(): void;
}

/** Ready addresses behind a Service, from its EndpointSlices. */
export async function serviceEndpoints(kube: Kube, namespace: string, service: string): Promise<string[]> {
  const slices = await kube.list(
    `/apis/discovery.k8s.io/v1/namespaces/${namespace}/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3D${service}`,
  );
  return slices.items.flatMap((slice) =>
    ((slice.endpoints ?? []) as { addresses: string[]; conditions?: { ready?: boolean } }[])
      .filter((e) => e.conditions?.ready !== false)
      .flatMap((e) => e.addresses),
  );
}

export async function regionClient(
  kube: Kube,
  target: RegionTarget,
  clusterCaSecret: string,
): Promise<RegionClient> {
  const addresses = await serviceEndpoints(kube, target.namespace, target.service);
  const address = addresses[0];
  if (!address) throw new Error(`Service ${target.namespace}/${target.service} has no ready endpoints`);
  const secret = await kube.get(corePath(target.namespace, "secrets", clusterCaSecret));
  const ca = secret?.data?.["ca.crt"] as string | undefined;
  if (!ca) throw new Error(`secret ${clusterCaSecret} has no ca.crt yet`);
  const auth: Interceptor = (next) => (req) => {
    req.header.set(
      "authorization",
      `basic ${Buffer.from(`${target.user}:${target.password}`).toString("base64")}`,
    );
    return next(req);
  };
  const baseUrl = `https://${address}:9000`;
  // An explicit session manager, so that a client given up on closes its connection (the broker
  // limits connections per client address).
  const sessionManager = new Http2SessionManager(
    baseUrl,
    {},
    {
      ca: Buffer.from(ca, "base64"),
      servername: `${target.service}.${target.namespace}.svc`,
    },
  );
  const transport = createGrpcTransport({ baseUrl, sessionManager, interceptors: [auth] });
  return { broker: createClient(Broker, transport), address, close: () => sessionManager.abort() };
}

/**
 * The ClusterService of one broker as a client outside Kubernetes sees it: `address:port` (its
 * external listener), TLS verified for `servername` (the broker's advertised outside host, which
 * must be in its certificate) against the server CA (`ca.crt` of `serverCaSecret`), signed in as a
 * password user (GetClusterInfo needs only authentication).
 */
export async function outsideClient(
  kube: Kube,
  namespace: string,
  to: { address: string; port: number; servername: string },
  serverCaSecret: string,
  user: { name: string; password: string },
): Promise<{ cluster: Client<typeof ClusterService>; close(): void }> {
  const secret = await kube.get(corePath(namespace, "secrets", serverCaSecret));
  const ca = secret?.data?.["ca.crt"] as string | undefined;
  if (!ca) throw new Error(`secret ${serverCaSecret} has no ca.crt yet`);
  const auth: Interceptor = (next) => (req) => {
    req.header.set(
      "authorization",
      `basic ${Buffer.from(`${user.name}:${user.password}`).toString("base64")}`,
    );
    return next(req);
  };
  const baseUrl = `https://${to.address}:${to.port}`;
  const sessionManager = new Http2SessionManager(
    baseUrl,
    {},
    { ca: Buffer.from(ca, "base64"), servername: to.servername },
  );
  const transport = createGrpcTransport({ baseUrl, sessionManager, interceptors: [auth] });
  return { cluster: createClient(ClusterService, transport), close: () => sessionManager.abort() };
}
