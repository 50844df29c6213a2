import assert from "node:assert/strict";
import { test } from "node:test";
import {
  CommandKind,
  commandKind,
  decodeJsonCommand,
  decodePublishBatch,
  encodeMetadataCommand,
  encodePublishBatch,
  type PublishBatch,
} from "../../src/cluster/commands.js";

const bytes = (s: string) => new TextEncoder().encode(s);

test("a publish batch round-trips every field, empty and non-ASCII ones included", () => {
  const batch: PublishBatch = {
    proposer: "eu-0",
    sequence: 2 ** 40 + 7,
    timestampMicros: 1_732_000_000_123_456,
    messages: [
      {
        key: bytes("k1"),
        body: bytes("hello"),
        headers: { "content-type": "text/plain" },
        messageId: "id-1",
      },
      { key: new Uint8Array(), body: new Uint8Array(), headers: {}, messageId: "" },
      { key: bytes("ключ"), body: new Uint8Array(70_000).fill(7), headers: { a: "ü" }, messageId: "日本" },
    ],
  };
  const encoded = encodePublishBatch(batch);
  assert.equal(commandKind(encoded), CommandKind.PublishBatch);
  const decoded = decodePublishBatch(encoded);
  assert.equal(decoded.proposer, batch.proposer);
  assert.equal(decoded.sequence, batch.sequence);
  assert.equal(decoded.timestampMicros, batch.timestampMicros);
  assert.equal(decoded.messages.length, 3);
  decoded.messages.forEach((m, i) => {
    const want = batch.messages[i]!;
    assert.deepEqual([...m.key], [...want.key]);
    assert.deepEqual([...m.body], [...want.body]);
    assert.deepEqual(m.headers, want.headers);
    assert.equal(m.messageId, want.messageId);
  });
});

test("a truncated publish batch is refused, not misread", () => {
  const encoded = encodePublishBatch({
    proposer: "n",
    sequence: 1,
    timestampMicros: 1,
    messages: [{ key: new Uint8Array(), body: bytes("0123456789"), headers: {}, messageId: "" }],
  });
  assert.throws(() => decodePublishBatch(encoded.subarray(0, encoded.byteLength - 8)), RangeError);
});

test("metadata commands round-trip as JSON with their own kind byte", () => {
  const cmd = { type: "deleteTopic", name: "orders" };
  const encoded = encodeMetadataCommand(cmd);
  assert.equal(commandKind(encoded), CommandKind.Metadata);
  assert.deepEqual(decodeJsonCommand(encoded), cmd);
  assert.equal(commandKind(new Uint8Array()), undefined);
});
