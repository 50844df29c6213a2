/**
 * Time as the cluster layer uses it, injectable so that a simulation or an in-process test cluster
 * can run production code on a virtual, per-node (and skewed) clock: wall time for commit timestamps
 * and retention, timers for time-outs, and the turn of the loop where work is deferred to. Nothing in
 * broker/src/cluster reads the time or sets a timer any other way (test/structure/clock.test.ts).
 */
/** Implementations must work as bare functions too (`clock.defer` is passed around unbound). */
export interface Clock {
  /**
   * Unix time in microseconds. It never goes backwards within a process (the system clock counts
   * from the process's time origin on the monotonic clock), so differences are durations too.
   */
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

/** The clock's time in (fractional) milliseconds, for deadlines and ages. */
export function nowMs(clock: Clock): number {
  return clock.nowMicros() / 1000;
}

/** Resolves after `ms` on the clock, or as soon as `signal` aborts. */
export function sleep(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const cancel = clock.after(ms, done);
    function done() {
      cancel();
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}

/**
 * A signal that aborts when `parent` does or `ms` passed on the clock (AbortSignal.timeout, on the
 * injected clock). `cancel` drops the timer once the wait is over.
 */
export function timeoutSignal(
  clock: Clock,
  ms: number,
  parent?: AbortSignal,
): { signal: AbortSignal; cancel(): void } {
  const controller = new AbortController();
  const cancel = clock.after(ms, () =>
    controller.abort(new DOMException(`timed out after ${ms} ms`, "TimeoutError")),
  );
  return { signal: parent ? AbortSignal.any([parent, controller.signal]) : controller.signal, cancel };
}

/** Runs `fn` every `ms` until the returned function is called (each run is scheduled after the last). */
export function every(clock: Clock, ms: number, fn: () => void): () => void {
  let cancel: () => void = () => undefined;
  let stopped = false;
  const schedule = () => {
    cancel = clock.after(ms, () => {
      if (stopped) return;
      schedule();
      fn();
    });
  };
  schedule();
  return () => {
    stopped = true;
    cancel();
  };
}
