import type { PublishedMessage } from "../../engine/message.js";

export interface BatchedResult {
  /** Offset of the first message of the batch; message i got firstOffset + i. */
  firstOffset: number;
  timestampMicros: number;
  /** Per message: true when deduplicated to an earlier offset (given in offsets). */
  offsets: number[];
  duplicates: boolean[];
}

/**
 * Collects the publishes that arrive for one partition within one turn of the event loop and
 * proposes them as a single Raft entry: one entry, one fsync share and one apply for many messages.
 */
export class PublishBatcher {
  private queue: {
    message: PublishedMessage;
    resolve: (r: { offset: number; timestampMicros: number; duplicate: boolean }) => void;
    reject: (e: Error) => void;
  }[] = [];
  private scheduled = false;
  private queuedBytes = 0;

  constructor(
    private readonly propose: (messages: PublishedMessage[]) => Promise<BatchedResult>,
    private readonly maxBatchBytes = 1024 * 1024,
    /** Where the batch is cut: the end of this turn of the event loop (a simulation's own clock). */
    private readonly defer: (run: () => void) => void,
  ) {}

  add(message: PublishedMessage): Promise<{ offset: number; timestampMicros: number; duplicate: boolean }> {
    return new Promise((resolve, reject) => {
      this.queue.push({ message, resolve, reject });
      this.queuedBytes += message.body.byteLength + message.key.byteLength;
      if (this.queuedBytes >= this.maxBatchBytes) this.flush();
      else if (!this.scheduled) {
        this.scheduled = true;
        this.defer(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    if (this.queue.length === 0) return;
    const batch = this.queue;
    this.queue = [];
    this.queuedBytes = 0;
    this.propose(batch.map((b) => b.message)).then(
      (result) => {
        batch.forEach((b, i) => {
          b.resolve({
            offset: result.offsets[i]!,
            timestampMicros: result.timestampMicros,
            duplicate: result.duplicates[i]!,
          });
        });
      },
      (err: Error) => {
        for (const b of batch) b.reject(err);
      },
    );
  }
}
