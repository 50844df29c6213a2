import assert from "node:assert/strict";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { test } from "node:test";
import { create, toBinary } from "@bufbuild/protobuf";
import { StoredMessageSchema } from "../../../gen/geobroker/storage/v1/partition_pb.js";
import type { MetadataEnvelope } from "../../src/cluster/state/commands.js";
import {
  CommandKind,
  commandKind,
  decodeMetadataCommand,
  decodePublishBatch,
  decodeRetentionEntry,
  encodeMetadataCommand,
  encodePublishBatch,
  encodeRetentionEntry,
  legacyCommandKinds,
  type PublishBatch,
} from "../../src/cluster/state/commands.js";
import type { RetentionEntry } from "../../src/cluster/state/retention.js";
import type { StoredMessage } from "../../src/engine/message.js";
import {
  decodeMessage,
  encodeLegacyMessage,
  encodeMessage,
  messageRecordMarker,
} from "../../src/storage/codec.js";
import { CrashDb } from "../../src/storage/crash-db.js";
import { decodeDedupRow, decodeImage, encodeDedupRow } from "../../src/storage/partition-image.js";
import { PartitionStore } from "../../src/storage/partition-store.js";
import { inFormat, inFormatAsync } from "../support/write-format.js";
import { group, maxMessages, publishEntry, Replica, retentionEntry } from "./partition-replica.js";

// Durable formats against committed fixtures (broker/test/fixtures/). A test here failing means a
// format changed: give it a new version and keep decoding the old one. Regenerate the fixtures
// (GEOBROKER_WRITE_FIXTURES=1 node scripts/run-tests.mjs partition-formats; it writes only files
// that do not exist yet) only for a deliberate new version, keeping the old files.

const fixtureUrl = (name: string) => new URL(`../../../../broker/test/fixtures/${name}`, import.meta.url);
const fixture = (name: string) => readFileSync(fixtureUrl(name));

function sameAsFixture(name: string, bytes: Uint8Array): void {
  if (process.env.GEOBROKER_WRITE_FIXTURES === "1" && !existsSync(fixtureUrl(name)))
    writeFileSync(fixtureUrl(name), bytes);
  assert.ok(
    Buffer.from(bytes).equals(fixture(name)),
    `${name}: this encoding no longer produces the committed bytes; a durable format changed`,
  );
}

const second = 1_000_000;
const t0 = 1_700_000_000 * second;
const dedup = { windowMicros: 90 * second, maxIds: 1000 };

/** The partition the format 1 fixture was exported from. */
async function imagedPartition(): Promise<Replica> {
  const replica = await Replica.open(new CrashDb());
  await replica.apply([
    publishEntry(1, t0, ["x1", "", "x2"], { dedup }),
    publishEntry(2, t0 + second, ["x3"], { dedup }),
  ]);
  return replica;
}

test("partition image format 1 fixture: decodes field by field, imports, and is what export still writes", async () => {
  sameAsFixture("partition-image-v1.bin", await (await imagedPartition()).store.exportImage(group));
  const bytes = fixture("partition-image-v1.bin");
  const image = decodeImage(bytes);
  assert.equal(image.formatVersion, 1);
  assert.deepEqual(image.counters, {
    first: 0,
    next: 4,
    applied: 2,
    lastTs: t0 + second,
    bytes: image.counters.total,
    total: 3 * "body of x1 at 1".length + "body of  at 1".length,
  });
  assert.deepEqual(
    image.messages.map((m) => m.offset),
    [0, 1, 2, 3],
  );
  assert.deepEqual(image.dedup, [
    { messageId: "x1", offset: 0, timestampMicros: t0 },
    { messageId: "x2", offset: 2, timestampMicros: t0 },
    { messageId: "x3", offset: 3, timestampMicros: t0 + second },
  ]);

  const store = await PartitionStore.open(new CrashDb().open());
  await store.importImage(group, bytes, 2);
  assert.equal(store.nextOffset(group), 4);
  assert.equal(store.appliedIndex(group), 2);
  assert.deepEqual(
    (await store.read(group, 0, 10, 1 << 20)).map((m) => m.messageId),
    ["x1", "", "x2", "x3"],
  );
  assert.deepEqual(await store.dedupWindow(group), image.dedup);
});

