import * as hdr from "hdr-histogram-js";

/**
 * Latencies recorded in microseconds (from 1 us, 3 significant digits, growing as needed), as the
 * bench and `geobroker bench` report them.
 */
export class LatencyRecorder {
  private readonly histogram = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 600_000_000,
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

  /** Adds every value recorded by another recorder (rounds of one cell). */
  add(other: LatencyRecorder): void {
    this.histogram.add(other.histogram);
  }

  reset(): void {
    this.histogram.reset();
  }

  /** "p50 1.20  p90 ...  max ... ms (n samples)", as `nats bench` summarizes. */
  summary(): string {
    if (this.count === 0) return "no samples";
    const ms = (us: number) => (us / 1000).toFixed(2);
    const parts = [50, 90, 99, 99.9].map((p) => `p${p} ${ms(this.histogram.getValueAtPercentile(p))}`);
    return `${parts.join("  ")}  max ${ms(this.histogram.maxValue)} ms (${this.count} samples)`;
  }
}
