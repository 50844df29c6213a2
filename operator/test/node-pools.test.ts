import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { GeoBrokerNodePool } from "../src/api/types.js";
import { ClusterController } from "../src/controller/cluster-controller.js";
import { silentLogger } from "../src/controller/logger.js";
import type { KubeObject } from "../src/model/kube-object.js";
import { nodePoolStatus, withNodePools } from "../src/plan/node-pools.js";
import { FakeKube } from "./fake-kube.js";
import { makeCluster, regions3, World } from "./world.js";

// GeoBrokerNodePool: `kubectl scale gbnp demo-eu --replicas=3` (or an HPA/KEDA on its scale
// subresource) grows the region one safe step at a time, like editing spec.regions[].replicas.

const pool = (region: string, replicas: number, cluster = "demo"): GeoBrokerNodePool => ({
  apiVersion: "geobroker.io/v1alpha1",
  kind: "GeoBrokerNodePool",
  metadata: { name: `${cluster}-${region}`, namespace: "msg", generation: 4 },
  spec: { clusterRef: { name: cluster }, region, replicas },
});

describe("node pools", () => {
  it("scales a region through its pool: learners join and are promoted one at a time", () => {
    const w = new World(makeCluster({ regions: regions3(1) }));
    w.converge();
    w.actions = [];
    const declared = w.cluster;
    w.cluster = withNodePools(declared, [pool("eu", 3), pool("us", 5, "other")]);
    const p = w.converge();
    assert.deepEqual(w.actions, ["add demo-eu-1", "promote demo-eu-1", "add demo-eu-2", "promote demo-eu-2"]);
    assert.equal(w.sts.get("us")?.replicas, 1, "a pool of another cluster changes nothing");
    const status = nodePoolStatus(w.cluster, pool("eu", 3), p.status);
    assert.deepEqual(
      {
        replicas: status.replicas,
        ready: status.readyReplicas,
        selector: status.selector,
        gen: status.observedGeneration,
      },
      {
        replicas: 3,
        ready: 3,
        selector: "app.kubernetes.io/name=geobroker,geobroker.io/cluster=demo,geobroker.io/region=eu",
        gen: 4,
      },
    );
    assert.equal(status.conditions?.[0]?.status, "True");
  });

  it("says so when a pool names a region the cluster does not have", () => {
    const c = makeCluster({ regions: regions3(1) });
    const status = nodePoolStatus(c, pool("sa", 2), {});
    assert.equal(status.conditions?.[0]?.reason, "UnknownRegion");
    assert.deepEqual(withNodePools(c, [pool("sa", 2)]).spec.regions, c.spec.regions);
  });

  it("is read by the cluster controller, which writes the pool's status for the scale subresource", async () => {
    const kube = new FakeKube();
    kube.put(makeCluster({ regions: regions3(1) }) as unknown as KubeObject);
    kube.put(pool("eu", 2) as unknown as KubeObject);
    const statuses: unknown[] = [];
    const patchStatus = kube.patchStatus.bind(kube);
    kube.patchStatus = async (r, s) => {
      if (r.kind === "GeoBrokerNodePool") statuses.push(s);
      await patchStatus(r, s);
    };
    await new ClusterController({ kube, log: silentLogger, admin: async () => undefined }).reconcile(
      "msg/demo",
    );
    const eu = [...kube.objects.values()].find(
      (o) => o.kind === "StatefulSet" && o.metadata.name === "demo-eu",
    )!;
    assert.equal((eu.spec as { replicas: number }).replicas, 2, "creation starts the pool's count");
    assert.equal(statuses.length, 1);
    assert.match((statuses[0] as { selector: string }).selector, /geobroker\.io\/region=eu/);
  });
});
