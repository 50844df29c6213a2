import type { Clock } from "../util/clock.js";

interface Scheduled {
  at: number;
  seq: number;
  run: () => void;
}

/**
 * Virtual time for the full-stack simulation: an ordered queue of events (virtual ms), run one at a
 * time. After each event the real event loop turns once, so every promise chain the event started
 * in production code runs on until its next await of the simulation (a disk operation, a timer, a
 * message). Nothing else in the process schedules work, so a seed always replays the same run.
 */
export class VirtualTime {
  now = 0;
  private seq = 0;
  private heap: Scheduled[] = [];
  /** Events run so far (the trace names steps by it). */
  steps = 0;

  after(ms: number, run: () => void): void {
    this.push({ at: this.now + Math.max(0, ms), seq: this.seq++, run });
  }

  /** Runs events up to `until` (virtual ms); `afterEach` is the checker's hook. */
  async runUntil(until: number, afterEach: () => void): Promise<void> {
    for (;;) {
      const next = this.heap[0];
      if (!next || next.at > until) break;
      this.pop();
      this.now = next.at;
      this.steps++;
      next.run();
      await turn();
      afterEach();
    }
    this.now = until;
  }

  private push(e: Scheduled): void {
    const h = this.heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(h[i]!, h[parent]!)) break;
      [h[i], h[parent]] = [h[parent]!, h[i]!];
      i = parent;
    }
  }

  private pop(): void {
    const h = this.heap;
    const last = h.pop()!;
    if (h.length === 0) return;
    h[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && before(h[l]!, h[m]!)) m = l;
      if (r < h.length && before(h[r]!, h[m]!)) m = r;
      if (m === i) return;
      [h[i], h[m]] = [h[m]!, h[i]!];
      i = m;
    }
  }
}

const before = (a: Scheduled, b: Scheduled) => a.at < b.at || (a.at === b.at && a.seq < b.seq);
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

/** The simulation's epoch: virtual 0 is this unix time, so timestamps look like real ones. */
const epochMicros = 1_800_000_000_000_000;

/**
 * One process's clock on virtual time: skewed by its node's offset, and dead once the process
 * crashes (its timers and deferred work never run again, as in a killed process).
 */
export class ProcessClock implements Clock {
  alive = true;

  constructor(
    private readonly time: VirtualTime,
    private readonly skewMicros: () => number,
  ) {}

  // Arrow functions: production code takes these as bare functions (e.g. `clock.defer`).
  readonly nowMicros = (): number => epochMicros + Math.floor(this.time.now * 1000) + this.skewMicros();

  readonly after = (ms: number, fn: () => void): (() => void) => {
    let cancelled = false;
    this.time.after(ms, () => {
      if (this.alive && !cancelled) fn();
    });
    return () => {
      cancelled = true;
    };
  };

  readonly defer = (fn: () => void): void => {
    this.time.after(0, () => {
      if (this.alive) fn();
    });
  };
}
