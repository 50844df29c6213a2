import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { GeoBrokerCluster } from "../src/api/types.js";
import type { KubeObject } from "../src/model/kube-object.js";
import { cond, makeCluster, regions3, World } from "./world.js";

// Pod template overrides, zones, the restart annotations, external listeners and pausing: what
// a platform team sets on a GeoBrokerCluster and what the pods and Services then look like.

interface Pod {
  metadata: { labels: Record<string, string>; annotations: Record<string, string> };
  spec: {
    imagePullSecrets?: { name: string }[];
    priorityClassName?: string;
    serviceAccountName?: string;
    affinity: { nodeAffinity?: unknown; podAntiAffinity?: unknown };
    volumes: { name: string }[];
    containers: { name: string; env: { name: string; value?: string }[]; volumeMounts: { name: string }[] }[];
  };
}

const sts = (objects: KubeObject[], region: string) =>
  (
    objects.find((o) => o.kind === "StatefulSet" && o.metadata.name === `demo-${region}`)!.spec as {
      template: Pod;
    }
  ).template;

function planOf(c: GeoBrokerCluster) {
  return new World(c).plan();
}

describe("pod template overrides", () => {
  it("merges labels, annotations, pull secrets, priority, service account, env and pod/container fields", () => {
    const p = planOf(
      makeCluster({
        regions: regions3(1),
        template: {
          labels: { team: "payments", "geobroker.io/cluster": "hijack" },
          annotations: { "vault.hashicorp.com/agent-inject": "true" },
          imagePullSecrets: [{ name: "regcred" }],
          priorityClassName: "critical",
          serviceAccountName: "brokers",
          env: [{ name: "NODE_OPTIONS", value: "--max-old-space-size=2048" }],
          pod: { volumes: [{ name: "extra", emptyDir: {} }], hostNetwork: false },
          container: { volumeMounts: [{ name: "extra", mountPath: "/extra" }] },
        },
      }),
    );
    const t = sts(p.apply, "eu");
    assert.equal(t.metadata.labels.team, "payments");
    assert.equal(
      t.metadata.labels["geobroker.io/cluster"],
      "demo",
      "the selector labels stay the operator's",
    );
    assert.equal(t.metadata.annotations["vault.hashicorp.com/agent-inject"], "true");
    assert.ok(t.metadata.annotations["geobroker.io/config-hash"]);
    assert.deepEqual(t.spec.imagePullSecrets, [{ name: "regcred" }]);
    assert.equal(t.spec.priorityClassName, "critical");
    assert.equal(t.spec.serviceAccountName, "brokers");
    const broker = t.spec.containers.find((c) => c.name === "broker")!;
    assert.ok(
      broker.env.some((e) => e.name === "GEOBROKER_NODE_ID"),
      "the operator's env is kept",
    );
    assert.ok(broker.env.some((e) => e.name === "NODE_OPTIONS"));
    assert.ok(
      broker.volumeMounts.some((m) => m.name === "data") &&
        broker.volumeMounts.some((m) => m.name === "extra"),
    );
    assert.ok(
      t.spec.volumes.some((v) => v.name === "config") && t.spec.volumes.some((v) => v.name === "extra"),
    );
  });

  it("refuses overriding the node's identity variables", () => {
    const p = planOf(
      makeCluster({ regions: regions3(1), template: { env: [{ name: "GEOBROKER_NODE_ID", value: "x" }] } }),
    );
    assert.equal(cond(p, "Degraded")?.reason, "InvalidSpec");
    assert.match(cond(p, "Degraded")!.message, /GEOBROKER_NODE_ID/);
  });

  it("pins a region's pods to its zones and keeps the host anti-affinity", () => {
    const p = planOf(
      makeCluster({
        regions: [{ name: "eu", replicas: 3, zones: ["eu-a", "eu-b"] }, ...regions3(1).slice(1)],
      }),
    );
    const eu = sts(p.apply, "eu");
    assert.deepEqual(eu.spec.affinity.nodeAffinity, {
      requiredDuringSchedulingIgnoredDuringExecution: {
        nodeSelectorTerms: [
          {
            matchExpressions: [
              { key: "topology.kubernetes.io/zone", operator: "In", values: ["eu-a", "eu-b"] },
            ],
          },
        ],
      },
    });
    assert.ok(eu.spec.affinity.podAntiAffinity);
    assert.equal(sts(p.apply, "us").spec.affinity.nodeAffinity, undefined);
  });

  it("uses a region's own storage class and size for its claims", () => {
    const p = planOf(
      makeCluster({
        regions: [
          { name: "eu", replicas: 1, storage: { size: "50Gi", storageClassName: "eu-ssd" } },
          ...regions3(1).slice(1),
        ],
      }),
    );
    const claim = (o: KubeObject) =>
      (
        o.spec as {
          volumeClaimTemplates: {
            spec: { storageClassName?: string; resources: { requests: { storage: string } } };
          }[];
        }
      ).volumeClaimTemplates[0]!.spec;
    const of = (r: string) =>
      claim(p.apply.find((o) => o.kind === "StatefulSet" && o.metadata.name === `demo-${r}`)!);
    assert.deepEqual([of("eu").storageClassName, of("eu").resources.requests.storage], ["eu-ssd", "50Gi"]);
    assert.deepEqual([of("us").storageClassName, of("us").resources.requests.storage], [undefined, "10Gi"]);
  });
});