test("partition image format 0 fixture (JSON header, written by the exporter before versioning) still imports", async () => {
  const bytes = fixture("partition-image-v0.bin");
  const image = decodeImage(bytes);
  assert.equal(image.formatVersion, 0);
  assert.deepEqual(image.dedup, [], "format 0 carried no dedup window");
  const store = await PartitionStore.open(new CrashDb().open());
  await store.importImage(5, bytes, 12);
  assert.equal(store.firstOffset(5), 1);
  assert.equal(store.nextOffset(5), 4);
  assert.equal(store.appliedIndex(5), 12, "format 0 takes the snapshot's index");
  assert.equal(store.retainedBytes(5), 45);
  const messages = await store.read(5, 0, 10, 1 << 20);
  assert.deepEqual(
    messages.map((m) => [m.offset, m.messageId, new TextDecoder().decode(m.body), m.headers]),
    [
      [1, "id-1", "format 0 body 1", {}],
      [2, "id-2", "format 0 body 2", { h: "v" }],
      [3, "", "format 0 body 3", {}],
    ],
  );
  assert.equal(new TextDecoder().decode(messages[0]!.key), "k1");
  assert.equal(await store.timestampOf(5, 2), 1_700_000_000_002_000, "index rows rebuilt");
  assert.equal(await store.offsetWithinBytes(5, 15), 3);
});

test("dedup row fixture decodes, and encoding still writes it", () => {
  const row = { messageId: "retry-7", offset: 41, timestampMicros: t0 + 5 };
  sameAsFixture("dedup-row-v1.bin", encodeDedupRow(row));
  assert.deepEqual(decodeDedupRow(41, fixture("dedup-row-v1.bin")), row);
});

test("publish batch fixtures: v1 (no dedup header) and v2 (with it) decode, and encoding still writes them", () => {
  const batch = {
    proposer: "eu-1",
    sequence: 9,
    timestampMicros: t0,
    messages: [
      { key: new Uint8Array([1]), body: new Uint8Array([2, 3]), headers: { a: "b" }, messageId: "m" },
    ],
  };
  sameAsFixture("publish-batch-v1.bin", encodePublishBatch(batch));
  sameAsFixture("publish-batch-v2.bin", encodePublishBatch({ ...batch, dedup }));
  const v1 = fixture("publish-batch-v1.bin");
  assert.equal(commandKind(v1), CommandKind.PublishBatch);
  const d1 = decodePublishBatch(v1);
  assert.equal(d1.dedup, undefined, "v1 carries no window: apply uses legacyDedupParams");
  assert.deepEqual(
    { ...d1, messages: d1.messages.map((m) => ({ ...m, key: [...m.key], body: [...m.body] })) },
    {
      ...batch,
      messages: [{ key: [1], body: [2, 3], headers: { a: "b" }, messageId: "m" }],
    },
  );

  const v2 = fixture("publish-batch-v2.bin");
  assert.equal(commandKind(v2), CommandKind.PublishBatchV2);
  const d2 = decodePublishBatch(v2);
  assert.deepEqual(d2.dedup, dedup);
  assert.equal(d2.messages[0]!.messageId, "m");
});

// The versioned (protobuf) formats of docs/decisions/0026, and the legacy kinds they sit beside.

const batch: PublishBatch = {
  proposer: "eu-1",
  sequence: 9,
  timestampMicros: t0,
  messages: [
    { key: new Uint8Array([1]), body: new Uint8Array([2, 3]), headers: { a: "b" }, messageId: "m" },
    { key: new Uint8Array(), body: new Uint8Array(), headers: {}, messageId: "" },
  ],
};
const retention: RetentionEntry = {
  nowMicros: t0,
  policy: { maxAgeMs: 3_600_000, maxBytes: 1 << 20, maxMessages: 0, keepUnacknowledged: true },
  unacknowledgedFloor: 17,
};
const envelope: MetadataEnvelope = {
  proposer: "eu-0/5f1c",
  sequence: 4,
  command: { type: "deleteTopic", name: "orders" },
};
const record: StoredMessage = {
  offset: 12,
  timestampMicros: t0 + 5,
  key: new TextEncoder().encode("k"),
  body: new TextEncoder().encode("body"),
  headers: { "content-type": "text/plain", z: "ü" },
  messageId: "retry-7",
};
const plain = (m: StoredMessage) => ({ ...m, key: [...m.key], body: [...m.body] });

