import { join } from "node:path";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import grpc from "@grpc/grpc-js";
import protoLoader from "@grpc/proto-loader";
import { ClusterService } from "../../../gen/geobroker/v1/cluster_pb.js";
import { ConsumeService } from "../../../gen/geobroker/v1/consume_pb.js";
import { PublishService } from "../../../gen/geobroker/v1/publish_pb.js";
import { TopicService } from "../../../gen/geobroker/v1/topic_pb.js";
import { projectRoot } from "../../src/util/project-root.js";
import { testUser } from "./process-cluster.js";

export const basicAuth = (user = testUser.name, password = testUser.password) =>
  `basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;

/** A client of the original system: only proto/broker/broker.proto and @grpc/grpc-js, nothing of ours. */
export interface CompatClient {
  publish(topic: string, body: string): Promise<string>;
  subscribe(
    topics: Record<string, number>,
  ): grpc.ClientReadableStream<{ id: string; timestamp: string; topic: string; body: Buffer }>;
  close(): void;
}

export async function compatClient(port: number): Promise<CompatClient> {
  const definition = await protoLoader.load(join(projectRoot(), "proto", "broker", "broker.proto"));
  const pkg = grpc.loadPackageDefinition(definition) as unknown as {
    broker: {
      Broker: new (
        address: string,
        creds: grpc.ChannelCredentials,
      ) => grpc.Client & Record<string, (...args: unknown[]) => unknown>;
    };
  };
  const client = new pkg.broker.Broker(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const md = () => {
    const m = new grpc.Metadata();
    m.set("authorization", basicAuth());
    return m;
  };
  return {
    publish: (topic, body) =>
      new Promise((resolve, reject) =>
        client.Publish!(
          { topic, body: Buffer.from(body) },
          md(),
          { deadline: Date.now() + 10_000 },
          (err: Error | null, res: { id: string }) => (err ? reject(err) : resolve(res.id)),
        ),
      ),
    subscribe: (topics) =>
      client.Subscribe!({ topics }, md()) as grpc.ClientReadableStream<{
        id: string;
        timestamp: string;
        topic: string;
        body: Buffer;
      }>,
    close: () => client.close(),
  };
}

/** The geobroker.v1 API through connect-node's gRPC transport. */
export function v1Clients(port: number) {
  const transport = createGrpcTransport({ baseUrl: `http://127.0.0.1:${port}` });
  const headers = { authorization: basicAuth() };
  return {
    topics: createClient(TopicService, transport),
    publish: createClient(PublishService, transport),
    consume: createClient(ConsumeService, transport),
    cluster: createClient(ClusterService, transport),
    headers,
  };
}
