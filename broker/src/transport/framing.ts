// gRPC length-prefixed framing: [compressed flag u8][length u32 BE][payload].

/**
 * The largest frame a peer port takes (a Raft batch, a Control request, a snapshot chunk). Without a
 * bound, a header announcing 4 GiB made the reader buffer whatever the sender streamed after it: one
 * connection to an unauthenticated peer port could take the node's memory. Senders cut their
 * batches well below it (peer-link.ts `maxBatchFrameBytes`); a Raft message is at most about
 * `maxSizePerMsg` (1 MiB) plus one entry, a snapshot chunk 1 MiB.
 */
export const maxFrameBytes = 64 * 1024 * 1024;

/** Bytes buffered by the readers of one connection's streams together, and the most they may hold. */
export interface BufferBudget {
  used: number;
  readonly limit: number;
}

/** A frame header announced more than the reader takes: the stream must be ended, not buffered. */
export class FrameTooLargeError extends Error {
  constructor(
    readonly length: number,
    readonly limit: number,
    what = "a frame of",
  ) {
    super(`${what} ${length} bytes is over the limit of ${limit}`);
    this.name = "FrameTooLargeError";
  }
}

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

  constructor(
    private readonly limit = maxFrameBytes,
    /** Shared with the other streams of the connection: many streams may not add up past it. */
    private readonly budget?: BufferBudget,
  ) {}

  /**
   * The whole frames `chunk` completes. Throws FrameTooLargeError on a header over the limit, or
   * when the connection's streams together would buffer more than their budget.
   */
  push(chunk: Buffer): Uint8Array[] {
    if (this.budget) {
      if (this.budget.used + chunk.byteLength > this.budget.limit)
        throw new FrameTooLargeError(
          this.budget.used + chunk.byteLength,
          this.budget.limit,
          "what the connection's streams buffer together,",
        );
      this.budget.used += chunk.byteLength;
    }
    this.chunks.push(chunk);
    this.buffered += chunk.byteLength;
    const out: Uint8Array[] = [];
    for (;;) {
      if (this.buffered < 5) break;
      const head = this.peek(5);
      const length = head.readUInt32BE(1);
      if (length > this.limit) throw new FrameTooLargeError(length, this.limit);
      if (this.buffered < 5 + length) break;
      const whole = this.take(5 + length);
      out.push(whole.subarray(5));
    }
    return out;
  }

  /** Drops what is buffered (its stream ended), giving it back to the connection's budget. */
  release(): void {
    if (this.budget) this.budget.used -= this.buffered;
    this.chunks = [];
    this.buffered = 0;
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
    if (this.budget) this.budget.used -= n;
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
