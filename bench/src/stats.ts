// Numbers of one benchmark cell: latency histogram and the summary written to the table and JSON.
import * as hdr from "hdr-histogram-js";

/** Publish->ack latencies, recorded in microseconds (1 us to 60 s, 3 significant digits). */
export class LatencyRecorder {
  private readonly histogram = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 60_000_000,
    numberOfSignificantValueDigits: 3,
    autoResize: true,
  });

  recordMs(ms: number): void {
    this.histogram.recordValue(Math.max(1, Math.round(ms * 1000)));
  }

  get count(): number {
    return this.histogram.totalCount;
  }

  /** The latency at percentile p (0-100), in milliseconds; NaN when nothing was recorded. */
  percentileMs(p: number): number {
    return this.count === 0 ? Number.NaN : this.histogram.getValueAtPercentile(p) / 1000;
  }

  get meanMs(): number {
    return this.count === 0 ? Number.NaN : this.histogram.mean / 1000;
  }

  get maxMs(): number {
    return this.count === 0 ? Number.NaN : this.histogram.maxValue / 1000;
  }

  reset(): void {
    this.histogram.reset();
  }
}

export interface CellKey {
  system: string;
  size: number;
  inflight: number;
}

export interface CellResult extends CellKey {
  /** Measured seconds (the warm-up is not counted). */
  seconds: number;
  /** Publishes acknowledged within the measured window. */
  messages: number;
  errors: number;
  msgsPerSec: number;
  /** Body bytes acknowledged per second, in MB (10^6 bytes). */
  mbPerSec: number;
  latencyMs: { p50: number; p99: number; p999: number; mean: number; max: number };
  /** The first error message seen, if any. */
  firstError?: string;
}

export function summarize(
  key: CellKey,
  o: { seconds: number; messages: number; errors: number; latency: LatencyRecorder; firstError?: string },
): CellResult {
  const msgsPerSec = o.seconds > 0 ? o.messages / o.seconds : 0;
  return {
    ...key,
    seconds: o.seconds,
    messages: o.messages,
    errors: o.errors,
    msgsPerSec,
    mbPerSec: (msgsPerSec * key.size) / 1e6,
    latencyMs: {
      p50: o.latency.percentileMs(50),
      p99: o.latency.percentileMs(99),
      p999: o.latency.percentileMs(99.9),
      mean: o.latency.meanMs,
      max: o.latency.maxMs,
    },
    ...(o.firstError !== undefined ? { firstError: o.firstError } : {}),
  };
}

/** a / b as a ratio, or undefined when either side is missing or zero. */
export function ratio(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined || b === undefined || !(a > 0) || !(b > 0)) return undefined;
  return a / b;
}
