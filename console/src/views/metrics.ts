import type { GetClusterMetricsResponse, HistogramSnapshot } from "../../../gen/geobroker/v1/cluster_pb.js";
import { h, showError, table } from "../dom.js";
import { formatRate, formatSeconds } from "../model/format.js";
import { type Histogram, type NodeSample, RegionSeries, regionPoints } from "../model/rates.js";
import { linePlot } from "../plot.js";
import { every, type View } from "../session.js";

/** A sample of every node's metrics this often; a plot point is the interval between two samples. */
export const metricsSampleMs = 5000;
/** The plots show this much history (kept in the page only: it starts empty on every open). */
export const metricsWindowMs = 5 * 60_000;

const histogram = (w: HistogramSnapshot | undefined): Histogram => ({
  bounds: [...(w?.upperBoundsSeconds ?? [])],
  counts: (w?.cumulativeCounts ?? []).map(Number),
  count: Number(w?.count ?? 0n),
});

export function samplesOf(r: GetClusterMetricsResponse): NodeSample[] {
  return r.nodes.map((n) => ({
    nodeId: n.nodeId,
    region: n.region,
    atMs: Number(n.sampledAtMicros / 1000n),
    published: Number(n.publishedMessages),
    delivered: Number(n.deliveredMessages),
    publishCommit: histogram(n.publishCommit),
    deliverLag: histogram(n.deliverLag),
  }));
}

export const metricsView: View = {
  title: "Throughput and latency",
  open(root, session) {
    const errors = h("div", { "aria-live": "polite" });
    const missing = h("div");
    const plots = h("div", { class: "plots", "aria-busy": "true" }, "collecting the first two samples...");
    root.append(
      h(
        "p",
        {},
        `Per region, from every node's own counters and histograms, sampled every ${metricsSampleMs / 1000} s; the last ${metricsWindowMs / 60_000} minutes since this view opened.`,
      ),
      errors,
      missing,
      plots,
    );
    const series = new RegionSeries(metricsWindowMs);
    let previous: NodeSample[] | undefined;
    return every(metricsSampleMs, async () => {
      try {
        const r = await session.client.admin.clusterMetrics();
        showError(errors, undefined);
        missing.replaceChildren(
          r.unavailable.length
            ? table(
                "Nodes that did not report (their share is missing from the plots)",
                ["node", "region", "why"],
                r.unavailable.map((u) => [u.nodeId, u.region, u.reason]),
                { class: "warn" },
              )
            : "",
        );
        const samples = samplesOf(r);
        if (previous) series.add(regionPoints(previous, samples));
        previous = samples;
        const regions = series.regions();
        if (regions.length === 0) return;
        const now = Math.max(...samples.map((s) => s.atMs));
        const plot = (
          title: string,
          pick: (p: ReturnType<typeof series.points>[number]) => number,
          format: (v: number) => string,
        ) =>
          linePlot(
            title,
            regions.map((name) => ({
              name,
              points: series.points(name).map((p) => ({ atMs: p.atMs, value: pick(p) })),
            })),
            format,
            metricsWindowMs,
            now,
          );
        plots.replaceChildren(
          plot(
            "Publishes committed per second, by the region that served them",
            (p) => p.publishedPerSecond,
            formatRate,
          ),
          plot(
            "Messages delivered to subscribers per second, by region",
            (p) => p.deliveredPerSecond,
            formatRate,
          ),
          plot("Publish to commit, p99, by region", (p) => p.publishP99Seconds, formatSeconds),
          plot("Commit to delivery, p99, by region", (p) => p.deliverP99Seconds, formatSeconds),
        );
        plots.setAttribute("aria-busy", "false");
      } catch (err) {
        showError(errors, err, "The metrics could not be sampled");
      }
    });
  },
};
