// gRPC length-prefixed framing: [compressed flag u8][length u32 BE][payload].

export function frame(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(5 + payload.byteLength);
  new DataView(out.buffer).setUint32(1, payload.byteLength);
  out.set(payload, 5);
  return out;
}

/** Reassembles frames from arbitrarily split chunks. */
export class FrameReader {
  private buffered: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): Uint8Array[] {
    this.buffered = this.buffered.byteLength === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    const out: Uint8Array[] = [];
    let at = 0;
    while (this.buffered.byteLength - at >= 5) {
      const length = this.buffered.readUInt32BE(at + 1);
      if (this.buffered.byteLength - at - 5 < length) break;
      out.push(this.buffered.subarray(at + 5, at + 5 + length));
      at += 5 + length;
    }
    this.buffered = at === 0 ? this.buffered : this.buffered.subarray(at);
    return out;
  }
}
