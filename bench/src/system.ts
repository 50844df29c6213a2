// What the benchmark needs from each system it runs: start a 3-node cluster, give a publisher per
// cell, stop. The implementations start real processes (bench/src/geobroker.ts, bench/src/nats.ts).
import type { SystemName } from "./args.js";
import type { CellPublisher } from "./workload.js";

export interface BenchSystem {
  readonly name: SystemName;
  /** What an ack means on this system, as configured here; printed and written to the JSON. */
  readonly durability: string;
  /** Server version and setup (nodes, transport), filled in by start(). */
  describe(): string;
  start(say: (line: string) => void): Promise<void>;
  /**
   * A fresh topic/stream with 3 replicas for one cell, and a publisher connected to its leader, or
   * to the node of region `via` (geobroker's geo cells: the call is forwarded to the leader);
   * geobroker's scaling cells give the topic `partitions` partitions, published to round-robin.
   */
  openCell(cellId: string, via?: string, partitions?: number): Promise<CellPublisher>;
  stop(): Promise<void>;
}

/** Polls until check returns a value, or throws after timeoutMs with the last error. */
export async function waitFor<T>(
  what: string,
  timeoutMs: number,
  check: () => Promise<T | undefined>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(
        `${what}: not within ${timeoutMs / 1000} s${last ? ` (${(last as Error).message})` : ""}`,
      );
    await new Promise((r) => setTimeout(r, 200));
  }
}
