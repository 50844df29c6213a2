import { readFileSync } from "node:fs";
import { type Client, createClient, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Broker } from "../../../gen/broker/broker_pb.js";
import { ClusterService } from "../../../gen/geobroker/v1/cluster_pb.js";
import { ConsumeService } from "../../../gen/geobroker/v1/consume_pb.js";
import { PublishService } from "../../../gen/geobroker/v1/publish_pb.js";
import { TopicService } from "../../../gen/geobroker/v1/topic_pb.js";

/** One node's client port, and how to authenticate there. */
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
 * The plain generated clients at one node, no routing or retries: what bench uses as the baseline
 * the library is measured against, and what the CLI uses for calls the library does not wrap.
 */
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
