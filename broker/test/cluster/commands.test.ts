import assert from "node:assert/strict";
import { test } from "node:test";
import {
  CommandKind,
  commandKind,
  decodeJsonCommand,
  decodeMetadataCommand,
  decodePublishBatch,
  decodeRetentionEntry,
  encodeMetadataCommand,
  encodePublishBatch,
  encodeRetentionEntry,
  isMetadataCommand,
  isPublishBatch,
  isRetentionEntry,
  type PublishBatch,
} from "../../src/cluster/state/commands.js";
import { inFormat } from "../support/write-format.js";

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

test("metadata commands round-trip with their own kind byte, JSON (legacy) or protobuf", () => {
  const envelope = {
    proposer: "eu-0/7",
    sequence: 3,
    command: { type: "deleteTopic", name: "orders" } as const,
  };
  const legacy = encodeMetadataCommand(envelope);
  assert.equal(commandKind(legacy), CommandKind.Metadata);
  assert.deepEqual(decodeJsonCommand(legacy), envelope);
  assert.deepEqual(decodeMetadataCommand(legacy), envelope);
  const proto = inFormat("protobuf", () => encodeMetadataCommand(envelope));
  assert.equal(commandKind(proto), CommandKind.MetadataProto);
  assert.ok(isMetadataCommand(proto) && isMetadataCommand(legacy));
  assert.deepEqual(decodeMetadataCommand(proto), envelope);
  assert.equal(commandKind(new Uint8Array()), undefined);
});

test("a publish batch round-trips in the protobuf form too, its window always carried", () => {
  const batch: PublishBatch = {
    proposer: "eu-0/1",
    sequence: 2 ** 40 + 7,
    timestampMicros: 1_732_000_000_123_456,
    dedup: { windowMicros: 90_000_000, maxIds: 1000 },
    messages: [
      {
        key: bytes("ключ"),
        body: new Uint8Array(70_000).fill(7),
        headers: { a: "ü", b: "" },
        messageId: "日本",
      },
      { key: new Uint8Array(), body: new Uint8Array(), headers: {}, messageId: "" },
    ],
  };
  const encoded = inFormat("protobuf", () => encodePublishBatch(batch));
  assert.equal(commandKind(encoded), CommandKind.PublishBatchProto);
  assert.ok(isPublishBatch(encoded));
  const decoded = decodePublishBatch(encoded);
  assert.deepEqual(
    {
      ...decoded,
      messages: decoded.messages.map((m) => ({ ...m, key: [...m.key], body: m.body.byteLength })),
    },
    { ...batch, messages: batch.messages.map((m) => ({ ...m, key: [...m.key], body: m.body.byteLength })) },
  );
  // Bodies are views of the entry, not copies.
  assert.equal(decoded.messages[0]!.body.buffer, encoded.buffer);
});

test("a retention entry round-trips in both forms, with and without a floor", () => {
  const policy = { maxAgeMs: 3_600_000, maxBytes: 0, maxMessages: 10, keepUnacknowledged: true };
  for (const entry of [
    { nowMicros: 1_732_000_000_123_456, policy },
    { nowMicros: 5, policy, unacknowledgedFloor: 0 },
  ]) {
    const legacy = encodeRetentionEntry(entry);
    const proto = inFormat("protobuf", () => encodeRetentionEntry(entry));
    assert.deepEqual(
      [commandKind(legacy), commandKind(proto)],
      [CommandKind.Retention, CommandKind.RetentionProto],
    );
    assert.ok(isRetentionEntry(legacy) && isRetentionEntry(proto));
    assert.deepEqual(decodeRetentionEntry(legacy), entry);
    assert.deepEqual(decodeRetentionEntry(proto), entry);
  }
});
