// Payloads of Raft entries: one kind byte, then the payload. The byte names the kind and its format
// (proto/geobroker/storage/v1/entries.proto): kinds 1-4 are the hand-written layouts and JSON of
// builds before docs/decisions/0026, still decoded; kinds 5-7 are protobuf messages, written when
// storage.writeFormat is `protobuf` (storage/write-format.ts).

import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  MetadataEntrySchema,
  PublishBatchSchema,
  RetentionEntrySchema,
} from "../../../../gen/geobroker/storage/v1/entries_pb.js";
import type { PublishedMessage } from "../../engine/message.js";
import { writeFormat } from "../../engine/write-format.js";
import type { DedupParams } from "./dedup-window.js";
import type { MetadataCommand } from "./metadata-state.js";
import type { RetentionEntry } from "./retention.js";

/** One proposal to a data group: many publishes that arrived together, committed as one entry. */
export interface PublishBatch {
  /** Node that proposed it and its local sequence number: lets the proposer find its result on apply. */
  proposer: string;
  sequence: number;
  /** Leader's clock at proposal (unix micros); apply makes timestamps non-decreasing. */
  timestampMicros: number;
  /**
   * The dedup window as the proposer was configured, so that every replica applies the batch with
   * the same one (format v2). Absent in batches encoded before (format v1): those are applied with
   * `legacyDedupParams`.
   */
  dedup?: DedupParams;
  messages: PublishedMessage[];
}

export enum CommandKind {
  PublishBatch = 1,
  Metadata = 2,
  /** A data group's retention check (retention.ts), JSON. */
  Retention = 3,
  /** A publish batch, format v2: v1 with the proposer's dedup window in its header. */
  PublishBatchV2 = 4,
  /** geobroker.storage.v1.PublishBatch. */
  PublishBatchProto = 5,
  /** geobroker.storage.v1.RetentionEntry. */
  RetentionProto = 6,
  /** geobroker.storage.v1.MetadataEntry. */
  MetadataProto = 7,
}

/** Every kind byte a build before docs/decisions/0026 wrote. */
export const legacyCommandKinds: readonly CommandKind[] = [
  CommandKind.PublishBatch,
  CommandKind.Metadata,
  CommandKind.Retention,
  CommandKind.PublishBatchV2,
];

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder();
const emptyHeaders = new Uint8Array(0);

export function commandKind(data: Uint8Array): CommandKind | undefined {
  return data.byteLength === 0 ? undefined : (data[0] as CommandKind);
}

// Layout v1: kind u8 (1) | proposer len u8 + utf8 | sequence f64 | timestamp f64 | count u32 |
// per message: key len u32 + bytes | body len u32 + bytes | headers len u32 + JSON | id len u16 + utf8.
// Layout v2: kind u8 (4), then as v1 with dedup window micros f64 | dedup max ids u32 after the
// timestamp. The kind byte is the version: entries already in logs keep decoding as they were.
const dedupHeaderBytes = 8 + 4;

export function isPublishBatch(data: Uint8Array): boolean {
  const kind = commandKind(data);
  return (
    kind === CommandKind.PublishBatch ||
    kind === CommandKind.PublishBatchV2 ||
    kind === CommandKind.PublishBatchProto
  );
}

export function isRetentionEntry(data: Uint8Array): boolean {
  const kind = commandKind(data);
  return kind === CommandKind.Retention || kind === CommandKind.RetentionProto;
}

export function isMetadataCommand(data: Uint8Array): boolean {
  const kind = commandKind(data);
  return kind === CommandKind.Metadata || kind === CommandKind.MetadataProto;
}

/** A publish batch in this process's write format (always with its dedup window in protobuf). */
export function encodePublishBatch(b: PublishBatch): Uint8Array {
  return writeFormat() === "protobuf" ? encodePublishBatchProto(b) : encodeLegacyPublishBatch(b);
}

