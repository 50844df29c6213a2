// A node's own counters and latency histograms as plain data: what ClusterService.GetClusterMetrics
// reports per node (the web console's plots) and what nodes send each other for it on the peer port.

/** Cumulative (Prometheus-style) histogram: `counts[i]` observations were <= `bounds[i]` seconds. */
export interface HistogramSnapshot {
  bounds: number[];
  counts: number[];
  /** Every observation (the +Inf bucket). */
  count: number;
  sum: number;
}

export interface NodeMetricsSnapshot {
  nodeId: string;
  region: string;
  /** When the node read them, unix milliseconds by its clock. */
  atMs: number;
  publishedMessages: number;
  publishedBytes: number;
  deliveredMessages: number;
  publishCommit: HistogramSnapshot;
  deliverLag: HistogramSnapshot;
}

/** What a node reports for GetClusterMetrics: its snapshot, or why there is none. */
export type NodeMetricsResult =
  | { nodeId: string; region: string; metrics: NodeMetricsSnapshot }
  | { nodeId: string; region: string; unavailable: string };
