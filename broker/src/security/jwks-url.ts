import type { KeyObject } from "node:crypto";
import type { JwtAlgorithm } from "./jwt.js";
import { parseJwks } from "./jwt.js";

// A JWKS fetched from an in-cluster identity provider (`auth.jwt.jwksUrl`), cached: refreshed every
// `refreshMs`, and early (at most once per `minRefreshMs`) when a token names a kid we do not have,
// which is how a rotation at the IdP reaches us. A failed or invalid fetch keeps the keys we have.
// Bounded: a response over `maxBytes` or slower than `timeoutMs` is a failure, never buffered.

export interface JwksUrlOptions {
  url: string;
  algorithm: JwtAlgorithm;
  onKeys(keys: Map<string, KeyObject>): void;
  onError(message: string): void;
  refreshMs?: number;
  minRefreshMs?: number;
  timeoutMs?: number;
  maxBytes?: number;
}

export class JwksUrlSource {
  private timer: NodeJS.Timeout | undefined;
  private lastFetchMs = 0;
  private inFlight: Promise<void> | undefined;
  private readonly o: Required<JwksUrlOptions>;

  constructor(o: JwksUrlOptions) {
    this.o = { refreshMs: 300_000, minRefreshMs: 30_000, timeoutMs: 5_000, maxBytes: 1024 * 1024, ...o };
    this.timer = setInterval(() => void this.refresh(), this.o.refreshMs);
    this.timer.unref();
  }

  /** Fetches now unless one is under way. */
  refresh(): Promise<void> {
    this.inFlight ??= this.fetchOnce().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  /** A token named a kid we do not hold: refresh early, but not more often than minRefreshMs. */
  unknownKid(): void {
    if (Date.now() - this.lastFetchMs >= this.o.minRefreshMs) void this.refresh();
  }

  close(): void {
    clearInterval(this.timer);
  }

  private async fetchOnce(): Promise<void> {
    this.lastFetchMs = Date.now();
    try {
      const res = await fetch(this.o.url, {
        signal: AbortSignal.timeout(this.o.timeoutMs),
        redirect: "error",
      });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const declared = Number(res.headers.get("content-length") ?? "0");
      if (declared > this.o.maxBytes) throw new Error(`larger than ${this.o.maxBytes} bytes`);
      const chunks: Uint8Array[] = [];
      let size = 0;
      for await (const chunk of res.body ?? []) {
        size += chunk.length;
        if (size > this.o.maxBytes) throw new Error(`larger than ${this.o.maxBytes} bytes`);
        chunks.push(chunk);
      }
      this.o.onKeys(
        parseJwks(this.o.algorithm, Buffer.concat(chunks).toString("utf8"), `JWKS ${this.o.url}`),
      );
    } catch (err) {
      this.o.onError(`JWKS ${this.o.url}: ${(err as Error).message}; keeping the keys held`);
    }
  }
}