/** Layout v1 or v2 (v2 when the batch has its dedup window). */
export function encodeLegacyPublishBatch(b: PublishBatch): Uint8Array {
  const proposer = textEncoder.encode(b.proposer);
  if (proposer.byteLength > 255) throw new Error("proposer id longer than 255 bytes");
  const parts = b.messages.map((m) => ({
    m,
    headers:
      Object.keys(m.headers).length === 0 ? emptyHeaders : textEncoder.encode(JSON.stringify(m.headers)),
    id: textEncoder.encode(m.messageId),
  }));
  let size = 1 + 1 + proposer.byteLength + 8 + 8 + (b.dedup ? dedupHeaderBytes : 0) + 4;
  for (const p of parts)
    size += 4 + p.m.key.byteLength + 4 + p.m.body.byteLength + 4 + p.headers.byteLength + 2 + p.id.byteLength;
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  let at = 0;
  out[at++] = b.dedup ? CommandKind.PublishBatchV2 : CommandKind.PublishBatch;
  out[at++] = proposer.byteLength;
  out.set(proposer, at);
  at += proposer.byteLength;
  view.setFloat64(at, b.sequence);
  at += 8;
  view.setFloat64(at, b.timestampMicros);
  at += 8;
  if (b.dedup) {
    view.setFloat64(at, b.dedup.windowMicros);
    view.setUint32(at + 8, Math.min(b.dedup.maxIds, 0xffff_ffff));
    at += dedupHeaderBytes;
  }
  view.setUint32(at, parts.length);
  at += 4;
  const put32 = (bytes: Uint8Array) => {
    view.setUint32(at, bytes.byteLength);
    at += 4;
    out.set(bytes, at);
    at += bytes.byteLength;
  };
  for (const p of parts) {
    put32(p.m.key);
    put32(p.m.body);
    put32(p.headers);
    view.setUint16(at, p.id.byteLength);
    at += 2;
    out.set(p.id, at);
    at += p.id.byteLength;
  }
  return out;
}

export function decodePublishBatch(data: Uint8Array): PublishBatch {
  return data[0] === CommandKind.PublishBatchProto
    ? decodePublishBatchProto(data)
    : decodeLegacyPublishBatch(data);
}

function decodeLegacyPublishBatch(data: Uint8Array): PublishBatch {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  let at = 1;
  const proposerLength = data[at++]!;
  const proposer = textDecoder.decode(data.subarray(at, at + proposerLength));
  at += proposerLength;
  const sequence = view.getFloat64(at);
  at += 8;
  const timestampMicros = view.getFloat64(at);
  at += 8;
  let dedup: DedupParams | undefined;
  if (data[0] === CommandKind.PublishBatchV2) {
    dedup = { windowMicros: view.getFloat64(at), maxIds: view.getUint32(at + 8) };
    at += dedupHeaderBytes;
  }
  const count = view.getUint32(at);
  at += 4;
  const take32 = () => {
    const n = view.getUint32(at);
    at += 4;
    if (at + n > data.byteLength) throw new RangeError("publish batch is truncated");
    const bytes = data.subarray(at, at + n);
    at += n;
    return bytes;
  };
  const messages: PublishedMessage[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const key = take32();
    const body = take32();
    const headerBytes = take32();
    const idLength = view.getUint16(at);
    at += 2;
    const messageId = textDecoder.decode(data.subarray(at, at + idLength));
    at += idLength;
    messages[i] = {
      key,
      body,
      headers:
        headerBytes.byteLength === 0
          ? {}
          : (JSON.parse(textDecoder.decode(headerBytes)) as Record<string, string>),
      messageId,
    };
  }
  return { proposer, sequence, timestampMicros, ...(dedup ? { dedup } : {}), messages };
}

/** A metadata command as proposed: who proposed it (ProposalTracker.proposer) and its sequence there. */
export interface MetadataEnvelope {
  /** The proposing tracker (ProposalTracker.proposer: node id and process nonce). */
  proposer: string;
  sequence: number;
  command: MetadataCommand;
}

/** One kind byte followed by a payload. */
function withKind(kind: CommandKind, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(payload.byteLength + 1);
  out[0] = kind;
  out.set(payload, 1);
  return out;
}

