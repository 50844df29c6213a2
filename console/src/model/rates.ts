// Throughput and latency per region from the nodes' own counters and histograms (pure). The page
// samples every node's cumulative metrics (ClusterService.GetClusterMetrics) at intervals; a point of a
// plot is what happened between two samples: counter deltas over the elapsed time, and the p99 of the
// histogram deltas merged over the region's nodes (buckets add up; quantiles of nodes would not).

export interface Histogram {
  /** Upper bounds (seconds) of the finite buckets, ascending; +Inf is implied by `count`. */
  bounds: number[];
  /** Cumulative counts per bound (Prometheus style: each includes the buckets below). */
  counts: number[];
  /** Every observation, the +Inf bucket. */
  count: number;
}

export interface NodeSample {
  nodeId: string;
  region: string;
  /** When the node read its metrics, unix milliseconds (its clock). */
  atMs: number;
  published: number;
  delivered: number;
  publishCommit: Histogram;
  deliverLag: Histogram;
}

export interface RegionPoint {
  region: string;
  /** The end of the interval, unix ms. */
  atMs: number;
  publishedPerSecond: number;
  deliveredPerSecond: number;
  /** NaN when nothing was observed in the interval. */
  publishP99Seconds: number;
  deliverP99Seconds: number;
}

/** A counter's growth; a counter that went down was reset (the node restarted): it grew by its value. */
export function counterDelta(before: number, after: number): number {
  return after >= before ? after - before : after;
}

/** `after - before` bucket by bucket (a reset counts from zero, as for counters). */
export function histogramDelta(before: Histogram | undefined, after: Histogram): Histogram {
  const sameBounds =
    before !== undefined &&
    before.bounds.length === after.bounds.length &&
    before.bounds.every((b, i) => b === after.bounds[i]);
  if (!sameBounds || after.count < before.count) return after;
  return {
    bounds: after.bounds,
    counts: after.counts.map((c, i) => c - (before.counts[i] ?? 0)),
    count: after.count - before.count,
  };
}

/** Bucket-wise sum of histograms with the same bounds; others are left out (a node on other bounds). */
export function mergeHistograms(hs: Histogram[]): Histogram | undefined {
  const first = hs[0];
  if (!first) return undefined;
  const same = hs.filter(
    (h) => h.bounds.length === first.bounds.length && h.bounds.every((b, i) => b === first.bounds[i]),
  );
  return {
    bounds: first.bounds,
    counts: first.bounds.map((_, i) => same.reduce((s, h) => s + (h.counts[i] ?? 0), 0)),
    count: same.reduce((s, h) => s + h.count, 0),
  };
}

/**
 * The q-quantile of a cumulative histogram, interpolated linearly within its bucket (as Prometheus's
 * histogram_quantile does). NaN for an empty histogram; the largest finite bound when the quantile
 * falls in the +Inf bucket (the value is at least that).
 */
export function quantile(h: Histogram, q: number): number {
  if (h.count <= 0) return Number.NaN;
  const rank = q * h.count;
  let prevBound = 0;
  let prevCount = 0;
  for (let i = 0; i < h.bounds.length; i++) {
    const c = h.counts[i] ?? 0;
    if (c >= rank) {
      const inBucket = c - prevCount;
      return inBucket <= 0
        ? h.bounds[i]!
        : prevBound + (h.bounds[i]! - prevBound) * ((rank - prevCount) / inBucket);
    }
    prevBound = h.bounds[i]!;
    prevCount = c;
  }
  return h.bounds.at(-1) ?? Number.NaN;
}

/** One point per region for the interval between two rounds of samples (nodes in both rounds). */
export function regionPoints(before: NodeSample[], after: NodeSample[]): RegionPoint[] {
  const prior = new Map(before.map((s) => [s.nodeId, s]));
  const regions = [...new Set(after.map((s) => s.region))].sort();
  const points: RegionPoint[] = [];
  for (const region of regions) {
    const pairs = after
      .filter((s) => s.region === region && prior.has(s.nodeId))
      .map((s) => ({ a: prior.get(s.nodeId)!, b: s }))
      .filter(({ a, b }) => b.atMs > a.atMs);
    if (pairs.length === 0) continue;
    // Nodes sample within one call; their mean interval is the region's.
    const seconds = pairs.reduce((s, { a, b }) => s + (b.atMs - a.atMs), 0) / pairs.length / 1000;
    const sum = (f: (p: { a: NodeSample; b: NodeSample }) => number) => pairs.reduce((s, p) => s + f(p), 0);
    const commit = mergeHistograms(pairs.map(({ a, b }) => histogramDelta(a.publishCommit, b.publishCommit)));
    const lag = mergeHistograms(pairs.map(({ a, b }) => histogramDelta(a.deliverLag, b.deliverLag)));
    points.push({
      region,
      atMs: Math.max(...pairs.map(({ b }) => b.atMs)),
      publishedPerSecond: sum(({ a, b }) => counterDelta(a.published, b.published)) / seconds,
      deliveredPerSecond: sum(({ a, b }) => counterDelta(a.delivered, b.delivered)) / seconds,
      publishP99Seconds: commit ? quantile(commit, 0.99) : Number.NaN,
      deliverP99Seconds: lag ? quantile(lag, 0.99) : Number.NaN,
    });
  }
  return points;
}

/** Points kept per region: the plots show the last minutes, older points fall off. */
export class RegionSeries {
  private readonly byRegion = new Map<string, RegionPoint[]>();

  constructor(private readonly windowMs: number) {}

  add(points: RegionPoint[]): void {
    for (const p of points) {
      const list = this.byRegion.get(p.region) ?? [];
      list.push(p);
      const cutoff = p.atMs - this.windowMs;
      while (list.length > 0 && list[0]!.atMs < cutoff) list.shift();
      this.byRegion.set(p.region, list);
    }
  }

  regions(): string[] {
    return [...this.byRegion.keys()].sort();
  }

  points(region: string): readonly RegionPoint[] {
    return this.byRegion.get(region) ?? [];
  }
}
