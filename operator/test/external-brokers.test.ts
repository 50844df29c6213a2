import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parse } from "yaml";
import { advertisedAddress } from "../../broker/src/api/external-listener.js";
import type { ExternalListenerConfig } from "../../broker/src/config/config.js";
import type { GeoBrokerCluster, RegionSpec } from "../src/api/types.js";
import { messages, validateSpec } from "../src/api/validate.js";
import { plan } from "../src/plan/planner.js";
import { CrdValidator, loadCrd } from "./crd-schema.js";
import { makeCluster, now, World } from "./world.js";

// Issue 21: per-broker external listeners (as Strimzi's per-broker LoadBalancer/NodePort Services
// with advertised hosts). Each broker gets its own Service; its outside address is the same in the
// Service, the client certificate, status.endpoints.brokers and the broker's own config, from
// which the broker forms the leader hints it gives outside clients.

const regions: RegionSpec[] = [
  {
    name: "eu",
    replicas: 2,
    external: {
      type: "LoadBalancer",
      hosts: ["eu.example.com"],
      brokers: {
        host: "{node}.eu.example.com",
        port: 443,
        annotations: { "external-dns.alpha.kubernetes.io/hostname": "{node}.eu.example.com" },
      },
    },
  },
  {
    name: "us",
    replicas: 2,
    external: {
      type: "NodePort",
      hosts: ["203.0.113.7"],
      brokers: { host: "203.0.113.7", nodePortBase: 31000 },
    },
  },
  { name: "ap", replicas: 1 },
];

type Svc = {
  metadata: { name: string; annotations?: Record<string, string> };
  spec: { type: string; selector: Record<string, string>; ports: Record<string, unknown>[] };
};

function planned(c: GeoBrokerCluster) {
  const p = new World(c).plan();
  const service = (name: string) =>
    p.apply.find((o) => o.kind === "Service" && o.metadata.name === name) as Svc | undefined;
  return { p, service };
}

