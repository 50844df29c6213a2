import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  type PublishRequest,
  type PublishResponse,
  PublishResponseSchema,
  type PublishService,
  type PublishStreamResponse,
  PublishStreamResponseSchema,
} from "../../../gen/geobroker/v1/publish_pb.js";
import type { BrokerEngine, CallContext, PublishInput } from "../engine/engine.js";
import { errorDetailsOf, errorInfoOf, invalidArgument, toConnectError } from "../engine/errors.js";
import type { InputLimits } from "../engine/limits.js";
import { servedBy } from "../wire/convert.js";
import { checkMessage, checkTopicName } from "../wire/validate.js";
import { callContext } from "./call-context.js";

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

  return {
    publish: (req, ctx) => publishOne(req, callContext(ctx)),

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
      const finish = (response: PublishStreamResponse) => {
        inFlight--;
        ready.push(response);
        notify();
      };
      let resumeReading: (() => void) | undefined;
      const call = callContext(ctx);
      const reader = (async () => {
        try {
          for await (const item of requests) {
            if (!item.request) {
              ready.push(
                create(PublishStreamResponseSchema, {
                  sequence: item.sequence,
                  result: { case: "error", value: { code: 3, message: "request is required" } },
                }),
              );
              notify();
              continue;
            }
            inFlight++;
            publishOne(item.request, call).then(
              (ack) =>
                finish(
                  create(PublishStreamResponseSchema, {
                    sequence: item.sequence,
                    result: { case: "ack", value: ack },
                  }),
                ),
              (err: unknown) => {
                const e = toConnectError(err);
                finish(
                  create(PublishStreamResponseSchema, {
                    sequence: item.sequence,
                    result: {
                      case: "error",
                      value: { code: e.code, message: e.rawMessage, info: errorInfoOf(errorDetailsOf(e)) },
                    },
                  }),
                );
              },
            );
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
