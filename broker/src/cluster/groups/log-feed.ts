/**
 * Wakes readers waiting for a partition to grow. Readers remember the offset they want next and
 * sleep until the applied log reaches it (or their call is cancelled).
 */
export class LogFeed {
  private nextOffset: number;
  private readonly waiters = new Set<{ offset: number; wake: () => void }>();

  constructor(nextOffset: number) {
    this.nextOffset = nextOffset;
  }

  get next(): number {
    return this.nextOffset;
  }

  advance(nextOffset: number): void {
    if (nextOffset <= this.nextOffset) return;
    this.nextOffset = nextOffset;
    for (const w of this.waiters) if (w.offset < nextOffset) w.wake();
  }

  /** Resolves once the log holds `offset` or the signal aborts. */
  waitFor(offset: number, signal: AbortSignal): Promise<void> {
    if (offset < this.nextOffset || signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const waiter = {
        offset,
        wake: () => {
          this.waiters.delete(waiter);
          signal.removeEventListener("abort", waiter.wake);
          resolve();
        },
      };
      this.waiters.add(waiter);
      signal.addEventListener("abort", waiter.wake, { once: true });
    });
  }

  /** Wakes everyone, e.g. when the partition is deleted, so readers re-check and end. */
  wakeAll(): void {
    for (const w of [...this.waiters]) w.wake();
  }
}
