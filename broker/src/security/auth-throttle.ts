import { resourceExhausted } from "../engine/errors.js";
import { defaultAuthLimits } from "./security-config.js";

// What an unauthenticated client can make a node spend on credentials. scrypt costs tens of
// milliseconds on one of libuv's threads by design, and RocksDB's fsyncs wait for the same threads:
// so at most `maxConcurrent` password checks run at once, at most `maxQueued` wait (the rest are
// refused at once, RESOURCE_EXHAUSTED), and an address that keeps failing is locked out for a while
// without costing anything. Pure bookkeeping with an injected clock, so the decisions are testable.

export interface AuthThrottleOptions {
  /** Password checks (scrypt) running at once. Default 2. */
  maxConcurrent?: number;
  /** Password checks waiting for a slot; more are refused. Default 64. */
  maxQueued?: number;
  /** Failed authentications from one address within `failureWindowMs` that lock it out. Default 20. */
  maxFailures?: number;
  /** Default 60,000 ms. */
  failureWindowMs?: number;
  /** How long a locked-out address is refused without any check. Default 60,000 ms. */
  lockoutMs?: number;
  /** Addresses remembered at most (oldest forgotten first), so the table itself is bounded. */
  maxAddresses?: number;
  now?: () => number;
}

interface Failures {
  count: number;
  windowStart: number;
  lockedUntil: number;
}

const defaultAuthThrottle = { ...defaultAuthLimits, maxAddresses: 10_000 };

export class AuthThrottle {
  private readonly o: Required<Omit<AuthThrottleOptions, "now">>;
  private readonly now: () => number;
  private readonly failures = new Map<string, Failures>();
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(o: AuthThrottleOptions = {}) {
    const { now, ...rest } = o;
    this.o = { ...defaultAuthThrottle, ...rest };
    this.now = now ?? Date.now;
  }

  /** RESOURCE_EXHAUSTED when `address` is locked out, else undefined. Costs a map lookup. */
  lockout(address: string): Error | undefined {
    const f = this.failures.get(address);
    const left = f ? f.lockedUntil - this.now() : 0;
    if (left <= 0) return undefined;
    return resourceExhausted(
      `too many failed authentications from ${address}: retry in ${Math.ceil(left / 1000)} s with valid credentials`,
    );
  }

  /** Records a failed authentication; true when it locked the address out. */
  failed(address: string): boolean {
    const now = this.now();
    let f = this.failures.get(address);
    if (!f || now - f.windowStart > this.o.failureWindowMs) {
      f = { count: 0, windowStart: now, lockedUntil: f?.lockedUntil ?? 0 };
    }
    this.failures.delete(address); // re-inserted last: the map's order is least recently failed first
    f.count++;
    const locks = f.count >= this.o.maxFailures && f.lockedUntil <= now;
    if (locks) {
      f.lockedUntil = now + this.o.lockoutMs;
      f.count = 0;
      f.windowStart = now;
    }
    this.failures.set(address, f);
    while (this.failures.size > this.o.maxAddresses) this.failures.delete(this.failures.keys().next().value!);
    return locks;
  }

  /** A success forgets the address's failures (a user who mistyped once is not punished later). */
  succeeded(address: string): void {
    const f = this.failures.get(address);
    if (f && f.lockedUntil <= this.now()) this.failures.delete(address);
  }

  /** Runs an expensive check when a slot is free; refused at once when too many already wait. */
  async run<T>(check: () => Promise<T>): Promise<T> {
    if (this.running >= this.o.maxConcurrent) {
      if (this.waiting.length >= this.o.maxQueued)
        throw resourceExhausted(
          `the server is checking ${this.running + this.waiting.length} credentials already: retry shortly`,
        );
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else this.running++;
    try {
      return await check();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }

  /** Checks under way and waiting (for tests and metrics). */
  load(): { running: number; queued: number } {
    return { running: this.running, queued: this.waiting.length };
  }
}

/**
 * Log lines per key as a token bucket: a burst of `burst` lines, then one per `everyMs`. Lines held
 * back are counted and reported with the next one written (`suppressed`), so a flood neither fills
 * the disk nor goes unseen. Keys (client addresses) are bounded, oldest forgotten first.
 */
export function rateLimited<F extends Record<string, unknown>>(
  write: (fields: F & { suppressed?: number }) => void,
  o: { everyMs?: number; burst?: number; maxKeys?: number; now?: () => number } = {},
): (key: string, fields: F) => void {
  const everyMs = o.everyMs ?? 1000;
  const burst = o.burst ?? 10;
  const maxKeys = o.maxKeys ?? 10_000;
  const now = o.now ?? Date.now;
  const buckets = new Map<string, { tokens: number; at: number; suppressed: number }>();
  return (key, fields) => {
    const t = now();
    const b = buckets.get(key) ?? { tokens: burst, at: t, suppressed: 0 };
    b.tokens = Math.min(burst, b.tokens + (t - b.at) / everyMs);
    b.at = t;
    buckets.delete(key);
    buckets.set(key, b);
    while (buckets.size > maxKeys) buckets.delete(buckets.keys().next().value!);
    if (b.tokens < 1) {
      b.suppressed++;
      return;
    }
    b.tokens--;
    const suppressed = b.suppressed;
    b.suppressed = 0;
    write(suppressed > 0 ? { ...fields, suppressed } : fields);
  };
}
