import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import { type Broker, MessageResponseSchema, PublishResponseSchema } from "../../../gen/broker/broker_pb.js";
import { type BrokerEngine, messageId } from "../engine/engine.js";
import { invalidArgument } from "../engine/errors.js";
import { type InputLimits, maxSubscribeTopics } from "../engine/limits.js";
import { mergeAsyncIterables } from "../util/merge.js";
import { checkMessage, checkTopicName } from "../wire/validate.js";
import { callContext } from "./call-context.js";

/**
 * The original system's `broker.Broker` API (proto/broker/broker.proto), unchanged for old clients:
 * Publish answers after commit; Subscribe replays each topic from its start timestamp (unix
 * microseconds), then streams live messages in commit order until the client cancels.
 */
export function compatBrokerService(engine: BrokerEngine, limits: InputLimits): ServiceImpl<typeof Broker> {
  return {
    async publish(req, ctx) {
      checkTopicName(req.topic);
      checkMessage({ body: req.body }, limits);
      const out = await engine.publish({ topic: req.topic, body: req.body }, callContext(ctx));
      return create(PublishResponseSchema, { id: messageId(out.topic, out.partition, out.offset) });
    },

    async *subscribe(req, ctx) {
      const topics = Object.entries(req.topics);
      if (topics.length === 0)
        throw invalidArgument("subscribe names no topics: set topics {name: startMicros}");
      if (topics.length > maxSubscribeTopics)
        throw invalidArgument(
          `subscribe names ${topics.length} topics; at most ${maxSubscribeTopics} per call: split it over several calls`,
        );
      for (const [topic] of topics) checkTopicName(topic);
      const streams = topics.map(([topic, start]) =>
        engine.subscribe(
          {
            topic,
            partitions: [],
            start: { kind: "timestamp", timestampMicros: Number(start) },
            waitForTopic: true,
          },
          callContext(ctx),
        ),
      );
      for await (const m of mergeAsyncIterables(streams)) {
        yield create(MessageResponseSchema, {
          id: messageId(m.topic, m.partition, m.offset),
          timestamp: BigInt(m.timestampMicros),
          topic: m.topic,
          body: m.body,
        });
      }
    },
  };
}
