import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import { type ConsumeService, SubscribeResponseSchema } from "../../../gen/geobroker/v1/consume_pb.js";
import { callContext, messageToWire, servedBy, startFromWire } from "./convert.js";
import type { BrokerEngine } from "./engine.js";
import { checkTopicName } from "./validate.js";

/** Ephemeral subscriptions served from this node's replica; durable consumers are added by issue #7. */
export function consumeService(engine: BrokerEngine): Partial<ServiceImpl<typeof ConsumeService>> {
  return {
    async *subscribe(req, ctx) {
      checkTopicName(req.topic);
      const stream = engine.subscribe(
        {
          topic: req.topic,
          partitions: req.partitions,
          start: startFromWire(req.start),
          waitForTopic: false,
        },
        callContext(ctx),
      );
      const by = servedBy(engine.identity);
      for await (const m of stream) {
        yield create(SubscribeResponseSchema, { message: messageToWire(m), servedBy: by });
      }
    },
  };
}
