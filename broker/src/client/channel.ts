/**
 * A bounded hand-off from producers (stream readers) to one async-iterating reader: `push` waits
 * while the channel is full, which stops the stream reader and so, through HTTP/2 flow control,
 * the server. `close(error)` ends the reader after what is buffered, then throws the error.
 */
export class Channel<T> implements AsyncIterable<T> {
  private readonly items: T[] = [];
  private readonly room: (() => void)[] = [];
  private wake: (() => void) | undefined;
  private done = false;
  private error: unknown;

  constructor(private readonly capacity: number) {}

  get closed(): boolean {
    return this.done;
  }

  async push(item: T): Promise<boolean> {
    while (this.items.length >= this.capacity && !this.done)
      await new Promise<void>((r) => this.room.push(r));
    if (this.done) return false;
    this.items.push(item);
    this.wake?.();
    return true;
  }

  close(error?: unknown): void {
    if (this.done) return;
    this.done = true;
    this.error = error;
    this.wake?.();
    for (const r of this.room.splice(0)) r();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<T> {
    try {
      for (;;) {
        const item = this.items.shift();
        if (item !== undefined) {
          this.room.shift()?.();
          yield item;
          continue;
        }
        if (this.done) {
          if (this.error !== undefined) throw this.error;
          return;
        }
        await new Promise<void>((r) => (this.wake = r));
        this.wake = undefined;
      }
    } finally {
      // The reader left (break or throw): nothing will read what is left.
      this.close();
    }
  }
}