test("publish batch v3 (protobuf) fixture decodes, and the protobuf form still writes it", () => {
  sameAsFixture(
    "publish-batch-v3.bin",
    inFormat("protobuf", () => encodePublishBatch({ ...batch, dedup })),
  );
  const bytes = fixture("publish-batch-v3.bin");
  assert.equal(commandKind(bytes), CommandKind.PublishBatchProto);
  const d = decodePublishBatch(bytes);
  assert.deepEqual(
    { ...d, messages: d.messages.map((m) => ({ ...m, key: [...m.key], body: [...m.body] })) },
    {
      ...batch,
      dedup,
      messages: [
        { key: [1], body: [2, 3], headers: { a: "b" }, messageId: "m" },
        { key: [], body: [], headers: {}, messageId: "" },
      ],
    },
  );
});

/**
 * A value with a legacy fixture `<name>-v<legacy>.bin` and a protobuf one `<name>-v<legacy + 1>.bin`:
 * each form still writes its own, both decode to the value; returns the two fixtures.
 */
function bothForms<T>(
  name: string,
  legacyVersion: number,
  encode: (value: T) => Uint8Array,
  decode: (bytes: Buffer) => unknown,
  value: T,
  expected: unknown = value,
): [Buffer, Buffer] {
  const files = [`${name}-v${legacyVersion}.bin`, `${name}-v${legacyVersion + 1}.bin`] as const;
  sameAsFixture(
    files[0],
    inFormat("legacy", () => encode(value)),
  );
  sameAsFixture(
    files[1],
    inFormat("protobuf", () => encode(value)),
  );
  const forms: [Buffer, Buffer] = [fixture(files[0]), fixture(files[1])];
  for (const bytes of forms) assert.deepEqual(decode(bytes), expected);
  return forms;
}

test("retention entry fixtures: v1 (JSON) and v2 (protobuf) decode, and each form still writes its own", () => {
  const [v1, v2] = bothForms("retention-entry", 1, encodeRetentionEntry, decodeRetentionEntry, retention);
  assert.deepEqual([commandKind(v1), commandKind(v2)], [CommandKind.Retention, CommandKind.RetentionProto]);
});

test("metadata entry fixtures: v1 (JSON) and v2 (protobuf envelope) decode, and each form still writes its own", () => {
  const [v1, v2] = bothForms("metadata-entry", 1, encodeMetadataCommand, decodeMetadataCommand, envelope);
  assert.deepEqual([commandKind(v1), commandKind(v2)], [CommandKind.Metadata, CommandKind.MetadataProto]);
});

test("message record fixtures: v1 (hand-written) and v2 (0xFF + StoredMessage) decode, and each form still writes its own", () => {
  const [, v2] = bothForms(
    "message-record",
    1,
    encodeMessage,
    (b) => plain(decodeMessage(12, b)),
    record,
    plain(record),
  );
  assert.equal(v2[0], messageRecordMarker);
});

