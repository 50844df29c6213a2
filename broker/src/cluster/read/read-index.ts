import { randomUUID } from "node:crypto";
import { unavailable } from "../../engine/errors.js";
import { type Clock, nowMs, sleep } from "../../util/clock.js";

// Linearizable reads for one Raft group (docs/raft.md, "Reads" and "Read guarantees"): the core
// answers a read-index request with a ReadState once the leader has confirmed with a quorum that it
// still leads; a read is safe once this replica has applied that index. This tracker pairs requests
// with their answers and holds each caller until the local state machine has caught up.

/** What the tracker needs of the group: the core's readIndex and its applied index. */
export interface ReadIndexCore {
  /** Throws when no leader is known (the core cannot forward the request). */
  readIndex(context: Uint8Array): void;
  applied(): number;
  /** Asks the I/O loop to run, so the request leaves in the next Ready. */
  schedule(): void;
}

interface Pending {
  /** The leader's answer, once it came. */
  index: number | undefined;
  resolve(index: number): void;
}

/** One attempt waits this long for the leader's answer before asking again (requests die with a leadership). */
const attemptMs = 1000;

export class ReadIndexTracker {
  // Contexts are unique across nodes (a leader matches acknowledgements by context).
  private readonly prefix = randomUUID();
  private sequence = 0;
  private readonly pending = new Map<string, Pending>();

  constructor(
    private readonly core: ReadIndexCore,
    private readonly clock: Clock,
  ) {}

  /**
   * Resolves with a read index once this replica has applied it: everything committed anywhere before
   * the call is then visible here. Fails UNAVAILABLE when no leader confirms within timeoutMs.
   */
  async read(signal: AbortSignal, timeoutMs: number): Promise<number> {
    const deadline = nowMs(this.clock) + timeoutMs;
    let lastError = "no leader answered";
    while (!signal.aborted) {
      const left = deadline - nowMs(this.clock);
      if (left <= 0) break;
      const key = `${this.prefix}/${++this.sequence}`;
      try {
        this.core.readIndex(new TextEncoder().encode(key));
      } catch (err) {
        lastError = (err as Error).message;
        await sleep(this.clock, Math.min(left, 100), signal);
        continue;
      }
      this.core.schedule();
      const index = await this.answer(key, Math.min(left, attemptMs), deadline, signal);
      if (index !== undefined) return index;
    }
    throw unavailable(
      signal.aborted
        ? "cancelled while waiting for a read index"
        : `no read index within ${timeoutMs} ms (${lastError}): the replica cannot confirm it is current; retry`,
    );
  }

  /** The applied read index; undefined when the leader did not answer within `ms` (ask again). */
  private answer(
    key: string,
    ms: number,
    deadline: number,
    signal: AbortSignal,
  ): Promise<number | undefined> {
    return new Promise((resolve) => {
      const pending: Pending = { index: undefined, resolve: (index) => done(index) };
      const done = (index: number | undefined) => {
        cancelTimer();
        signal.removeEventListener("abort", onAbort);
        this.pending.delete(key);
        resolve(index);
      };
      const onAbort = () => done(undefined);
      // An answered request only waits for the local apply, up to the caller's whole deadline.
      const expire = () => {
        if (pending.index === undefined) return done(undefined);
        cancelTimer = this.clock.after(Math.max(0, deadline - nowMs(this.clock)), () => done(undefined));
      };
      let cancelTimer = this.clock.after(ms, expire);
      signal.addEventListener("abort", onAbort, { once: true });
      this.pending.set(key, pending);
    });
  }

  /**
   * Called by the I/O loop after each Ready: records the answers it carried, then releases every
   * caller whose index this replica has now applied.
   */
  settle(readStates: readonly { index: number; context: Uint8Array }[]): void {
    if (this.pending.size === 0) return;
    for (const s of readStates) {
      const p = this.pending.get(new TextDecoder().decode(s.context));
      if (p) p.index = s.index;
    }
    const applied = this.core.applied();
    for (const p of [...this.pending.values()])
      if (p.index !== undefined && p.index <= applied) p.resolve(p.index);
  }
}