describe("restart and pause annotations", () => {
  it("rolls every pod safely when geobroker.io/restart changes", () => {
    const w = new World(makeCluster({ regions: regions3(1) }));
    w.converge();
    w.actions = [];
    w.cluster = {
      ...w.cluster,
      metadata: { ...w.cluster.metadata, annotations: { "geobroker.io/restart": "2025-06-01" } },
    };
    w.converge();
    assert.equal(w.actions.filter((a) => a.startsWith("restart")).length, 3);
  });

  it("restarts one pod marked geobroker.io/manual-roll, and only that one", () => {
    const w = new World(makeCluster({ regions: regions3(1) }));
    w.converge();
    w.actions = [];
    w.pods.get("demo-us-0")!.manualRoll = true;
    w.converge();
    assert.deepEqual(
      w.actions.filter((a) => a.startsWith("restart")),
      ["restart demo-us-0"],
    );
  });

  it("writes nothing but the status while geobroker.io/pause-reconcile is true", () => {
    const w = new World(makeCluster({ regions: regions3(1) }));
    w.converge();
    w.cluster = {
      ...w.cluster,
      metadata: { ...w.cluster.metadata, annotations: { "geobroker.io/pause-reconcile": "true" } },
      spec: { ...w.cluster.spec, image: "geobroker:2" },
    };
    const p = w.plan();
    assert.deepEqual([p.apply, p.delete, p.scale, p.action], [[], [], [], undefined]);
    assert.equal(cond(p, "Progressing")?.reason, "Paused");
  });
});

describe("external listeners", () => {
  it("gives a region a LoadBalancer Service, its hosts in the client certificate and in status.endpoints", () => {
    const p = planOf(
      makeCluster({
        regions: [
          {
            name: "eu",
            replicas: 1,
            external: {
              type: "LoadBalancer",
              hosts: ["eu.broker.example.com"],
              annotations: { "service.beta.kubernetes.io/aws-load-balancer-type": "nlb" },
              port: 443,
            },
          },
          {
            name: "us",
            replicas: 1,
            external: { type: "NodePort", hosts: ["203.0.113.7"], nodePort: 30900 },
          },
          { name: "ap", replicas: 1 },
        ],
      }),
    );
    const svc = (n: string) => p.apply.find((o) => o.kind === "Service" && o.metadata.name === n);
    const eu = svc("demo-eu-external")!;
    assert.equal((eu.spec as { type: string }).type, "LoadBalancer");
    assert.deepEqual((eu.spec as { ports: unknown[] }).ports, [
      // The brokers' external listener, which answers with outside addresses.
      { name: "client", port: 443, targetPort: "external" },
    ]);
    assert.equal(eu.metadata.annotations?.["service.beta.kubernetes.io/aws-load-balancer-type"], "nlb");
    assert.deepEqual(
      (svc("demo-us-external")!.spec as { ports: { nodePort: number }[] }).ports[0]?.nodePort,
      30900,
    );
    assert.equal(svc("demo-ap-external"), undefined);
    const cert = p.apply.find((o) => o.kind === "Certificate" && o.metadata.name === "demo-client")!;
    const spec = cert.spec as { dnsNames: string[]; ipAddresses: string[] };
    assert.ok(spec.dnsNames.includes("eu.broker.example.com"), spec.dnsNames.join(","));
    assert.deepEqual(spec.ipAddresses, ["203.0.113.7"]);
    assert.deepEqual(p.status.endpoints?.external, {
      eu: ["eu.broker.example.com:443"],
      us: ["203.0.113.7:9000"],
    });
  });
});
