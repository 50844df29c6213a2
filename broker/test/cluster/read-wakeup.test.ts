import assert from "node:assert/strict";
import { test } from "node:test";
import type { GroupRunner } from "../../src/cluster/groups/group-runner.js";
import { PartitionReader } from "../../src/cluster/read/partition-reader.js";
import type { StartSpec } from "../../src/engine/engine.js";
import { seededRandom } from "../../src/raft/sim/prng.js";
import { CrashDb } from "../../src/storage/crash-db.js";
import { systemClock } from "../../src/util/clock.js";
import { mergeAsyncIterables } from "../../src/util/merge.js";
import { group, publishEntry, Replica } from "../storage/partition-replica.js";

// Issue 17, defect 8: a live subscriber missed the last message of a burst. The suspects are lost
// wake-ups between the read path (partition-reader.ts, log-feed.ts) and apply (partition-state-
// machine.ts over partition-store.ts): a feed advanced between the reader's empty read and its wait,
// rows written after the feed advanced, a `latest` or timestamp start evaluated while a write is in
// flight, and the merge of several partitions (the compat Subscribe). Here every disk operation of
// both sides completes in a seeded random order, one per turn of the event loop, and the reader
// starts at a random point of the burst; whatever the interleaving, once the burst is applied the
// reader must hold every message from where it started to the very last, in order.

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));
const starts: StartSpec[] = [
  { kind: "earliest" },
  { kind: "latest" },
  { kind: "offset", offset: 0 },
  { kind: "timestamp", timestampMicros: 0 },
];

async function burst(seed: number): Promise<void> {
  const rand = seededRandom(seed);
  const pending: (() => void)[] = [];
  const disk = new CrashDb({ schedule: (complete) => pending.push(complete), clearChunk: 2 });
  let completions = 0;
  let startReaderAfter = Number.POSITIVE_INFINITY;
  let startReader = () => {};
  let running = true;
  // The disk: one operation completes per turn, a random one of those in flight.
  const diskLoop = (async () => {
    while (running) {
      if (pending.length > 0) {
        pending.splice(Math.floor(rand() * pending.length), 1)[0]!();
        if (++completions === startReaderAfter) startReader();
      }
      await turn();
    }
  })();
  const replica = await Replica.open(disk);
  const batches = 1 + Math.floor(rand() * 6);
  const start = starts[Math.floor(rand() * starts.length)]!;
  const merged = rand() < 0.5;
  startReaderAfter = completions + Math.floor(rand() * batches * 3);
  const got: number[] = [];
  const ac = new AbortController();
  let startedAt = -1;
  let reading: Promise<void> = Promise.resolve();
  startReader = () => {
    if (startedAt >= 0) return;
    startedAt = replica.store.nextOffset(group);
    // No status reports and no linearizable start here, so the runner is never asked anything.
    const local = { runner: {} as GroupRunner, feed: replica.sm.feed };
    const reader = new PartitionReader({
      store: replica.store,
      local: () => local,
      clock: systemClock,
      staleAfterMs: 1000,
    });
    const stream = reader.read("t", group, 0, start, ac.signal);
    // The compat API merges a subscription's partitions: here with two idle ones.
    const idle = async function* () {
      await new Promise<void>((resolve) => ac.signal.addEventListener("abort", () => resolve()));
    };
    const source = merged ? mergeAsyncIterables([idle(), stream, idle()]) : stream;
    reading = (async () => {
      for await (const m of source) got.push(m.offset);
    })();
  };
  if (startReaderAfter <= completions) startReader();
  let index = 1;
  for (let b = 0; b < batches; b++) {
    const size = 1 + Math.floor(rand() * 3);
    const ids = Array.from({ length: size }, (_, i) => `m${b}-${i}`);
    await replica.apply([publishEntry(index++, 1_000 + b, ids)]);
  }
  startReader();
  const end = replica.store.nextOffset(group);
  for (let i = 0; i < 500 && got.at(-1) !== end - 1; i++) await turn();
  ac.abort();
  await reading; // the disk still turns: the reader may be inside a read
  running = false;
  await diskLoop;
  // `latest` is the end of the partition when the read begins (synchronously, in the first pull).
  const from = start.kind === "latest" ? startedAt : 0;
  const context = `seed ${seed}: start ${JSON.stringify(start)}${merged ? " merged" : ""}, ${batches} batches, reader started at offset ${startedAt} of ${end}`;
  assert.deepEqual(
    got,
    Array.from({ length: end - from }, (_, i) => from + i),
    `${context}: got ${got.join(",") || "nothing"}`,
  );
}

test("a reader started anywhere in a burst gets every message to the last, whatever order the disk completes in", async () => {
  for (let seed = 1; seed <= 300; seed++) await burst(seed);
});

// The narrowest window of those, forced: the reader's read finds nothing, and before it waits the
// last batch is applied and the feed advanced (no later batch will wake it). The wait must see that
// the feed is already past the offset it wants.
test("a batch applied between the reader's empty read and its wait still reaches the reader", async () => {
  const pending: (() => void)[] = [];
  const disk = new CrashDb({ schedule: (complete) => pending.push(complete) });
  let running = true;
  const diskLoop = (async () => {
    while (running) {
      pending.shift()?.();
      await turn();
    }
  })();
  const replica = await Replica.open(disk);
  let applyBeforeAnswering: (() => Promise<void>) | undefined = () =>
    replica.apply([publishEntry(1, 1_000, ["last"])]);
  // The reader's store, whose first empty answer waits until the batch is applied.
  const store = new Proxy(replica.store, {
    get(target, name, receiver) {
      if (name !== "read") return Reflect.get(target, name, receiver);
      return async (...args: Parameters<typeof target.read>) => {
        const rows = await target.read(...args);
        const hook = applyBeforeAnswering;
        if (rows.length === 0 && hook) {
          applyBeforeAnswering = undefined;
          await hook();
          assert.equal(replica.sm.feed.next, 1, "the feed advanced before the reader waits");
        }
        return rows;
      };
    },
  });
  const local = { runner: {} as GroupRunner, feed: replica.sm.feed };
  const reader = new PartitionReader({ store, local: () => local, staleAfterMs: 1000, clock: systemClock });
  const ac = new AbortController();
  const got: number[] = [];
  const reading = (async () => {
    for await (const m of reader.read("t", group, 0, { kind: "offset", offset: 0 }, ac.signal)) {
      got.push(m.offset);
      ac.abort();
    }
  })();
  for (let i = 0; i < 200 && got.length === 0; i++) await turn();
  ac.abort();
  await reading;
  running = false;
  await diskLoop;
  assert.equal(applyBeforeAnswering, undefined, "the interleaving was forced");
  assert.deepEqual(got, [0], "the message applied between the read and the wait was delivered");
});
