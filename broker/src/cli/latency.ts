import * as hdr from "hdr-histogram-js";

/** Latencies in an HDR histogram (microseconds, 3 significant digits), summarized as `nats bench` does. */
export class Latency {
  private readonly h = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 600_000_000,
    numberOfSignificantValueDigits: 3,
    autoResize: true,
  });

  record(ms: number): void {
    this.h.recordValue(Math.max(1, Math.round(ms * 1000)));
  }

  get count(): number {
    return this.h.totalCount;
  }

  /** "p50 1.2 ms  p90 ...  max ..." */
  summary(): string {
    if (this.count === 0) return "no samples";
    const ms = (us: number) => (us / 1000).toFixed(2);
    const parts = [50, 90, 99, 99.9].map((p) => `p${p} ${ms(this.h.getValueAtPercentile(p))}`);
    return `${parts.join("  ")}  max ${ms(this.h.maxValue)} ms (${this.count} samples)`;
  }
}
