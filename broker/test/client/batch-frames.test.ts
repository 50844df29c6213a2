import assert from "node:assert/strict";
import { test } from "node:test";
import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  type PublishRequest,
  type PublishService,
  PublishStreamResponseSchema,
} from "../../../gen/geobroker/v1/publish_pb.js";
import { fakeClient, fakeNode } from "./fake-nodes.js";

// The producer's batches travel as PublishStream batch frames (issue 23's batch publish): one frame,
// one result per message. A frame refused whole (its bounds, an older broker that wants `request`)
// appended nothing, and its messages then go one per frame.

const ackFor = (r: PublishRequest, offset: bigint) => ({
  result: {
    case: "ack" as const,
    value: { topic: r.topic, partition: 0, offset, id: `${r.topic}/0/${offset}` },
  },
});

/** A stream that logs every frame's message count; `batches` false answers a batch frame as an older broker does. */
function broker(batches: boolean) {
  const frames: number[] = [];
  let offset = 0n;
  const impl: Partial<ServiceImpl<typeof PublishService>> = {
    async *publishStream(requests) {
      for await (const item of requests) {
        if (item.request) {
          frames.push(1);
          yield create(PublishStreamResponseSchema, {
            sequence: item.sequence,
            ...ackFor(item.request, offset++),
          });
        } else if (!batches) {
          frames.push(item.batch.length);
          yield create(PublishStreamResponseSchema, {
            sequence: item.sequence,
            result: { case: "error", value: { code: 3, message: "request is required" } },
          });
        } else {
          frames.push(item.batch.length);
          yield create(PublishStreamResponseSchema, {
            sequence: item.sequence,
            batchResults: item.batch.map((r) => ackFor(r, offset++)),
          });
        }
      }
    },
  };
  return { impl, frames };
}

test("a producer's batch is one PublishStream frame with a result per message", async () => {
  const b = broker(true);
  const client = fakeClient([fakeNode("a", "eu", { publish: b.impl })], { t: ["a"] });
  const producer = client.producer({ lingerMs: 20, batchMaxMessages: 50 });
  const sent = await Promise.all(
    Array.from({ length: 50 }, (_, i) => producer.send({ topic: "t", body: `m${i}` })),
  );
  assert.deepEqual(b.frames, [50], "fifty messages, one frame");
  assert.deepEqual(
    sent.map((r) => r.offset),
    Array.from({ length: 50 }, (_, i) => BigInt(i)),
    "each message its own offset, in order",
  );
  await client.close();
});

test("a batch frame refused whole is sent again one message per frame, each acknowledged once", async () => {
  const b = broker(false);
  const client = fakeClient([fakeNode("a", "eu", { publish: b.impl })], { t: ["a"] });
  const producer = client.producer({ lingerMs: 20, batchMaxMessages: 5 });
  const sent = await Promise.all(
    Array.from({ length: 5 }, (_, i) => producer.send({ topic: "t", body: `m${i}` })),
  );
  assert.deepEqual(b.frames, [5, 1, 1, 1, 1, 1]);
  assert.deepEqual(
    sent.map((r) => r.offset),
    [0n, 1n, 2n, 3n, 4n],
  );
  await client.close();
});
