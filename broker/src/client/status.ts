/**
 * What the client is doing, as events an application can log or alert on (nats.js's `status()`):
 * a connection attempt, a connection made, a lost one being replaced, a partition's leader moving,
 * and how far a subscription or consumer is behind the partition's end.
 */
export type StatusEvent =
  | { type: "connecting"; address: string }
  | { type: "connected"; address: string; nodeId?: string; region?: string }
  | { type: "reconnecting"; address: string; reason: string; attempt: number }
  | { type: "leader-moved"; topic: string; partition: number; from?: string; to: string }
  | { type: "lag"; topic: string; partition: number; messages: number; stale: boolean };

type Listener = (e: StatusEvent) => void;

/** Fan-out of status events to listeners and to async iterators; a slow iterator drops the oldest. */
export class StatusEmitter {
  private readonly listeners = new Set<Listener>();

  emit(e: StatusEvent): void {
    for (const l of this.listeners) l(e);
  }

  on(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Events from now on, until `signal` aborts; at most `buffer` kept for a reader that falls behind. */
  async *iterate(signal?: AbortSignal, buffer = 256): AsyncGenerator<StatusEvent> {
    const items: StatusEvent[] = [];
    let wake: (() => void) | undefined;
    const off = this.on((e) => {
      items.push(e);
      if (items.length > buffer) items.shift();
      wake?.();
    });
    const onAbort = () => wake?.();
    signal?.addEventListener("abort", onAbort);
    try {
      while (!signal?.aborted) {
        const next = items.shift();
        if (next) {
          yield next;
          continue;
        }
        await new Promise<void>((r) => (wake = r));
        wake = undefined;
      }
    } finally {
      off();
      signal?.removeEventListener("abort", onAbort);
    }
  }
}
