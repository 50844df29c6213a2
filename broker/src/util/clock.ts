/**
 * Time as the cluster layer uses it, injectable so that a simulation can run production code on a
 * virtual, per-node (and skewed) clock: wall time for commit timestamps and retention, timers for
 * time-outs, and the turn of the loop where work is deferred to.
 */
/** Implementations must work as bare functions too (`clock.defer` is passed around unbound). */
export interface Clock {
  /** Wall-clock time in unix microseconds. */
  nowMicros(): number;
  /** Runs `fn` after `ms`; returns what cancels it. */
  after(ms: number, fn: () => void): () => void;
  /** Runs `fn` on a later turn of the event loop. */
  defer(fn: () => void): void;
}

export const systemClock: Clock = {
  nowMicros: () => Math.floor((performance.timeOrigin + performance.now()) * 1000),
  after: (ms, fn) => {
    const timer = setTimeout(fn, ms);
    return () => clearTimeout(timer);
  },
  defer: (fn) => setImmediate(fn),
};
