import type { Counter, Histogram } from "prom-client";
import type { EngineObserver } from "../engine/engine.js";
import type { HistogramSnapshot, NodeMetricsSnapshot } from "../engine/node-metrics.js";
import type { NodeMetrics } from "./metrics.js";

// The engine's counts into a node's Prometheus metrics, and read back as a snapshot for
// ClusterService.GetClusterMetrics: the numbers /metrics exports, so both always agree.

async function counterValue(c: Counter): Promise<number> {
  return (await c.get()).values.reduce((s, v) => s + v.value, 0);
}

async function histogramSnapshot(h: Histogram): Promise<HistogramSnapshot> {
  const values = (await h.get()).values;
  const buckets = values
    .filter((v) => v.metricName?.endsWith("_bucket") && v.labels.le !== "+Inf")
    .map((v) => ({ bound: Number(v.labels.le), count: v.value }))
    .sort((a, b) => a.bound - b.bound);
  const one = (suffix: string) => values.find((v) => v.metricName?.endsWith(suffix))?.value ?? 0;
  return {
    bounds: buckets.map((b) => b.bound),
    counts: buckets.map((b) => b.count),
    count: one("_count"),
    sum: one("_sum"),
  };
}

export function engineObserver(
  metrics: NodeMetrics,
  identity: { nodeId: string; region: string },
  now: () => number,
): EngineObserver {
  return {
    published: (bytes, seconds) => {
      metrics.published.inc();
      metrics.publishedBytes.inc(bytes);
      metrics.publishSeconds.observe(seconds);
    },
    delivered: (lagSeconds) => {
      metrics.delivered.inc();
      metrics.deliverLagSeconds.observe(lagSeconds);
    },
    removed: (messages, bytes) => {
      metrics.retentionDeletedMessages.inc(messages);
      metrics.retentionDeletedBytes.inc(bytes);
    },
    snapshot: async (): Promise<NodeMetricsSnapshot> => {
      const [publishedMessages, publishedBytes, deliveredMessages, publishCommit, deliverLag] =
        await Promise.all([
          counterValue(metrics.published),
          counterValue(metrics.publishedBytes),
          counterValue(metrics.delivered),
          histogramSnapshot(metrics.publishSeconds),
          histogramSnapshot(metrics.deliverLagSeconds),
        ]);
      return {
        nodeId: identity.nodeId,
        region: identity.region,
        atMs: now(),
        publishedMessages,
        publishedBytes,
        deliveredMessages,
        publishCommit,
        deliverLag,
      };
    },
  };
}
