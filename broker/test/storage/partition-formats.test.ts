import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { test } from "node:test";
import {
  CommandKind,
  commandKind,
  decodePublishBatch,
  encodePublishBatch,
} from "../../src/cluster/commands.js";
import { CrashDb } from "../../src/storage/crash-db.js";
import { decodeDedupRow, decodeImage, encodeDedupRow } from "../../src/storage/partition-image.js";
import { PartitionStore } from "../../src/storage/partition-store.js";
import { group, publishEntry, Replica } from "./partition-replica.js";

// Durable formats against committed fixtures (broker/test/fixtures/). A test here failing means a
// format changed: give it a new version and keep decoding the old one. Regenerate the fixtures
// (GEOBROKER_WRITE_FIXTURES=1) only for a deliberate new version, keeping the old files.

const fixtureUrl = (name: string) => new URL(`../../../../broker/test/fixtures/${name}`, import.meta.url);
const fixture = (name: string) => readFileSync(fixtureUrl(name));

function sameAsFixture(name: string, bytes: Uint8Array): void {
  if (process.env.GEOBROKER_WRITE_FIXTURES === "1") writeFileSync(fixtureUrl(name), bytes);
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
