/** Where a wait reads the time and sleeps: the wall clock, or an in-process cluster's virtual time. */
export interface WaitTime {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const realTime: WaitTime = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
};

/**
 * Polls `probe` until it returns a value; errors count as "not yet" and the last one is reported
 * on timeout. The deadline is a safety net, not a measurement.
 */
export async function eventually<T>(
  what: string,
  timeoutMs: number,
  probe: () => Promise<T | undefined>,
  intervalMs = 250,
  time: WaitTime = realTime,
): Promise<T> {
  const deadline = time.now() + timeoutMs;
  let last = "";
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = (err as Error).message;
    }
    if (time.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} ${last}`);
    await time.sleep(intervalMs);
  }
}
