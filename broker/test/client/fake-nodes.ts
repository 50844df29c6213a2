import { create } from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  type ConnectRouter,
  createRouterTransport,
  type Interceptor,
  type ServiceImpl,
} from "@connectrpc/connect";
import { ClusterService, GetClusterInfoResponseSchema } from "../../../gen/geobroker/v1/cluster_pb.js";
import { ConsumeService } from "../../../gen/geobroker/v1/consume_pb.js";
import { PublishService } from "../../../gen/geobroker/v1/publish_pb.js";
import { TopicService } from "../../../gen/geobroker/v1/topic_pb.js";
import { GeoBrokerClient, type TransportBuilder } from "../../src/client/client.js";

/** One fake node's services: what a test implements; the rest answers UNIMPLEMENTED. */
export interface FakeNode {
  id: string;
  region: string;
  address: string;
  publish?: Partial<ServiceImpl<typeof PublishService>>;
  consume?: Partial<ServiceImpl<typeof ConsumeService>>;
  topics?: Partial<ServiceImpl<typeof TopicService>>;
  /** While true, every call to this node fails as a refused connection does. */
  down?: boolean;
  /** Calls that reached the node, by method name. */
  calls: string[];
}

export function fakeNode(id: string, region: string, services: Partial<FakeNode> = {}): FakeNode {
  return { id, region, address: `${id}.test:1`, calls: [], ...services };
}

/** Partition leaders the fake cluster reports: topic -> leader node id per partition. */
export type Leaders = Record<string, string[]>;

/** Fake nodes behind in-memory Connect transports, each reporting the same cluster. */
export function fakeTransports(nodes: FakeNode[], leaders: Leaders = {}): TransportBuilder {
  const info = () =>
    create(GetClusterInfoResponseSchema, {
      clusterId: "fake",
      regions: [...new Set(nodes.map((n) => n.region))],
      nodes: nodes.map((n) => ({ id: n.id, region: n.region, clientAddress: n.address, reachable: true })),
      groups: Object.entries(leaders).flatMap(([topic, ids]) =>
        ids.map((leaderNodeId, partition) => ({ topic, partition, leaderNodeId })),
      ),
    });
  return (address, interceptors) => {
    const node = nodes.find((n) => n.address === address);
    if (!node) throw new Error(`no fake node at ${address}`);
    const reach: Interceptor = (next) => async (req) => {
      node.calls.push(req.method.name);
      if (node.down) throw new ConnectError(`connect ECONNREFUSED ${address}`, Code.Unavailable);
      return next(req);
    };
    return createRouterTransport(
      (router: ConnectRouter) => {
        router.service(ClusterService, { getClusterInfo: async () => info() });
        if (node.publish) router.service(PublishService, node.publish);
        if (node.consume) router.service(ConsumeService, node.consume);
        if (node.topics) router.service(TopicService, node.topics);
      },
      { transport: { interceptors: [...interceptors, reach] } },
    );
  };
}

export function fakeClient(
  nodes: FakeNode[],
  leaders: Leaders = {},
  options: Partial<ConstructorParameters<typeof GeoBrokerClient>[0]> = {},
  abilities = { requestStreaming: true },
): GeoBrokerClient {
  return new GeoBrokerClient(
    {
      endpoints: [nodes[0]!.address],
      region: nodes[0]!.region,
      retry: { initialBackoffMs: 1, maxBackoffMs: 5, timeoutMs: 2000 },
      ...options,
    },
    fakeTransports(nodes, leaders),
    abilities,
  );
}
