import { unavailable } from "../../engine/errors.js";
import type { Clock } from "../../util/clock.js";

/**
 * Lets calls wait for the node's view to change (a leader elected, a topic applied) without polling:
 * every change pokes all waiters, and each re-checks its own condition.
 */
export class ChangeSignal {
  private readonly waiters = new Set<() => void>();

  constructor(private readonly clock: Clock) {}

  poke(): void {
    for (const w of [...this.waiters]) w();
  }

  /**
   * Resolves with the first truthy value of `check`, or fails as UNAVAILABLE after timeoutMs (on the
   * node's clock) or once `signal` aborts (the caller went away).
   */
  async until<T>(
    check: () => T | undefined | false,
    timeoutMs: number,
    signal: AbortSignal | undefined,
    what: string,
  ): Promise<T> {
    const first = check();
    if (first) return first;
    return new Promise<T>((resolve, reject) => {
      const cleanup = () => {
        cancelTimer();
        this.waiters.delete(onChange);
        signal?.removeEventListener("abort", onAbort);
      };
      const onChange = () => {
        const value = check();
        if (value) {
          cleanup();
          resolve(value);
        }
      };
      const onAbort = () => {
        cleanup();
        reject(unavailable(`cancelled while waiting for ${what}`));
      };
      const cancelTimer = this.clock.after(timeoutMs, () => {
        cleanup();
        reject(unavailable(`timed out after ${timeoutMs} ms waiting for ${what}; retry`));
      });
      this.waiters.add(onChange);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }
}
