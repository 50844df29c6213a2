import assert from "node:assert/strict";
import { test } from "node:test";
import { seededRandom } from "../../src/raft/sim/prng.js";
import type { Message } from "../../src/raft/types.js";
import { canEncodeDirectly, encodeFramedBatch } from "../../src/transport/batch-encoder.js";
import { decodeBatch, encodeBatch } from "../../src/transport/convert.js";
import { frame } from "../../src/transport/framing.js";
import { batchFrames } from "../../src/transport/peer-link.js";

// Issue 23: the one-pass encoder of Raft batches for peers must write exactly the bytes
// frame(toBinary(StreamRequest)) wrote (the receiver decodes with protobuf-es), for every field, the
// zero/empty ones proto3 leaves out included.

function randomMessage(random: () => number): Message {
  const int = (max: number) => Math.floor(random() * max);
  // Zero often (proto3 omits it), small, and large (multi-byte varints, up to 2^53 - 1).
  const uint = () => [0, 0, 1, int(128), int(300), int(2 ** 32), Number.MAX_SAFE_INTEGER - int(10)][int(7)]!;
  const bytes = () => Uint8Array.from({ length: [0, 1, int(200), int(70_000)][int(4)]! }, () => int(256));
  return {
    groupId: uint(),
    type: int(14),
    from: ["", "eu-0", "us-1", "ñode-é"][int(4)]!,
    to: ["", "ap-0", "x".repeat(int(300))][int(3)]!,
    term: uint(),
    logTerm: uint(),
    index: uint(),
    entries: Array.from({ length: [0, 1, int(5), int(40)][int(4)]! }, () => ({
      term: uint(),
      index: uint(),
      type: int(4),
      data: bytes(),
    })),
    commit: uint(),
    reject: random() < 0.3,
    rejectHint: uint(),
    ...(random() < 0.3 ? { context: bytes() } : {}),
  };
}

test("a batch is encoded byte for byte as toBinary + frame encode it (seeded random batches)", () => {
  for (let seed = 1; seed <= 300; seed++) {
    const random = seededRandom(seed);
    const messages = Array.from({ length: Math.floor(random() * 6) }, () => randomMessage(random));
    const from = ["eu-0", "", "ñ"][seed % 3]!;
    assert.ok(canEncodeDirectly(messages));
    const fast = encodeFramedBatch(from, messages);
    assert.deepEqual(Buffer.from(fast), Buffer.from(frame(encodeBatch(from, messages))), `seed ${seed}`);
    assert.equal(fast.buffer.byteLength, fast.byteLength, "the frame has its own ArrayBuffer");
    const back = decodeBatch(fast.subarray(5));
    assert.equal(back.from, from, `seed ${seed}`);
    assert.deepEqual(
      back.messages.map((m) => ({
        ...m,
        entries: m.entries.map((e) => ({ ...e, data: Buffer.from(e.data) })),
        ...(m.context ? { context: Buffer.from(m.context) } : {}),
      })),
      messages.map((m) => {
        const { context, ...rest } = m;
        return {
          ...rest,
          entries: m.entries.map((e) => ({ ...e, data: Buffer.from(e.data) })),
          ...(context && context.byteLength > 0 ? { context: Buffer.from(context) } : {}),
        };
      }),
      `seed ${seed}`,
    );
  }
});

test("a batch with a snapshot goes through toBinary; a value uint64 cannot hold is refused, as toBinary refuses it", () => {
  const random = seededRandom(7);
  const m = randomMessage(random);
  const withSnapshot: Message = {
    ...m,
    snapshot: {
      metadata: { index: 5, term: 2, confState: { voters: ["eu-0"], learners: [], votersOutgoing: [] } },
      data: new Uint8Array([1, 2, 3]),
    },
  };
  assert.equal(canEncodeDirectly([m, withSnapshot]), false);
  assert.deepEqual(batchFrames("eu-0", [m, withSnapshot]), [frame(encodeBatch("eu-0", [m, withSnapshot]))]);
  assert.throws(() => encodeFramedBatch("eu-0", [{ ...m, term: -1 }]), RangeError);
  assert.throws(() => encodeFramedBatch("eu-0", [{ ...m, commit: 2 ** 60 }]), RangeError);
  assert.throws(() => encodeBatch("eu-0", [{ ...m, term: -1 }]));
});
