import assert from "node:assert/strict";
import { test } from "node:test";
import { FrameReader, frame } from "../../src/transport/framing.js";

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
