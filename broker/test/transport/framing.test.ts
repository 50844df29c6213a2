import assert from "node:assert/strict";
import { test } from "node:test";
import { FrameReader, FrameTooLargeError, frame } from "../../src/transport/framing.js";

const payloads = [
  new Uint8Array(0),
  new Uint8Array([7]),
  new Uint8Array(70_000).fill(3),
  new Uint8Array(5).fill(9),
];

test("frames come back whole whatever the chunking: one byte, odd sizes, all at once", () => {
  const stream = Buffer.concat(payloads.map((p) => Buffer.from(frame(p))));
  for (const chunkSize of [1, 3, 4, 5, 6, 1000, 16_384, stream.length]) {
    const reader = new FrameReader();
    const out: Uint8Array[] = [];
    for (let at = 0; at < stream.length; at += chunkSize)
      out.push(...reader.push(stream.subarray(at, at + chunkSize)));
    assert.deepEqual(
      out.map((p) => Buffer.from(p)),
      payloads.map((p) => Buffer.from(p)),
      `chunks of ${chunkSize} bytes`,
    );
  }
});

test("a frame split mid-header waits for the rest", () => {
  const reader = new FrameReader();
  const f = Buffer.from(frame(new Uint8Array([1, 2, 3])));
  assert.deepEqual(reader.push(f.subarray(0, 2)), []);
  assert.deepEqual(reader.push(f.subarray(2, 6)), []);
  assert.deepEqual(
    reader.push(f.subarray(6)).map((p) => [...p]),
    [[1, 2, 3]],
  );
});

test("a header announcing more than the limit is refused at once, before its bytes are buffered", () => {
  const reader = new FrameReader(1024);
  const header = Buffer.alloc(5);
  header.writeUInt32BE(1025, 1);
  assert.throws(
    () => reader.push(header),
    (err: Error) => err instanceof FrameTooLargeError,
  );
  const ok = new FrameReader(1024);
  assert.equal(ok.push(Buffer.from(frame(new Uint8Array(1024)))).length, 1, "the limit itself is taken");
});

test("readers sharing a budget cannot buffer more together than it, and give back what they release", () => {
  const budget = { used: 0, limit: 100 };
  const [a, b] = [new FrameReader(1000, budget), new FrameReader(1000, budget)];
  const partial = Buffer.from(frame(new Uint8Array(200))).subarray(0, 60);
  assert.deepEqual(a.push(partial), []);
  assert.equal(budget.used, 60);
  assert.throws(() => b.push(partial), FrameTooLargeError, "60 + 60 is over the budget of 100");
  a.release();
  assert.equal(budget.used, 0, "a released stream gives its bytes back");
  assert.deepEqual(b.push(partial), []);
  const whole = new FrameReader(1000, { used: 0, limit: 100 });
  whole.push(Buffer.from(frame(new Uint8Array(50))));
  whole.push(Buffer.from(frame(new Uint8Array(50))));
  whole.push(Buffer.from(frame(new Uint8Array(50))));
  // Complete frames leave the buffer, so a long stream of small frames never runs out of budget.
});