const u64 = (n: number) => BigInt(n);
const num = (n: bigint, what: string) => {
  if (n > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError(`${what}: ${n} is out of range`);
  return Number(n);
};

function encodePublishBatchProto(b: PublishBatch): Uint8Array {
  return withKind(
    CommandKind.PublishBatchProto,
    toBinary(
      PublishBatchSchema,
      create(PublishBatchSchema, {
        proposer: b.proposer,
        sequence: u64(b.sequence),
        timestampMicros: b.timestampMicros,
        dedup: b.dedup,
        messages: b.messages,
      }),
    ),
  );
}

function decodePublishBatchProto(data: Uint8Array): PublishBatch {
  const p = fromBinary(PublishBatchSchema, data.subarray(1));
  return {
    proposer: p.proposer,
    sequence: num(p.sequence, "publish batch sequence"),
    timestampMicros: p.timestampMicros,
    ...(p.dedup ? { dedup: { windowMicros: p.dedup.windowMicros, maxIds: p.dedup.maxIds } } : {}),
    messages: p.messages.map((m) => ({
      key: m.key,
      body: m.body,
      headers: m.headers,
      messageId: m.messageId,
    })),
  };
}

export function encodeMetadataCommand(envelope: MetadataEnvelope): Uint8Array {
  if (writeFormat() === "legacy")
    return withKind(CommandKind.Metadata, textEncoder.encode(JSON.stringify(envelope)));
  const entry = create(MetadataEntrySchema, {
    proposer: envelope.proposer,
    sequence: u64(envelope.sequence),
    commandJson: JSON.stringify(envelope.command),
  });
  return withKind(CommandKind.MetadataProto, toBinary(MetadataEntrySchema, entry));
}

export function decodeMetadataCommand(data: Uint8Array): MetadataEnvelope {
  if (data[0] !== CommandKind.MetadataProto) return decodeJsonCommand<MetadataEnvelope>(data);
  const e = fromBinary(MetadataEntrySchema, data.subarray(1));
  return {
    proposer: e.proposer,
    sequence: num(e.sequence, "metadata entry sequence"),
    command: JSON.parse(e.commandJson) as MetadataEnvelope["command"],
  };
}

export function encodeRetentionEntry(entry: RetentionEntry): Uint8Array {
  if (writeFormat() === "legacy")
    return withKind(CommandKind.Retention, textEncoder.encode(JSON.stringify(entry)));
  const { policy } = entry;
  const proto = create(RetentionEntrySchema, {
    nowMicros: entry.nowMicros,
    policy: {
      maxAgeMs: u64(policy.maxAgeMs),
      maxBytes: u64(policy.maxBytes),
      maxMessages: u64(policy.maxMessages),
      keepUnacknowledged: policy.keepUnacknowledged,
    },
    ...(entry.unacknowledgedFloor === undefined
      ? {}
      : { unacknowledgedFloor: u64(entry.unacknowledgedFloor) }),
  });
  return withKind(CommandKind.RetentionProto, toBinary(RetentionEntrySchema, proto));
}

export function decodeRetentionEntry(data: Uint8Array): RetentionEntry {
  if (data[0] !== CommandKind.RetentionProto) return decodeJsonCommand<RetentionEntry>(data);
  const e = fromBinary(RetentionEntrySchema, data.subarray(1));
  const p = e.policy;
  return {
    nowMicros: e.nowMicros,
    policy: {
      maxAgeMs: num(p?.maxAgeMs ?? 0n, "retention maxAgeMs"),
      maxBytes: num(p?.maxBytes ?? 0n, "retention maxBytes"),
      maxMessages: num(p?.maxMessages ?? 0n, "retention maxMessages"),
      keepUnacknowledged: p?.keepUnacknowledged ?? false,
    },
    ...(e.unacknowledgedFloor === undefined
      ? {}
      : { unacknowledgedFloor: num(e.unacknowledgedFloor, "retention floor") }),
  };
}

/** The JSON payload of a legacy metadata command or retention entry (kinds 2 and 3). */
export function decodeJsonCommand<T>(data: Uint8Array): T {
  return JSON.parse(textDecoder.decode(data.subarray(1))) as T;
}
