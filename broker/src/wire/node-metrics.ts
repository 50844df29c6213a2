import type { MessageInitShape } from "@bufbuild/protobuf";
import type {
  NodeMetrics,
  NodeMetricsSchema,
  HistogramSnapshot as WireHistogram,
} from "../../../gen/geobroker/v1/cluster_pb.js";
import type { HistogramSnapshot, NodeMetricsSnapshot } from "../engine/node-metrics.js";

// A node's metrics snapshot to and from geobroker.v1.NodeMetrics: the client API's answer and the
// peer port's Control reply carry the same message.

const histogramToWire = (h: HistogramSnapshot) => ({
  upperBoundsSeconds: h.bounds,
  cumulativeCounts: h.counts.map((c) => BigInt(Math.round(c))),
  count: BigInt(Math.round(h.count)),
  sumSeconds: h.sum,
});

const histogramFromWire = (w: WireHistogram | undefined): HistogramSnapshot => ({
  bounds: [...(w?.upperBoundsSeconds ?? [])],
  counts: (w?.cumulativeCounts ?? []).map(Number),
  count: Number(w?.count ?? 0n),
  sum: w?.sumSeconds ?? 0,
});

export function nodeMetricsToWire(s: NodeMetricsSnapshot): MessageInitShape<typeof NodeMetricsSchema> {
  return {
    nodeId: s.nodeId,
    region: s.region,
    sampledAtMicros: BigInt(Math.round(s.atMs)) * 1000n,
    publishedMessages: BigInt(Math.round(s.publishedMessages)),
    publishedBytes: BigInt(Math.round(s.publishedBytes)),
    deliveredMessages: BigInt(Math.round(s.deliveredMessages)),
    publishCommit: histogramToWire(s.publishCommit),
    deliverLag: histogramToWire(s.deliverLag),
  };
}

export function nodeMetricsFromWire(w: NodeMetrics | undefined): NodeMetricsSnapshot {
  return {
    nodeId: w?.nodeId ?? "",
    region: w?.region ?? "",
    atMs: Number((w?.sampledAtMicros ?? 0n) / 1000n),
    publishedMessages: Number(w?.publishedMessages ?? 0n),
    publishedBytes: Number(w?.publishedBytes ?? 0n),
    deliveredMessages: Number(w?.deliveredMessages ?? 0n),
    publishCommit: histogramFromWire(w?.publishCommit),
    deliverLag: histogramFromWire(w?.deliverLag),
  };
}
