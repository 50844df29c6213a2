// gRPC length-prefixed framing: [compressed flag u8][length u32 BE][payload].

export function frame(payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(5 + payload.byteLength);
  new DataView(out.buffer).setUint32(1, payload.byteLength);
  out.set(payload, 5);
  return out;
}

/**
 * Reassembles frames from arbitrarily split chunks. Chunks are kept as they come and joined once a
 * whole frame is there: joining on every chunk made a large frame cost its size times its chunk
 * count in copies (a 1 MiB Raft append in 16 KiB chunks copied 32 MiB).
 */
export class FrameReader {
  private chunks: Buffer[] = [];
  private buffered = 0;

  push(chunk: Buffer): Uint8Array[] {
    this.chunks.push(chunk);
    this.buffered += chunk.byteLength;
    const out: Uint8Array[] = [];
    for (;;) {
      if (this.buffered < 5) break;
      const head = this.peek(5);
      const length = head.readUInt32BE(1);
      if (this.buffered < 5 + length) break;
      const whole = this.take(5 + length);
      out.push(whole.subarray(5));
    }
    return out;
  }

  /** The first n buffered bytes (n <= buffered), joining only as many chunks as needed. */
  private peek(n: number): Buffer {
    if (this.chunks[0]!.byteLength < n) this.join(n);
    return this.chunks[0]!;
  }

  private take(n: number): Buffer {
    if (this.chunks[0]!.byteLength < n) this.join(n);
    const first = this.chunks[0]!;
    const taken = first.subarray(0, n);
    if (first.byteLength === n) this.chunks.shift();
    else this.chunks[0] = first.subarray(n);
    this.buffered -= n;
    return taken;
  }

  /** Merges leading chunks until the first holds at least n bytes: each byte is copied once. */
  private join(n: number): void {
    let count = 0;
    let size = 0;
    while (size < n) size += this.chunks[count++]!.byteLength;
    this.chunks.splice(0, count, Buffer.concat(this.chunks.slice(0, count), size));
  }
}
