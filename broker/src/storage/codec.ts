import type { StoredMessage } from "../cluster/ports.js";
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

// Message: timestamp f64 | key len u32 | key | body len u32 | body | headers len u32 | JSON | id len u16 | id
export function encodeMessage(m: StoredMessage): Buffer {
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

export function decodeMessage(offset: number, b: Buffer): StoredMessage {
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
