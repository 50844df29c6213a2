import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { NodeMetrics } from "../../broker/src/observability/metrics.js";
import { createMetrics } from "../src/controller/metrics.js";
import { chart, template } from "./helm-chart.js";

// Every query the chart ships (dashboard panels, alert rules) must read metrics that exist: the
// names are taken from the broker's and the operator's real registries, not from a list here.

/** Metrics other components export: the kubelet's volume stats and cert-manager's certificates. */
const external = new Set([
  "kubelet_volume_stats_available_bytes",
  "kubelet_volume_stats_capacity_bytes",
  "certmanager_certificate_expiration_timestamp_seconds",
]);

async function exported(): Promise<Set<string>> {
  const names = new Set<string>();
  const broker = new NodeMetrics({ node: "eu-0", region: "eu" });
  const operator = createMetrics(true);
  for (const registry of [broker.registry, operator.registry]) {
    for (const m of await registry.getMetricsAsJSON()) {
      names.add(m.name);
      if (String(m.type) === "histogram")
        for (const s of ["_bucket", "_sum", "_count"]) names.add(m.name + s);
    }
  }
  return names;
}

function metricNames(expr: string): string[] {
  return [...expr.matchAll(/\b(geobroker_[a-z0-9_]+|kubelet_[a-z0-9_]+|certmanager_[a-z0-9_]+)\b/g)].map(
    (m) => m[1]!,
  );
}

describe("monitoring bundle", { timeout: 16 * 60_000 }, () => {
  it("queries only metric names the brokers and the operator export, in every dashboard panel", async () => {
    const names = await exported();
    const dashboard = JSON.parse(readFileSync(`${chart}/dashboards/geobroker.json`, "utf8")) as {
      panels: { title: string; targets: { expr: string }[] }[];
    };
    assert.ok(dashboard.panels.length >= 10);
    for (const panel of dashboard.panels) {
      const used = panel.targets.flatMap((t) => metricNames(t.expr));
      assert.ok(used.length > 0, `panel "${panel.title}" reads no geobroker metric`);
      for (const n of used) assert.ok(names.has(n), `panel "${panel.title}": ${n} is not exported`);
    }
  });

  it("renders the optional ServiceMonitor, PodMonitor, PrometheusRule and dashboard, each alert on real names", async () => {
    const names = await exported();
    const off = template();
    assert.equal(
      off.some((d) => ["ServiceMonitor", "PodMonitor", "PrometheusRule"].includes(d.kind)),
      false,
    );
    const docs = template(
      ...["serviceMonitor", "podMonitor", "prometheusRule", "dashboard"].flatMap((k) => [
        "--set",
        `monitoring.${k}.enabled=true`,
      ]),
    );
    const sm = docs.find(
      (d) => d.kind === "ServiceMonitor" && d.metadata.name.endsWith("-brokers"),
    ) as unknown as {
      spec: { selector: { matchLabels: Record<string, string> }; endpoints: { port: string }[] };
    };
    assert.deepEqual(sm.spec.selector.matchLabels, { "geobroker.io/metrics": "true" });
    assert.equal(sm.spec.endpoints[0]?.port, "http");
    assert.ok(docs.some((d) => d.kind === "PodMonitor"));
    const rule = docs.find((d) => d.kind === "PrometheusRule") as unknown as {
      spec: { groups: { rules: { alert: string; expr: string }[] }[] };
    };
    const rules = rule.spec.groups.flatMap((g) => g.rules);
    assert.deepEqual(rules.map((r) => r.alert).sort(), [
      "GeoBrokerCertificateExpiring",
      "GeoBrokerClusterDegraded",
      "GeoBrokerConsumerLag",
      "GeoBrokerDiskFilling",
      "GeoBrokerFsyncSlow",
      "GeoBrokerGroupWithoutLeader",
      "GeoBrokerQuorumAtRisk",
      "GeoBrokerUnderReplicated",
    ]);
    for (const r of rules) {
      const used = metricNames(r.expr);
      assert.ok(used.length > 0, r.alert);
      for (const n of used) assert.ok(names.has(n) || external.has(n), `${r.alert}: ${n} is not exported`);
      assert.doesNotMatch(r.expr, /e\+\d/, `${r.alert}: a number rendered in exponent form`);
    }
    const cm = docs.find(
      (d) => d.kind === "ConfigMap" && d.metadata.name.endsWith("-dashboard"),
    ) as unknown as {
      metadata: { labels: Record<string, string> };
      data: Record<string, string>;
    };
    assert.equal(cm.metadata.labels.grafana_dashboard, "1");
    assert.equal(JSON.parse(cm.data["geobroker.json"]!).uid, "geobroker-overview");
  });
});
