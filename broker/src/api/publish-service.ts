import { create, type MessageInitShape } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  PublishBatchResponseSchema,
  type PublishRequest,
  type PublishResponse,
  PublishResponseSchema,
  type PublishService,
  type PublishStreamRequest,
  type PublishStreamResponse,
  PublishStreamResponseSchema,
} from "../../../gen/geobroker/v1/publish_pb.js";
import type { BrokerEngine, CallContext, PublishInput } from "../engine/engine.js";
import { invalidArgument, toConnectError } from "../engine/errors.js";
import type { InputLimits } from "../engine/limits.js";
import { servedBy } from "../wire/convert.js";
import { checkMessage, checkTopicName } from "../wire/validate.js";
import { callContext } from "./call-context.js";
import { publishErrorOf, publishMany } from "./publish-batch.js";

const maxMessageIdLength = 256;
/** Unacknowledged publishes one stream may have in flight before the server stops reading. */
const maxInFlightPerStream = 4096;

function toInput(req: PublishRequest, limits: InputLimits): PublishInput {
  checkTopicName(req.topic);
  checkMessage(req, limits);
  if (req.messageId.length > maxMessageIdLength) {
    throw invalidArgument(
      `message_id is ${req.messageId.length} characters; the limit is ${maxMessageIdLength}`,
    );
  }
  return {
    topic: req.topic,
    body: req.body,
    ...(req.key.byteLength > 0 ? { key: req.key } : {}),
    ...(Object.keys(req.headers).length > 0 ? { headers: req.headers } : {}),
    ...(req.messageId ? { messageId: req.messageId } : {}),
    ...(req.partition !== undefined ? { partition: req.partition } : {}),
  };
}

export function publishService(
  engine: BrokerEngine,
  limits: InputLimits,
): ServiceImpl<typeof PublishService> {
  const publishOne = async (req: PublishRequest, call: CallContext): Promise<PublishResponse> => {
    const out = await engine.publish(toInput(req, limits), call);
    return create(PublishResponseSchema, {
      topic: out.topic,
      partition: out.partition,
      offset: BigInt(out.offset),
      timestampMicros: BigInt(out.timestampMicros),
      id: `${out.topic}/${out.partition}/${out.offset}`,
      duplicate: out.duplicate,
      servedBy: servedBy(engine.identity),
    });
  };

  /** One stream frame: a single message (`request`) or a batch, answered by one response frame. */
  const publishFrame = (item: PublishStreamRequest, call: CallContext): Promise<PublishStreamResponse> => {
    const answer = (r: MessageInitShape<typeof PublishStreamResponseSchema>) =>
      create(PublishStreamResponseSchema, { ...r, sequence: item.sequence });
    const failed = (err: unknown) => answer({ result: { case: "error", value: publishErrorOf(err) } });
    if (item.batch.length > 0) {
      if (item.request) return Promise.resolve(failed(invalidArgument("set request or batch, not both")));
      return publishMany(item.batch, limits, (m) => publishOne(m, call)).then(
        (batchResults) => answer({ batchResults }),
        failed,
      );
    }
    if (!item.request) return Promise.resolve(failed(invalidArgument("request is required")));
    return publishOne(item.request, call).then(
      (ack) => answer({ result: { case: "ack", value: ack } }),
      failed,
    );
  };

  return {
    publish: (req, ctx) => publishOne(req, callContext(ctx)),

    publishBatch: async (req, ctx) => {
      const call = callContext(ctx);
      const results = await publishMany(req.messages, limits, (m) => publishOne(m, call));
      return create(PublishBatchResponseSchema, { results });
    },

    // Pipelined: requests are started as they arrive and acknowledged as they commit. Acks of one
    // partition commit in order; acks across partitions may interleave.
    async *publishStream(requests, ctx) {
      const ready: PublishStreamResponse[] = [];
      let wake: (() => void) | undefined;
      let inFlight = 0;
      let inputDone = false;
      let inputError: unknown;
      const notify = () => {
        wake?.();
        wake = undefined;
      };
      const finish = (response: PublishStreamResponse, slots: number) => {
        inFlight -= slots;
        ready.push(response);
        notify();
      };
      let resumeReading: (() => void) | undefined;
      const call = callContext(ctx);
      const reader = (async () => {
        try {
          for await (const item of requests) {
            // A batch frame holds as many slots as it has messages: the bound is on messages.
            const slots = Math.max(1, item.batch.length);
            inFlight += slots;
            void publishFrame(item, call).then((response) => finish(response, slots));
            if (inFlight >= maxInFlightPerStream) await new Promise<void>((r) => (resumeReading = r));
          }
        } catch (err) {
          inputError = err;
        } finally {
          inputDone = true;
          notify();
        }
      })();
      try {
        for (;;) {
          while (ready.length > 0) {
            yield ready.shift()!;
            if (inFlight < maxInFlightPerStream && resumeReading) {
              resumeReading();
              resumeReading = undefined;
            }
          }
          if (inputDone && inFlight === 0) break;
          await new Promise<void>((r) => (wake = r));
        }
        if (inputError) throw toConnectError(inputError);
      } finally {
        resumeReading?.();
        await reader;
      }
    },
  };
}
