import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  type ConsumeRequest,
  ConsumeResponseSchema,
  type ConsumeService,
  type SubscribeResponse,
  SubscribeResponseSchema,
} from "../../../gen/geobroker/v1/consume_pb.js";
import type { BrokerEngine, ConsumeCommand } from "../engine/engine.js";
import { invalidArgument } from "../engine/errors.js";
import { AsyncQueue } from "../util/async-queue.js";
import { mergeAsyncIterables } from "../util/merge.js";
import { commandFromWire, consumerConfigFromWire, consumerInfoToWire } from "../wire/consume-convert.js";
import { messageToWire, servedBy, startFromWire, statusToWire } from "../wire/convert.js";
import { checkConsumerName, checkPartitionList, checkTopicName } from "../wire/validate.js";
import { callContext } from "./call-context.js";

/** Reading: ephemeral subscriptions, and durable consumers with acks (at-least-once). */
export function consumeService(engine: BrokerEngine): ServiceImpl<typeof ConsumeService> {
  const by = () => servedBy(engine.identity);
  return {
    async *subscribe(req, ctx) {
      checkTopicName(req.topic);
      const servedByThis = by();
      // Status-only responses, when asked for, travel beside the messages (bounded: the latest few).
      const statuses = req.reportStatus ? new AsyncQueue<SubscribeResponse>(64) : undefined;
      const stream = engine.subscribe(
        {
          topic: req.topic,
          partitions: checkPartitionList(req.partitions),
          start: startFromWire(req.start),
          waitForTopic: false,
          ...(req.linearizableStart ? { linearizableStart: true } : {}),
          ...(statuses
            ? {
                onStatus: (s) =>
                  statuses.push(
                    create(SubscribeResponseSchema, { status: statusToWire(s), servedBy: servedByThis }),
                  ),
              }
            : {}),
        },
        callContext(ctx),
      );
      async function* messages() {
        try {
          for await (const m of stream)
            yield create(SubscribeResponseSchema, { message: messageToWire(m), servedBy: servedByThis });
        } finally {
          statuses?.close();
        }
      }
      yield* statuses ? mergeAsyncIterables([messages(), statuses]) : messages();
    },

    async *consume(requests, ctx) {
      const it = requests[Symbol.asyncIterator]();
      const first = await it.next();
      if (first.done || first.value.request.case !== "start")
        throw invalidArgument("the first Consume request must be `start` with the consumer's configuration");
      const config = consumerConfigFromWire(first.value.request.value);
      const servedByThis = by();
      for await (const event of engine.consume(config, commands(it), callContext(ctx))) {
        yield event.kind === "started"
          ? create(ConsumeResponseSchema, {
              response: { case: "started", value: consumerInfoToWire(event.info) },
              servedBy: servedByThis,
            })
          : create(ConsumeResponseSchema, {
              response: {
                case: "delivery",
                value: { message: messageToWire(event.message), deliveryCount: event.deliveryCount },
              },
              servedBy: servedByThis,
            });
      }
    },

    async createConsumer(req, ctx) {
      const info = await engine.createConsumer(consumerConfigFromWire(req.config), callContext(ctx));
      return { consumer: consumerInfoToWire(info) };
    },

    async deleteConsumer(req, ctx) {
      checkTopicName(req.topic);
      checkConsumerName(req.name);
      await engine.deleteConsumer(req.topic, req.name, callContext(ctx));
      return {};
    },

    async getConsumer(req) {
      checkTopicName(req.topic);
      checkConsumerName(req.name);
      return { consumer: consumerInfoToWire(await engine.getConsumer(req.topic, req.name)) };
    },

    async listConsumers(req) {
      if (req.topic) checkTopicName(req.topic);
      return { consumers: (await engine.listConsumers(req.topic)).map(consumerInfoToWire) };
    },
  };
}

async function* commands(it: AsyncIterator<ConsumeRequest>): AsyncGenerator<ConsumeCommand> {
  for (;;) {
    const next = await it.next();
    if (next.done) return;
    const cmd = commandFromWire(next.value);
    if (cmd) yield cmd;
  }
}
