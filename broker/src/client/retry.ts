import type { GeoBrokerError } from "./errors.js";

/** How long the client keeps trying a call that fails for a reason that can pass. */
export interface RetryOptions {
  /** First wait after a failure. Default 50 ms. */
  initialBackoffMs?: number;
  /** Longest wait between attempts. Default 2,000 ms. */
  maxBackoffMs?: number;
  /** Give up (and reject with the last error) after trying this long. Default 30,000 ms. */
  timeoutMs?: number;
}

export const retryDefaults: Required<RetryOptions> = {
  initialBackoffMs: 50,
  maxBackoffMs: 2000,
  timeoutMs: 30_000,
};

/**
 * May the call be sent again after `err`? Only for a failure that can pass (`retryable`), and only
 * when sending it twice cannot apply it twice: the broker did not act (`retrySafe`), or the call is
 * idempotent (a read, or a publish with a message id the broker deduplicates on).
 */
export function mayRetry(err: GeoBrokerError, idempotent: boolean): boolean {
  return err.retryable && (idempotent || err.retrySafe);
}

/** Exponential backoff with full jitter: attempt 1 waits up to initial, then doubling to the cap. */
export function backoffMs(attempt: number, o: Required<RetryOptions>, random = Math.random): number {
  const cap = Math.min(o.maxBackoffMs, o.initialBackoffMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(cap / 2 + (random() * cap) / 2);
}

/** Resolves after `ms`, or rejects with the signal's reason when it aborts first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
