import type { StoredMessage } from "../engine/message.js";
import { writeFormat } from "../engine/write-format.js";
import type { Entry, HardState } from "../raft/types.js";

// Compact binary records. Entries and messages are on the hot path: no JSON.

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder();

export function encodeEntry(e: Entry): Buffer {
  const b = Buffer.allocUnsafe(9 + e.data.byteLength);
  b.writeDoubleBE(e.term, 0);
  b[8] = e.type;
  b.set(e.data, 9);
  return b;
}

export function decodeEntry(index: number, b: Buffer): Entry {
  return { term: b.readDoubleBE(0), index, type: b[8]!, data: b.subarray(9) };
}

export function encodeHardState(hs: HardState): Buffer {
  const vote = textEncoder.encode(hs.vote);
  const b = Buffer.allocUnsafe(16 + vote.byteLength);
  b.writeDoubleBE(hs.term, 0);
  b.writeDoubleBE(hs.commit, 8);
  b.set(vote, 16);
  return b;
}

export function decodeHardState(b: Buffer): HardState {
  return { term: b.readDoubleBE(0), commit: b.readDoubleBE(8), vote: textDecoder.decode(b.subarray(16)) };
}

/**
 * The first byte of a message row in the protobuf form: 0xFF, then geobroker.storage.v1.StoredMessage.
 * A legacy row starts with the high byte of a non-negative double (its timestamp), at most 0x7F.
 */
export const messageRecordMarker = 0xff;

/**
 * A message row's value in this process's write format (storage/write-format.ts). The protobuf form
 * is written and read here by hand, straight into and out of one buffer: it is on the apply path of
 * every message, and protobuf-es's reflective encoder took three times as long (message-record
 * tests check these bytes against protobuf-es both ways).
 */
export function encodeMessage(m: StoredMessage): Buffer {
  if (writeFormat() === "legacy") return encodeLegacyMessage(m);
  const headers = Object.entries(m.headers).map(([k, v]) => {
    const kb = Buffer.byteLength(k);
    const vb = Buffer.byteLength(v);
    // Map entries carry key and value even when empty, as protobuf-es writes them.
    const entry = 2 + varintSize(kb) + kb + varintSize(vb) + vb;
    return { k, v, kb, vb, entry };
  });
  const idBytes = Buffer.byteLength(m.messageId);
  let size =
    1 + (m.timestampMicros === 0 ? 0 : 9) + fieldSize(m.key.byteLength) + fieldSize(m.body.byteLength);
  for (const h of headers) size += 1 + varintSize(h.entry) + h.entry;
  size += fieldSize(idBytes);
  const b = Buffer.allocUnsafe(size);
  b[0] = messageRecordMarker;
  let at = 1;
  if (m.timestampMicros !== 0) {
    b[at] = (1 << 3) | 1;
    b.writeDoubleLE(m.timestampMicros, at + 1);
    at += 9;
  }
  const bytes = (tag: number, v: Uint8Array) => {
    if (v.byteLength === 0) return;
    b[at] = tag;
    at = writeVarint(b, at + 1, v.byteLength);
    b.set(v, at);
    at += v.byteLength;
  };
  const text = (tag: number, v: string, length: number) => {
    b[at] = tag;
    at = writeVarint(b, at + 1, length);
    at += b.write(v, at, "utf8");
  };
  bytes((2 << 3) | 2, m.key);
  bytes((3 << 3) | 2, m.body);
  for (const h of headers) {
    b[at] = (4 << 3) | 2;
    at = writeVarint(b, at + 1, h.entry);
    text((1 << 3) | 2, h.k, h.kb);
    text((2 << 3) | 2, h.v, h.vb);
  }
  if (idBytes > 0) text((5 << 3) | 2, m.messageId, idBytes);
  return b;
}

/** Bytes of a length-delimited field of `length` bytes, omitted when empty (proto3). */
const fieldSize = (length: number) => (length === 0 ? 0 : 1 + varintSize(length) + length);
const varintSize = (n: number) =>
  n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x20_0000 ? 3 : n < 0x1000_0000 ? 4 : 5;

function writeVarint(b: Buffer, at: number, n: number): number {
  while (n >= 0x80) {
    b[at++] = (n & 0x7f) | 0x80;
    n >>>= 7;
  }
  b[at++] = n;
  return at;
}