describe("per-broker external listeners", () => {
  it("gives every broker its own Service selecting its pod, on its advertised port", () => {
    const { service } = planned(makeCluster({ regions }));
    const eu1 = service("demo-eu-1-external")!;
    assert.equal(eu1.spec.type, "LoadBalancer");
    assert.equal(eu1.spec.selector["statefulset.kubernetes.io/pod-name"], "demo-eu-1");
    assert.deepEqual(eu1.spec.ports, [{ name: "external", port: 443, targetPort: "external" }]);
    assert.equal(
      eu1.metadata.annotations?.["external-dns.alpha.kubernetes.io/hostname"],
      "demo-eu-1.eu.example.com",
    );
    assert.deepEqual(service("demo-us-1-external")!.spec.ports, [
      { name: "external", port: 9000, targetPort: "external", nodePort: 31001 },
    ]);
    assert.equal(service("demo-ap-0-external"), undefined, "a region without external listeners has none");
    assert.equal(
      service("demo-eu-2-external"),
      undefined,
      "no Service for a broker the spec does not ask for",
    );
    // The region's bootstrap Service reaches the external listener too: its answers point outside.
    assert.equal(service("demo-eu-external")!.spec.ports[0]!.targetPort, "external");
  });

  it("puts each broker's host in the client certificate and its address in status.endpoints.brokers", () => {
    const { p } = planned(makeCluster({ regions }));
    const cert = p.apply.find((o) => o.kind === "Certificate" && o.metadata.name === "demo-client")!;
    const spec = cert.spec as { dnsNames: string[]; ipAddresses: string[] };
    for (const name of ["eu.example.com", "demo-eu-0.eu.example.com", "demo-eu-1.eu.example.com"])
      assert.ok(spec.dnsNames.includes(name), `${name} in ${spec.dnsNames.join(",")}`);
    assert.deepEqual(spec.ipAddresses, ["203.0.113.7"]);
    assert.deepEqual(p.status.endpoints?.brokers, {
      "demo-eu-0": "demo-eu-0.eu.example.com:443",
      "demo-eu-1": "demo-eu-1.eu.example.com:443",
      "demo-us-0": "203.0.113.7:31000",
      "demo-us-1": "203.0.113.7:31001",
    });
  });

  it("tells the brokers the same addresses: the broker's external section forms exactly status.endpoints.brokers", () => {
    const { p } = planned(makeCluster({ regions }));
    const cm = p.apply.find((o) => o.kind === "ConfigMap")!;
    const config = parse((cm.data as Record<string, string>)["broker.yaml"]!) as {
      external: ExternalListenerConfig;
    };
    assert.equal(config.external.port, 9002);
    for (const [node, address] of Object.entries(p.status.endpoints!.brokers!))
      assert.equal(advertisedAddress(config.external, node, node.split("-")[1]!), address, node);
    const sts = p.apply.find((o) => o.kind === "StatefulSet" && o.metadata.name === "demo-eu")!;
    const container = (
      sts.spec as {
        template: {
          spec: { containers: { name: string; ports: { name: string; containerPort: number }[] }[] };
        };
      }
    ).template.spec.containers.find((c) => c.name === "broker")!;
    assert.ok(container.ports.some((x) => x.name === "external" && x.containerPort === 9002));
  });

  it("deletes a removed broker's Service once its pod is gone, not while it still runs", () => {
    const c = makeCluster({ regions });
    const world = new World(c);
    const observed = world.observe();
    observed.brokerServices = ["demo-eu-0-external", "demo-eu-1-external", "demo-eu-2-external"];
    const deleted = (o: typeof observed) =>
      plan({ cluster: c, observed: o, now })
        .delete.filter((d) => d.kind === "Service")
        .map((d) => d.name);
    assert.deepEqual(deleted(observed), ["demo-eu-2-external"]);
    const stillRunning = {
      ...observed,
      pods: [
        ...observed.pods,
        {
          name: "demo-eu-2",
          region: "eu",
          ordinal: 2,
          running: true,
          ready: true,
          revision: "r",
          terminating: false,
        },
      ],
    };
    assert.deepEqual(deleted(stillRunning), []);
  });

  it("refuses NodePort per-broker listeners without nodePortBase, in the CRD and in the operator", () => {
    const bad = makeCluster({
      regions: [
        { name: "eu", replicas: 1, external: { type: "NodePort", hosts: ["h"], brokers: { host: "h" } } },
      ],
      allowFewerThanThreeRegions: true,
    });
    assert.deepEqual(
      validateSpec(bad.spec).map((x) => x.message),
      [messages.nodePortBase],
    );
    const crd = new CrdValidator(loadCrd("geobroker.io_geobrokerclusters.yaml").schema);
    const problems = crd.validate({
      apiVersion: "geobroker.io/v1alpha1",
      kind: "GeoBrokerCluster",
      metadata: { name: "demo" },
      spec: bad.spec,
    });
    assert.deepEqual(
      problems.map((x) => x.message),
      [messages.nodePortBase],
    );
  });
});

describe("the removal confirmation's direct connection", () => {
  it("dials a node by a name its client certificate covers", async () => {
    const { nodeEndpointOf } = await import("../src/runtime.js");
    const c = makeCluster({ regions });
    const host = new URL(nodeEndpointOf(c, { id: "demo-us-1", region: "us" })).hostname;
    const { p } = planned(c);
    const cert = p.apply.find((o) => o.kind === "Certificate" && o.metadata.name === "demo-client")!;
    const names = (cert.spec as { dnsNames: string[] }).dnsNames;
    const covered = names.some(
      (n) => n === host || (n.startsWith("*.") && host.slice(host.indexOf(".")) === n.slice(1)),
    );
    assert.ok(covered, `${host} not covered by ${names.join(",")}`);
  });
});
