import assert from "node:assert/strict";
import { test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import {
  type ConsumeRequest,
  ConsumeResponseSchema,
  type ConsumeService,
  SubscribeResponseSchema,
} from "../../../gen/geobroker/v1/consume_pb.js";
import type { StatusEvent } from "../../src/client/status.js";
import { fakeClient, fakeNode } from "./fake-nodes.js";

/** A one-partition log of `size` messages; each node serves it from the requested offset. */
function logNode(id: string, o: { size: number; failAfter?: number; starts: bigint[] }) {
  const impl: Partial<ServiceImpl<typeof ConsumeService>> = {
    async *subscribe(req) {
      const start = req.start?.position.case === "offset" ? req.start.position.value : 0n;
      o.starts.push(start);
      yield create(SubscribeResponseSchema, {
        status: { partition: 0, nextOffset: BigInt(o.size), stale: false },
      });
      // A replica may serve from before the requested offset (retention, a bug): the client skips it.
      const from = start > 0n ? start - 1n : 0n;
      let sent = 0;
      for (let off = from; off < BigInt(o.size); off++) {
        if (o.failAfter !== undefined && sent === o.failAfter)
          throw new ConnectError("node went away", Code.Unavailable);
        sent++;
        yield create(SubscribeResponseSchema, {
          message: {
            topic: "t",
            partition: 0,
            offset: off,
            id: `t/0/${off}`,
            body: new TextEncoder().encode(`m${off}`),
          },
          servedBy: { nodeId: id, region: "eu" },
        });
      }
      await new Promise(() => {}); // a live subscription: stays open
    },
  };
  return impl;
}

test("a subscription that loses its node resumes at the next one after the last message, none twice", async () => {
  const starts: bigint[] = [];
  const a = fakeNode("a", "eu", { consume: logNode("a", { size: 10, failAfter: 4, starts }) });
  const b = fakeNode("b", "eu", { consume: logNode("b", { size: 10, starts }) });
  const client = fakeClient([a, b], { t: ["a"] });
  const events: StatusEvent[] = [];
  client.onStatus((e) => events.push(e));
  const sub = client.subscribe({ topic: "t", start: "earliest" });
  const offsets: bigint[] = [];
  const servedBy: string[] = [];
  for await (const m of sub) {
    offsets.push(m.offset);
    servedBy.push(m.servedBy?.nodeId ?? "?");
    if (offsets.length === 10) break;
  }
  assert.deepEqual(offsets, [0n, 1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n, 9n]);
  assert.deepEqual(starts, [0n, 4n], "the second stream asked for the offset after the last delivered");
  assert.deepEqual([...new Set(servedBy)], ["a", "b"]);
  assert.ok(events.some((e) => e.type === "reconnecting" && e.address === a.address));
  assert.ok(events.some((e) => e.type === "lag" && e.topic === "t"));
  assert.equal(sub.positions.get(0), 10n);
  await client.close();
});

test("a subscription to a topic that does not exist ends with NOT_FOUND, not retried", async () => {
  const a = fakeNode("a", "eu", {
    consume: {
      // biome-ignore lint/correctness/useYield: fails before the first message
      async *subscribe() {
        throw new ConnectError("topic t does not exist", Code.NotFound);
      },
    },
  });
  const client = fakeClient([a], { t: ["a"] });
  await assert.rejects(
    (async () => {
      for await (const _ of client.subscribe({ topic: "t" })) assert.fail("no message");
    })(),
    (e: { code?: Code }) => e.code === Code.NotFound,
  );
  assert.equal(a.calls.filter((c) => c === "Subscribe").length, 1);
  await client.close();
});

/** A durable consumer fake: records every request; the test scripts the deliveries. */
function consumerNode(
  log: ConsumeRequest["request"][][],
  deliver: (session: number) => bigint[],
  failAfter?: number,
) {
  let sessions = 0;
  const impl: Partial<ServiceImpl<typeof ConsumeService>> = {
    async *consume(requests) {
      const session = sessions++;
      const seen: ConsumeRequest["request"][] = [];
      log.push(seen);
      const it = requests[Symbol.asyncIterator]();
      void (async () => {
        for (;;) {
          const n = await it.next().catch(() => ({ done: true as const, value: undefined }));
          if (n.done) return;
          seen.push(n.value.request);
        }
      })();
      yield create(ConsumeResponseSchema, { response: { case: "started", value: {} } });
      let sent = 0;
      for (const offset of deliver(session)) {
        if (failAfter !== undefined && session === 0 && sent === failAfter)
          throw new ConnectError("node went away", Code.Unavailable);
        sent++;
        yield create(ConsumeResponseSchema, {
          response: {
            case: "delivery",
            value: {
              message: { topic: "t", partition: 0, offset, id: `t/0/${offset}` },
              deliveryCount: session + 1,
            },
          },
        });
      }
      await new Promise(() => {});
    },
  };
  return impl;
}

const settle = () => new Promise((r) => setTimeout(r, 20));

test("a durable consumer grants maxAckPending credit, and one more per ack or nack", async () => {
  const log: ConsumeRequest["request"][][] = [];
  const a = fakeNode("a", "eu", { consume: consumerNode(log, () => [0n, 1n, 2n]) });
  const client = fakeClient([a]);
  const c = client.consumer({ topic: "t", name: "w", maxAckPending: 8 });
  const got: bigint[] = [];
  for await (const m of c) {
    got.push(m.offset);
    if (m.offset === 1n) m.nack({ delayMs: 250 });
    else m.ack();
    if (got.length === 3) break;
  }
  await settle();
  const s = log[0]!;
  assert.equal(s[0]?.case, "start");
  assert.deepEqual(s[1], { case: "credit", value: 8 });
  const acks = s.filter((r) => r.case === "ack").map((r) => r.value.refs.map((x) => x.offset));
  const nacks = s.filter((r) => r.case === "nack").map((r) => [r.value.refs[0]?.offset, r.value.delayMs]);
  assert.deepEqual(acks, [[0n], [2n]]);
  assert.deepEqual(nacks, [[1n, 250n]]);
  assert.equal(s.filter((r) => r.case === "credit" && r.value === 1).length, 3);
  await client.close();
});

test("a consumer that loses its stream reattaches; what it still holds is not handed out twice", async () => {
  const log: ConsumeRequest["request"][][] = [];
  // Session 0 delivers 0 and 1, then fails; session 1 redelivers 1 (unacked) and goes on with 2.
  const a = fakeNode("a", "eu", {
    consume: consumerNode(log, (s) => (s === 0 ? [0n, 1n, 5n] : [1n, 2n]), 2),
  });
  const client = fakeClient([a]);
  const c = client.consumer({ topic: "t", name: "w", maxAckPending: 4 });
  const got: bigint[] = [];
  let held: { ack(): void } | undefined;
  for await (const m of c) {
    got.push(m.offset);
    if (m.offset === 1n) held = m;
    else m.ack();
    if (m.offset === 2n) {
      held?.ack();
      break;
    }
  }
  await settle();
  assert.deepEqual(got, [0n, 1n, 2n], "1 was redelivered by the new session but the application holds it");
  assert.equal(log.length, 2);
  const second = log[1]!;
  assert.equal(second[0]?.case, "start");
  assert.deepEqual(second[1], { case: "credit", value: 3 }, "the held message counts against the window");
  const acked = second.filter((r) => r.case === "ack").map((r) => r.value.refs[0]?.offset);
  assert.deepEqual(acked, [2n, 1n], "the ack of a message from the old session goes on the new one");
  await client.close();
});