test("new kind bytes and the record marker cannot be mistaken for a legacy first byte", () => {
  // Raft entries: the legacy builds wrote kinds 1-4 (every legacy fixture starts with one of them).
  const newKinds = [CommandKind.PublishBatchProto, CommandKind.RetentionProto, CommandKind.MetadataProto];
  for (const kind of newKinds) assert.ok(!legacyCommandKinds.includes(kind), `kind ${kind} is a legacy kind`);
  for (const name of [
    "publish-batch-v1.bin",
    "publish-batch-v2.bin",
    "retention-entry-v1.bin",
    "metadata-entry-v1.bin",
  ])
    assert.ok(legacyCommandKinds.includes(fixture(name)[0]!), `${name} starts with a legacy kind`);
  for (const name of ["publish-batch-v3.bin", "retention-entry-v2.bin", "metadata-entry-v2.bin"])
    assert.ok(newKinds.includes(fixture(name)[0]!), `${name} starts with a new kind`);
  // Message rows: a legacy row starts with its timestamp, a double, big-endian; timestamps are never
  // negative, so the sign bit is clear and the first byte is at most 0x7F, below the 0xFF marker.
  for (const timestampMicros of [
    0,
    1,
    t0,
    Date.now() * 1000,
    Number.MAX_SAFE_INTEGER,
    Number.MAX_VALUE,
    Infinity,
  ]) {
    const first = encodeLegacyMessage({ ...record, timestampMicros })[0]!;
    assert.ok(
      first <= 0x7f && first !== messageRecordMarker,
      `timestamp ${timestampMicros}: first byte ${first}`,
    );
  }
  // The records inside the committed image fixtures are legacy rows too, and still decode as such.
  for (const name of ["partition-image-v0.bin", "partition-image-v1.bin"])
    for (const m of decodeImage(fixture(name)).messages) {
      assert.ok(m.record[0]! <= 0x7f, `${name}: offset ${m.offset}`);
      assert.ok(decodeMessage(m.offset, m.record).body.byteLength > 0);
    }
});

test("the hand-written message record codec is the StoredMessage of partition.proto, byte for byte", () => {
  const cases: StoredMessage[] = [
    record,
    {
      ...record,
      timestampMicros: 0,
      key: new Uint8Array(),
      body: new Uint8Array(),
      headers: {},
      messageId: "",
    },
    {
      ...record,
      body: new Uint8Array(300_000).fill(9),
      headers: { "": "", a: "" },
      messageId: "日本".repeat(100),
    },
  ];
  for (const m of cases) {
    const ours = inFormat("protobuf", () => encodeMessage(m));
    const theirs = toBinary(
      StoredMessageSchema,
      create(StoredMessageSchema, {
        timestampMicros: m.timestampMicros,
        key: m.key,
        body: m.body,
        headers: m.headers,
        messageId: m.messageId,
      }),
    );
    assert.ok(Buffer.from(ours.subarray(1)).equals(Buffer.from(theirs)), "encodings differ");
    const withMarker = Buffer.concat([Buffer.from([messageRecordMarker]), theirs]);
    assert.deepEqual(plain(decodeMessage(m.offset, withMarker)), plain(m));
  }
  // A field a later build adds is skipped; a truncated row is refused.
  const later = Buffer.concat([
    inFormat("protobuf", () => encodeMessage(record)),
    Buffer.from([(9 << 3) | 0, 1, (10 << 3) | 2, 1, 0]),
  ]);
  assert.deepEqual(plain(decodeMessage(12, later)), plain(record));
  const full = inFormat("protobuf", () => encodeMessage(record));
  assert.throws(() => decodeMessage(12, full.subarray(0, full.byteLength - 3)), RangeError);
});

test("a partition written in the protobuf forms applies, exports and imports as one written in the legacy forms", async () => {
  const run = (format: "legacy" | "protobuf") =>
    inFormatAsync(format, async () => {
      const replica = await Replica.open(new CrashDb());
      await replica.apply([
        publishEntry(1, t0, ["x1", "", "x2"], { dedup }),
        publishEntry(2, t0 + second, ["x1", "x3"], { dedup }),
        retentionEntry(3, maxMessages(3, t0 + 2 * second)),
      ]);
      const image = await replica.store.exportImage(group);
      const store = await PartitionStore.open(new CrashDb().open());
      await store.importImage(group, image, 3);
      return {
        next: store.nextOffset(group),
        first: store.firstOffset(group),
        messages: (await store.read(group, 0, 10, 1 << 20)).map(plain),
        dedup: await store.dedupWindow(group),
      };
    });
  assert.deepEqual(await run("protobuf"), await run("legacy"));
});
