import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { type Client, createClient, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Broker } from "../../../gen/broker/broker_pb.js";
import { ClusterService } from "../../../gen/geobroker/v1/cluster_pb.js";
import { ConsumeService } from "../../../gen/geobroker/v1/consume_pb.js";
import { PublishService } from "../../../gen/geobroker/v1/publish_pb.js";
import { TopicService } from "../../../gen/geobroker/v1/topic_pb.js";
import type { ClusterFile } from "../local/layout.js";
import { projectRoot } from "../util/project-root.js";

export interface Target {
  endpoint: string;
  ca?: string;
  user?: string;
  password?: string;
}

export interface Clients {
  target: Target;
  broker: Client<typeof Broker>;
  topics: Client<typeof TopicService>;
  publish: Client<typeof PublishService>;
  consume: Client<typeof ConsumeService>;
  cluster: Client<typeof ClusterService>;
}

/**
 * Where to connect: flags, then GEOBROKER_* environment, then the local cluster's cluster.json
 * (so that after `npm start` the CLI needs no flags). `region` picks that region's endpoint.
 */
export function resolveTarget(o: {
  endpoint?: string;
  ca?: string;
  user?: string;
  password?: string;
  region?: string;
  clusterFile?: string;
}): Target {
  const file = o.clusterFile ?? join(projectRoot(), ".geobroker", "local", "cluster.json");
  const local = existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as ClusterFile) : undefined;
  let endpoint = o.endpoint ?? process.env.GEOBROKER_ENDPOINT;
  if (!endpoint && local) {
    const region = o.region ? local.regions.find((r) => r.name === o.region) : local.regions[0];
    if (!region)
      throw new Error(
        `region ${o.region} is not in ${file}; regions: ${local.regions.map((r) => r.name).join(", ")}`,
      );
    endpoint = region.endpoints[0];
  }
  if (!endpoint)
    throw new Error(
      "no endpoint: pass --endpoint host:port (or set GEOBROKER_ENDPOINT, or start a local cluster with npm start)",
    );
  const ca = o.ca ?? process.env.GEOBROKER_CA ?? (local?.tls ? local.caPath : undefined);
  const user = o.user ?? process.env.GEOBROKER_USER ?? local?.username;
  const password = o.password ?? process.env.GEOBROKER_PASSWORD ?? local?.password;
  return { endpoint, ...(ca ? { ca } : {}), ...(user ? { user } : {}), ...(password ? { password } : {}) };
}

export function connectClients(target: Target): Clients {
  const auth: Interceptor = (next) => async (req) => {
    if (target.user !== undefined) {
      req.header.set(
        "authorization",
        `basic ${Buffer.from(`${target.user}:${target.password ?? ""}`).toString("base64")}`,
      );
    }
    return next(req);
  };
  const transport = createGrpcTransport({
    baseUrl: `${target.ca ? "https" : "http"}://${target.endpoint}`,
    ...(target.ca ? { nodeOptions: { ca: readFileSync(target.ca) } } : {}),
    interceptors: [auth],
  });
  return {
    target,
    broker: createClient(Broker, transport),
    topics: createClient(TopicService, transport),
    publish: createClient(PublishService, transport),
    consume: createClient(ConsumeService, transport),
    cluster: createClient(ClusterService, transport),
  };
}

/** A message a person can act on for a failed call. */
export function explainError(err: unknown, target: Target): string {
  const e = err as { code?: number; rawMessage?: string; message?: string; cause?: { code?: string } };
  const raw = e.rawMessage ?? e.message ?? String(err);
  if (/ECONNREFUSED|connect ECONN/.test(raw) || e.cause?.code === "ECONNREFUSED") {
    return `cannot reach ${target.endpoint}: is the cluster running? (npm start)`;
  }
  switch (e.code) {
    case 16:
      return `wrong user or password for ${target.endpoint} (${raw})`;
    case 7:
      return `permission denied: ${raw}`;
    case 3:
      return `invalid request: ${raw}`;
    case 5:
      return `not found: ${raw}`;
    case 14:
      return `unavailable, retry: ${raw}`;
    default:
      return raw;
  }
}
