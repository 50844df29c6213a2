import assert from "node:assert/strict";
import { test } from "node:test";
import { EntryType, type Message, MessageType } from "../../src/raft/types.js";
import { decodeBatch, encodeBatch } from "../../src/transport/convert.js";
import { pingIntervalMs, pingTimeoutMs } from "../../src/transport/peer-link.js";
import { loopbackTransport } from "../support/loopback-transport.js";
import { freePort } from "../support/process-cluster.js";

const msg = (over: Partial<Message>): Message => ({
  groupId: 3,
  type: MessageType.Append,
  from: "a",
  to: "b",
  term: 7,
  logTerm: 6,
  index: 41,
  entries: [],
  commit: 40,
  reject: false,
  rejectHint: 0,
  ...over,
});

test("every field survives the wire encoding, for every message type", () => {
  for (let type = 1; type <= 13; type++) {
    const m = msg({
      type,
      entries: [{ term: 6, index: 42, type: EntryType.Normal, data: new Uint8Array([1, 2, 3]) }],
      reject: type % 2 === 0,
      rejectHint: 17,
      context: new Uint8Array([9]),
      ...(type === MessageType.Snapshot
        ? {
            snapshot: {
              metadata: {
                index: 40,
                term: 6,
                confState: { voters: ["a", "b"], learners: ["c"], votersOutgoing: [] },
              },
              data: new Uint8Array([5, 5]),
            },
          }
        : {}),
    });
    const back = decodeBatch(encodeBatch("a", [m]));
    assert.equal(back.from, "a");
    assert.deepEqual(back.messages[0], m);
  }
});

test("two transports: batches arrive in order, a 5 MiB snapshot arrives whole in chunks, a restarted peer is reached again", async () => {
  const [pa, pb] = [await freePort(), await freePort()];
  const peers = new Map([
    ["a", `127.0.0.1:${pa}`],
    ["b", `127.0.0.1:${pb}`],
  ]);
  const statuses: boolean[] = [];
  const a = loopbackTransport("a", pa, peers, { onSnapshotStatus: (_g, _to, ok) => statuses.push(ok) });
  const received: Message[] = [];
  const makeB = () => {
    const b = loopbackTransport("b", pb, peers);
    b.onMessages((ms) => received.push(...ms));
    return b;
  };
  let b = makeB();
  await a.start();
  await b.start();
  const until = async (check: () => boolean, what: string) => {
    const deadline = Date.now() + 10_000;
    while (!check()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  for (let i = 0; i < 20_000; i++) a.send([msg({ index: i })]);
  await until(() => received.length >= 20_000, "20000 messages");
  assert.deepEqual(
    received.map((m) => m.index),
    Array.from({ length: 20_000 }, (_, i) => i),
  );
  const image = new Uint8Array(5 * 1024 * 1024).map((_, i) => i % 251);
  a.send([
    msg({
      type: MessageType.Snapshot,
      snapshot: {
        metadata: { index: 99, term: 7, confState: { voters: ["a", "b"], learners: [], votersOutgoing: [] } },
        data: image,
      },
    }),
  ]);
  await until(() => received.some((m) => m.type === MessageType.Snapshot), "the snapshot");
  const snap = received.find((m) => m.type === MessageType.Snapshot)!;
  assert.equal(snap.snapshot!.metadata.index, 99);
  assert.ok(Buffer.from(snap.snapshot!.data).equals(Buffer.from(image)), "image intact");
  await until(() => statuses.length > 0, "the snapshot status");
  assert.deepEqual(statuses, [true]);

  await b.stop();
  received.length = 0;
  a.send([msg({ index: 777_777 })]); // lost or queued while b is down
  b = makeB();
  await b.start();
  const deadline = Date.now() + 10_000;
  while (!received.some((m) => m.index === 12345) && Date.now() < deadline) {
    a.send([msg({ index: 12345 })]);
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(
    received.some((m) => m.index === 12345),
    "reconnected after the restart",
  );
  await a.stop();
  await b.stop();
});

test("a link whose peer goes silent (no FIN, no RST) is dropped after unanswered pings and redialled", async () => {
  const { FaultProxy, blackhole, pass } = await import("../support/fault-proxy.js");
  const [pa, pb] = [await freePort(), await freePort()];
  const proxy = await FaultProxy.start({ host: "127.0.0.1", port: pb });
  const peers = new Map([
    ["a", `127.0.0.1:${pa}`],
    ["b", proxy.address],
  ]);
  const a = loopbackTransport("a", pa, peers);
  const b = loopbackTransport("b", pb, peers);
  const received: number[] = [];
  b.onMessages((ms) => received.push(...ms.map((m) => m.index)));
  await a.start();
  await b.start();
  const until = async (check: () => boolean, what: string, ms: number) => {
    const deadline = Date.now() + ms;
    while (!check()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  a.send([msg({ index: 1 })]);
  await until(() => received.includes(1), "the first message", 5_000);
  // The proxy now swallows every byte and never closes: TCP alone would wait for minutes.
  proxy.setMode(blackhole);
  const started = Date.now();
  await until(
    () => (a.stats().get("b")?.pingTimeouts ?? 0) >= 1,
    "the silent link to be dropped",
    pingTimeoutMs + 5_000,
  );
  const detectedMs = Date.now() - started;
  assert.ok(detectedMs >= pingTimeoutMs - pingIntervalMs, `not before the ping timeout (${detectedMs} ms)`);
  proxy.mode = pass; // heal without the proxy's courtesy reset: the redialled link must carry traffic
  await until(
    () => {
      a.send([msg({ index: 2 })]);
      return received.includes(2);
    },
    "a message over the redialled link",
    10_000,
  );
  await a.stop();
  await b.stop();
  await proxy.close();
});
