import type http2 from "node:http2";
import { join } from "node:path";
import { create } from "@bufbuild/protobuf";
import { type Client, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import grpc from "@grpc/grpc-js";
import protoLoader from "@grpc/proto-loader";
import { ClusterService } from "../../../gen/geobroker/v1/cluster_pb.js";
import { ConsumeRequestSchema, ConsumeService } from "../../../gen/geobroker/v1/consume_pb.js";
import { PublishService } from "../../../gen/geobroker/v1/publish_pb.js";
import { TopicService } from "../../../gen/geobroker/v1/topic_pb.js";
import type { ConsumeEvent, ConsumerConfigInput } from "../../src/engine/engine.js";
import { projectRoot } from "../../src/util/project-root.js";
import { commandToWire, consumerConfigToWire, eventFromWire } from "../../src/wire/consume-convert.js";
import { ConsumerDriver } from "./consumer-driver.js";
import type { WaitTime } from "./eventually.js";
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
/** `from`: the local address to connect from (another 127.x address is another host to the node). */
export function v1Clients(port: number, from?: { localAddress: string }) {
  const transport = createGrpcTransport({
    baseUrl: `http://127.0.0.1:${port}`,
    // net.connect's localAddress reaches the socket; http2's option types leave it out.
    ...(from ? { nodeOptions: from as http2.ClientSessionOptions } : {}),
  });
  const headers = { authorization: basicAuth() };
  return {
    topics: createClient(TopicService, transport),
    publish: createClient(PublishService, transport),
    consume: createClient(ConsumeService, transport),
    cluster: createClient(ClusterService, transport),
    headers,
  };
}

/** A durable-consumer session over the wire (ConsumeService.Consume) at one node. */
export function remoteConsumer(port: number, config: ConsumerConfigInput): ConsumerDriver {
  const c = v1Clients(port);
  return consumerOn(c.consume, c.headers, config);
}

/** A durable-consumer session over a ConsumeService client (a process's port, or an in-process node's). */
export function consumerOn(
  consume: Client<typeof ConsumeService>,
  headers: Record<string, string>,
  config: ConsumerConfigInput,
  time?: WaitTime,
): ConsumerDriver {
  const c = { consume, headers };
  return new ConsumerDriver((commands, signal) => {
    async function* requests() {
      yield create(ConsumeRequestSchema, { request: { case: "start", value: consumerConfigToWire(config) } });
      for await (const cmd of commands) yield commandToWire(cmd);
    }
    async function* events(): AsyncGenerator<ConsumeEvent> {
      for await (const res of c.consume.consume(requests(), { headers: c.headers, signal })) {
        const e = eventFromWire(res);
        if (e) yield e;
      }
    }
    return events();
  }, time);
}

/**
 * The bodies of a topic from its first retained message, until `count` arrived or `timeoutMs`
 * passed (then what arrived: the caller's assertion shows the difference).
 */
export async function readBodies(
  client: CompatClient,
  topic: string,
  count: number,
  timeoutMs = 20_000,
): Promise<string[]> {
  const stream = client.subscribe({ [topic]: 0 });
  const got: string[] = [];
  const timer = setTimeout(() => stream.cancel(), timeoutMs);
  try {
    for await (const m of stream) {
      got.push(m.body.toString());
      if (got.length === count) break;
    }
  } catch {
    // cancelled by the timer
  }
  clearTimeout(timer);
  stream.cancel();
  return got;
}
