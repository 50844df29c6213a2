import { create } from "@bufbuild/protobuf";
import { ConsumeRequestSchema } from "../../../../gen/geobroker/v1/consume_pb.js";
import type {
  CallContext,
  ConsumeCommand,
  ConsumeEvent,
  ConsumerConfigInput,
  DeliveredMessage,
  PublishInput,
  PublishOutcome,
  SubscribeInput,
} from "../../engine/engine.js";
import { commandToWire, consumerConfigToWire, eventFromWire } from "../../wire/consume-convert.js";
import { Forwarder } from "../forwarding/forwarder.js";
import type { NodeContext } from "../node-context.js";
import type { MetadataCommand, MetadataResult, NodeInfo } from "../state/metadata-state.js";
import type { ConsumerHubPort } from "./consumer-hub.js";

/** The node's publish, subscribe and system proposals, as the consumer hub uses them. */
export interface ConsumerPortEngine {
  publish(input: PublishInput, call: CallContext): Promise<PublishOutcome>;
  subscribe(input: SubscribeInput, call: CallContext): AsyncIterable<DeliveredMessage>;
  proposeSystem(command: MetadataCommand): Promise<MetadataResult>;
}

/**
 * Durable consumers through this node. A consumer is dispatched by the preferred leader of its
 * topic's partition 0, a node every node names alike from the metadata, so the clients of one
 * consumer share its messages wherever they connect; a forwarded stream is served where it lands.
 */
export function consumerPort(ctx: NodeContext, engine: ConsumerPortEngine): ConsumerHubPort {
  return {
    consumers: () => ctx.metadata().consumers,
    partitionsOf: (topic) => ctx.metadata().topics[topic]?.partitions.map((p) => p.partition),
    nextOffsets: (topic) => {
      const out = new Map<number, number>();
      for (const p of ctx.metadata().topics[topic]?.partitions ?? [])
        if (ctx.groups.partition(p.groupId)) out.set(p.partition, ctx.store.nextOffset(p.groupId));
      return out;
    },
    propose: (command) => engine.proposeSystem(command),
    subscribe: (input, call) => engine.subscribe(input, call),
    publish: (input, call) => engine.publish(input, call),
    remote: (config, commands, call) => {
      if (call.hops > 0) return undefined;
      const state = ctx.metadata();
      const coordinator = state.topics[config.topic]?.partitions[0]?.replicas[0];
      const target = coordinator ? state.nodes[coordinator] : undefined;
      if (!target || target.id === ctx.self) return undefined;
      return forwardConsume(ctx, target, config, commands, call);
    },
    warn: (message, fields) => ctx.logger.warn(message, fields),
    clock: ctx.clock,
  };
}

async function* forwardConsume(
  ctx: NodeContext,
  target: NodeInfo,
  config: ConsumerConfigInput,
  commands: AsyncIterable<ConsumeCommand>,
  call: CallContext,
): AsyncGenerator<ConsumeEvent> {
  async function* requests() {
    yield create(ConsumeRequestSchema, { request: { case: "start", value: consumerConfigToWire(config) } });
    for await (const c of commands) yield commandToWire(c);
  }
  const stream = ctx.forwarder
    .to(target.clientAddress)
    .consume.consume(requests(), { headers: Forwarder.options(call).headers, signal: call.signal });
  for await (const res of stream) {
    const event = eventFromWire(res);
    if (event) yield event;
  }
}