export function decodeMessage(offset: number, b: Buffer): StoredMessage {
  if (b[0] !== messageRecordMarker) return decodeLegacyMessage(offset, b);
  const m: StoredMessage = {
    offset,
    timestampMicros: 0,
    key: emptyBytes,
    body: emptyBytes,
    headers: {},
    messageId: "",
  };
  const r = new WireReader(b, 1, b.byteLength);
  while (r.more()) {
    const tag = r.varint();
    if (tag === ((1 << 3) | 1)) m.timestampMicros = r.double();
    else if (tag === ((2 << 3) | 2)) m.key = r.bytes();
    else if (tag === ((3 << 3) | 2)) m.body = r.bytes();
    else if (tag === ((5 << 3) | 2)) m.messageId = r.bytes().toString("utf8");
    else if (tag === ((4 << 3) | 2)) {
      // A map<string, string> entry: key field 1, value field 2.
      const entry = r.bytes();
      const e = new WireReader(entry, 0, entry.byteLength);
      let key = "";
      let value = "";
      while (e.more()) {
        const t = e.varint();
        if (t === ((1 << 3) | 2)) key = e.bytes().toString("utf8");
        else if (t === ((2 << 3) | 2)) value = e.bytes().toString("utf8");
        else e.skip(t);
      }
      m.headers[key] = value;
    } else r.skip(tag);
  }
  return m;
}

const emptyBytes = new Uint8Array(0);

/** Protobuf wire reading over one buffer, without copies: bytes fields are views of it. */
class WireReader {
  constructor(
    private readonly b: Buffer,
    private at: number,
    private readonly end: number,
  ) {}

  more(): boolean {
    return this.at < this.end;
  }

  /** A tag or a length: both fit in 32 bits in a message row. */
  varint(): number {
    let n = 0;
    for (let shift = 0; shift <= 28; shift += 7) {
      if (this.at >= this.end) break;
      const byte = this.b[this.at++]!;
      n += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return n;
    }
    throw new RangeError("message record: bad varint");
  }

  double(): number {
    this.need(8);
    const v = this.b.readDoubleLE(this.at);
    this.at += 8;
    return v;
  }

  bytes(): Buffer {
    const length = this.varint();
    this.need(length);
    const v = this.b.subarray(this.at, this.at + length);
    this.at += length;
    return v;
  }

  /** A field this build does not know (a later build added it): skipped, as protobuf does. */
  skip(tag: number): void {
    const wire = tag & 7;
    if (wire === 0) this.varint();
    else if (wire === 1) this.advance(8);
    else if (wire === 2) this.bytes();
    else if (wire === 5) this.advance(4);
    else throw new RangeError(`message record: unsupported wire type in tag ${tag}`);
  }

  private advance(n: number): void {
    this.need(n);
    this.at += n;
  }

  private need(n: number): void {
    if (this.at + n > this.end) throw new RangeError("message record is truncated");
  }
}

// Legacy: timestamp f64 | key len u32 | key | body len u32 | body | headers len u32 | JSON | id len u16 | id
export function encodeLegacyMessage(m: StoredMessage): Buffer {
  const headers =
    Object.keys(m.headers).length === 0 ? undefined : textEncoder.encode(JSON.stringify(m.headers));
  const id = textEncoder.encode(m.messageId);
  const b = Buffer.allocUnsafe(
    8 + 4 + m.key.byteLength + 4 + m.body.byteLength + 4 + (headers?.byteLength ?? 0) + 2 + id.byteLength,
  );
  let at = b.writeDoubleBE(m.timestampMicros, 0);
  at = b.writeUInt32BE(m.key.byteLength, at);
  b.set(m.key, at);
  at += m.key.byteLength;
  at = b.writeUInt32BE(m.body.byteLength, at);
  b.set(m.body, at);
  at += m.body.byteLength;
  at = b.writeUInt32BE(headers?.byteLength ?? 0, at);
  if (headers) {
    b.set(headers, at);
    at += headers.byteLength;
  }
  at = b.writeUInt16BE(id.byteLength, at);
  b.set(id, at);
  return b;
}

function decodeLegacyMessage(offset: number, b: Buffer): StoredMessage {
  const timestampMicros = b.readDoubleBE(0);
  let at = 8;
  const keyLength = b.readUInt32BE(at);
  at += 4;
  const key = b.subarray(at, at + keyLength);
  at += keyLength;
  const bodyLength = b.readUInt32BE(at);
  at += 4;
  const body = b.subarray(at, at + bodyLength);
  at += bodyLength;
  const headersLength = b.readUInt32BE(at);
  at += 4;
  const headers =
    headersLength === 0
      ? {}
      : (JSON.parse(textDecoder.decode(b.subarray(at, at + headersLength))) as Record<string, string>);
  at += headersLength;
  const idLength = b.readUInt16BE(at);
  at += 2;
  return {
    offset,
    timestampMicros,
    key,
    body,
    headers,
    messageId: textDecoder.decode(b.subarray(at, at + idLength)),
  };
}
