// A Raft batch for a peer as one framed buffer, written in one pass: the bytes of
// frame(toBinary(StreamRequest{from, messages})), without building the protobuf-es message tree
// (create() normalizes every field of every entry), without BinaryWriter's chunks, and without the
// frame's extra copy. The leader encodes every append once per follower, so this is on the path
// of every message (issue 23: encodeBatch was ~10% of the leader's CPU in the batched bench cell).
// The wire format is unchanged and pinned against toBinary by test/transport/batch-encoder.test.ts;
// a message with a snapshot (rare, large, and with nested maps) goes through toBinary.
import type { Entry, Message } from "../raft/types.js";

const wireVarint = 0;
const wireBytes = 2;
const tag = (field: number, wire: number) => (field << 3) | wire;

/** Bytes of a varint of a non-negative integer up to 2^53. */
function varintSize(v: number): number {
  let n = 1;
  while (v >= 128) {
    v = Math.floor(v / 128);
    n++;
  }
  return n;
}

/** proto3 implicit presence: a zero, false or empty field is not written, as toBinary does. */
function uintField(v: number): number {
  if (v === 0) return 0;
  // toBinary refuses these for a uint64 too; the varint below would write garbage.
  if (!(v > 0) || !Number.isSafeInteger(v)) throw new RangeError(`cannot encode ${v} as a uint64`);
  return 1 + varintSize(v);
}
const lenField = (len: number) => (len === 0 ? 0 : 1 + varintSize(len) + len);

function entrySize(e: Entry): number {
  return uintField(e.term) + uintField(e.index) + uintField(e.type) + lenField(e.data.byteLength);
}

interface Sized {
  size: number;
  entrySizes: number[];
  from: number;
  to: number;
}

function messageSize(m: Message): Sized {
  const entrySizes = m.entries.map(entrySize);
  const from = Buffer.byteLength(m.from, "utf8");
  const to = Buffer.byteLength(m.to, "utf8");
  let size =
    uintField(m.groupId) +
    uintField(m.type) +
    lenField(from) +
    lenField(to) +
    uintField(m.term) +
    uintField(m.logTerm) +
    uintField(m.index) +
    uintField(m.commit) +
    (m.reject ? 2 : 0) +
    uintField(m.rejectHint) +
    lenField(m.context?.byteLength ?? 0);
  // A repeated message field writes every element, an empty entry too (tag and length 0).
  for (const s of entrySizes) size += 1 + varintSize(s) + s;
  return { size, entrySizes, from, to };
}

/** True when `encodeFramedBatch` can write the batch itself (no snapshot among its messages). */
export function canEncodeDirectly(messages: Message[]): boolean {
  return messages.every((m) => m.snapshot === undefined);
}

/**
 * The gRPC frame ([0][length u32 BE][payload]) of StreamRequest{from_node_id, messages}; the
 * messages must pass canEncodeDirectly.
 */
export function encodeFramedBatch(fromNodeId: string, messages: Message[]): Uint8Array {
  const sized = messages.map(messageSize);
  const fromLen = Buffer.byteLength(fromNodeId, "utf8");
  let payload = lenField(fromLen);
  for (const s of sized) payload += 1 + varintSize(s.size) + s.size;
  // Its own ArrayBuffer (not the shared pool), as frame() gave: readers may take `.buffer`.
  const out = Buffer.allocUnsafeSlow(5 + payload);
  out[0] = 0;
  out.writeUInt32BE(payload, 1);
  let at = 5;
  const varint = (v: number) => {
    while (v >= 128) {
      out[at++] = (v % 128) | 0x80;
      v = Math.floor(v / 128);
    }
    out[at++] = v;
  };
  const uint = (field: number, v: number) => {
    if (v === 0) return;
    out[at++] = tag(field, wireVarint);
    varint(v);
  };
  const string = (field: number, s: string, len: number) => {
    if (len === 0) return;
    out[at++] = tag(field, wireBytes);
    varint(len);
    at += out.write(s, at, len, "utf8");
  };
  const bytes = (field: number, b: Uint8Array | undefined) => {
    if (!b || b.byteLength === 0) return;
    out[at++] = tag(field, wireBytes);
    varint(b.byteLength);
    out.set(b, at);
    at += b.byteLength;
  };
  string(1, fromNodeId, fromLen);
  messages.forEach((m, i) => {
    const s = sized[i]!;
    out[at++] = tag(2, wireBytes);
    varint(s.size);
    uint(1, m.groupId);
    uint(2, m.type);
    string(3, m.from, s.from);
    string(4, m.to, s.to);
    uint(5, m.term);
    uint(6, m.logTerm);
    uint(7, m.index);
    m.entries.forEach((e, j) => {
      out[at++] = tag(8, wireBytes);
      varint(s.entrySizes[j]!);
      uint(1, e.term);
      uint(2, e.index);
      uint(3, e.type);
      bytes(4, e.data);
    });
    uint(9, m.commit);
    if (m.reject) {
      out[at++] = tag(10, wireVarint);
      out[at++] = 1;
    }
    uint(11, m.rejectHint);
    bytes(13, m.context);
  });
  if (at !== out.byteLength) throw new Error(`batch encoder wrote ${at} of ${out.byteLength} bytes`);
  return out;
}
