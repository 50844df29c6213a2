import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  DedupRowSchema,
  type PartitionCounters,
  PartitionImageSchema,
} from "../../../gen/geobroker/storage/v1/partition_pb.js";
import type { DedupRecord } from "../engine/ports.js";

// The partition's durable formats other than the message record (codec.ts): the snapshot image and
// the dedup rows, defined in proto/geobroker/storage/v1/partition.proto.

/** A partition's counters (the `P` row, JSON; and the image's header). */
export interface Counters {
  first: number;
  next: number;
  applied: number;
  lastTs: number;
  /** Body bytes retained. */
  bytes: number;
  /** Body bytes of every message ever appended (the index rows count from here). */
  total?: number;
}

export interface DecodedImage {
  /** 0: the JSON-header layout of before; 1: PartitionImage. */
  formatVersion: number;
  counters: Counters;
  /** Offset and stored message record, oldest first. */
  messages: { offset: number; record: Buffer }[];
  dedup: DedupRecord[];
}

const magic = Buffer.from("GBPI");
export const imageFormatVersion = 1;

// Offsets, indexes and byte counts are uint64 on the wire and safe integers in memory.
const u64 = (n: number) => BigInt(n);
const num = (n: bigint) => {
  if (n > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError(`partition image: ${n} is out of range`);
  return Number(n);
};

const toProto = (c: Counters): Omit<PartitionCounters, "$typeName"> => ({
  firstOffset: u64(c.first),
  nextOffset: u64(c.next),
  appliedIndex: u64(c.applied),
  lastTimestampMicros: c.lastTs,
  retainedBytes: u64(c.bytes),
  totalBytes: u64(c.total ?? c.bytes),
});

export function encodeImage(image: Omit<DecodedImage, "formatVersion">): Buffer {
  const body = toBinary(
    PartitionImageSchema,
    create(PartitionImageSchema, {
      formatVersion: imageFormatVersion,
      counters: toProto(image.counters),
      messages: image.messages.map((m) => ({ offset: u64(m.offset), record: m.record })),
      dedup: image.dedup.map((d) => ({
        offset: u64(d.offset),
        row: { messageId: d.messageId, timestampMicros: d.timestampMicros },
      })),
    }),
  );
  return Buffer.concat([magic, body]);
}

export function decodeImage(image: Uint8Array): DecodedImage {
  const b = Buffer.from(image.buffer, image.byteOffset, image.byteLength);
  if (b.subarray(0, 4).equals(magic)) return decodeVersioned(b.subarray(4));
  // Format 0 (before images were versioned): u32 LE header length | JSON counters | per message
  // [offset f64 BE][length u32 BE][record]. Its JSON always starts with "{", never a magic byte.
  if (b.byteLength >= 5 && b[4] === 0x7b) return decodeLegacy(b);
  throw new Error("not a partition image (neither format 0 nor a versioned one)");
}

function decodeVersioned(body: Buffer): DecodedImage {
  const p = fromBinary(PartitionImageSchema, body);
  if (p.formatVersion !== imageFormatVersion || !p.counters)
    throw new Error(`partition image format ${p.formatVersion} is not one this node reads`);
  const c = p.counters;
  return {
    formatVersion: p.formatVersion,
    counters: {
      first: num(c.firstOffset),
      next: num(c.nextOffset),
      applied: num(c.appliedIndex),
      lastTs: c.lastTimestampMicros,
      bytes: num(c.retainedBytes),
      total: num(c.totalBytes),
    },
    messages: p.messages.map((m) => ({ offset: num(m.offset), record: Buffer.from(m.record) })),
    dedup: p.dedup.map((d) => ({
      offset: num(d.offset),
      messageId: d.row?.messageId ?? "",
      timestampMicros: d.row?.timestampMicros ?? 0,
    })),
  };
}

function decodeLegacy(b: Buffer): DecodedImage {
  const headerLength = b.readUInt32LE(0);
  const counters = JSON.parse(b.subarray(4, 4 + headerLength).toString("utf8")) as Counters;
  const messages: DecodedImage["messages"] = [];
  for (let at = 4 + headerLength; at < b.byteLength; ) {
    const length = b.readUInt32BE(at + 8);
    messages.push({ offset: b.readDoubleBE(at), record: Buffer.from(b.subarray(at + 12, at + 12 + length)) });
    at += 12 + length;
  }
  // Format 0 carried no dedup state: the window starts empty.
  return { formatVersion: 0, counters, messages, dedup: [] };
}

/** A dedup row's value (the offset is in its key). */
export function encodeDedupRow(r: DedupRecord): Buffer {
  return Buffer.from(
    toBinary(
      DedupRowSchema,
      create(DedupRowSchema, { messageId: r.messageId, timestampMicros: r.timestampMicros }),
    ),
  );
}

export function decodeDedupRow(offset: number, value: Uint8Array): DedupRecord {
  const r = fromBinary(DedupRowSchema, value);
  return { messageId: r.messageId, offset, timestampMicros: r.timestampMicros };
}
