import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parse } from "yaml";
import { fromEnv, resolveConfig } from "../../broker/src/config/load.js";
import type { GeoBrokerCluster } from "../src/api/types.js";
import { cond, makeCluster, regions3, World } from "./world.js";

// The situations a geo-distributed cluster exists for, driven through the planner as an
// operations team would: a region or a node gone for good, steps that must keep a majority,
// and the defects of issue #21, each with the scenario that showed it.

const regions = (...names: string[]) => names.map((name) => ({ name, replicas: 1 }));

function created(cluster: GeoBrokerCluster): World {
  const w = new World(cluster);
  w.converge();
  w.actions = [];
  return w;
}

function edit(w: World, spec: Partial<GeoBrokerCluster["spec"]>, annotations?: Record<string, string>) {
  w.cluster = {
    ...w.cluster,
    metadata: {
      ...w.cluster.metadata,
      generation: (w.cluster.metadata.generation ?? 1) + 1,
      ...(annotations ? { annotations: { ...w.cluster.metadata.annotations, ...annotations } } : {}),
    },
    spec: { ...w.cluster.spec, ...spec },
  };
}

const stsReplicas = (p: ReturnType<World["plan"]>, region: string) =>
  (
    p.apply.find((o) => o.kind === "StatefulSet" && o.metadata.name === `demo-${region}`)?.spec as
      | { replicas: number }
      | undefined
  )?.replicas;

/** Five voters; demo-eu-2 (scaled away) is drained while demo-us-0 and demo-ap-0 do not answer. */
function drainedWithTwoDown(): World {
  const w = created(makeCluster({ regions: [{ name: "eu", replicas: 3 }, ...regions("us", "ap")] }));
  edit(w, { regions: [{ name: "eu", replicas: 2 }, ...regions("us", "ap")] });
  w.nodes.get("demo-eu-2")!.state = "drained";
  w.nodes.get("demo-us-0")!.reachable = false;
  w.nodes.get("demo-ap-0")!.reachable = false;
  return w;
}

describe("planner: a lost region does not freeze the cluster", () => {
  it("grows a healthy region while another region is lost", () => {
    const w = created(makeCluster({ regions: regions("eu", "us", "ap", "sa") }));
    w.lose("demo-sa-0");
    edit(w, { regions: [{ name: "eu", replicas: 2 }, ...regions("us", "ap", "sa")] });
    const p = w.converge();
    assert.deepEqual(w.actions, ["add demo-eu-1", "promote demo-eu-1"]);
    assert.equal(cond(p, "Degraded")?.reason, "NodesUnreachable");
    assert.match(cond(p, "Degraded")!.message, /demo-sa-0/);
  });

  it("rolls the healthy pods while a region is lost, each restart keeping a majority", () => {
    const w = created(makeCluster({ regions: regions("eu", "us", "ap", "sa", "af") }));
    w.lose("demo-sa-0");
    edit(w, { image: "geobroker:2" });
    w.converge();
    const restarts = w.actions.filter((a) => a.startsWith("restart")).sort();
    assert.deepEqual(restarts, [
      "restart demo-af-0",
      "restart demo-ap-0",
      "restart demo-eu-0",
      "restart demo-us-0",
    ]);
  });

  it("refuses a restart that would leave no majority and says what would unblock it", () => {
    const w = created(makeCluster({ regions: regions("eu", "us", "ap", "sa") }));
    w.lose("demo-sa-0");
    edit(w, { image: "geobroker:2" });
    w.execute(w.plan()); // the StatefulSets get the new template
    const p = w.plan();
    assert.equal(p.action, undefined);
    assert.equal(cond(p, "Degraded")?.reason, "QuorumAtRisk");
    assert.match(cond(p, "Degraded")!.message, /would leave 2 of 4 voters/);
    assert.match(cond(p, "Degraded")!.message, /demo-sa-0/);
  });

  it("removes a lost region only with an explicit confirmation, and records who asked", () => {
    const w = created(makeCluster({ regions: regions("eu", "us", "ap", "sa") }));
    w.lose("demo-sa-0");
    edit(w, { regions: regions("eu", "us", "ap") });
    const refused = w.plan();
    assert.equal(refused.action, undefined);
    assert.equal(cond(refused, "Degraded")?.reason, "ConfirmationRequired");
    assert.match(cond(refused, "Degraded")!.message, /geobroker\.io\/force-remove: sa/);

    edit(w, {}, { "geobroker.io/force-remove": "sa" });
    const events: string[] = [];
    for (let i = 0; i < 30 && w.sts.has("sa"); i++) {
      const p = w.plan();
      events.push(...p.events.map((e) => `${e.type} ${e.reason}: ${e.message}`));
      w.execute(p);
    }
    const p = w.converge();
    assert.deepEqual(
      w.actions.filter((a) => !a.startsWith("drain")),
      ["remove demo-sa-0"],
    );
    assert.equal(w.sts.has("sa"), false);
    assert.ok(
      events.some((e) => /^Warning ForceRemovingNode: .*demo-sa-0.*geobroker\.io\/force-remove: sa/.test(e)),
      events.join("\n"),
    );
    assert.equal(cond(p, "Ready")?.status, "True");
  });

  it("removes a single lost node confirmed by its name", () => {
    const w = created(makeCluster({ regions: [{ name: "eu", replicas: 3 }, ...regions("us", "ap")] }));
    w.lose("demo-eu-2");
    edit(w, { regions: [{ name: "eu", replicas: 2 }, ...regions("us", "ap")] });
    assert.equal(cond(w.plan(), "Degraded")?.reason, "ConfirmationRequired");
    edit(w, {}, { "geobroker.io/force-remove": "demo-eu-2" });
    w.converge();
    assert.ok(w.actions.includes("remove demo-eu-2"), w.actions.join(", "));
    assert.equal(w.nodes.has("demo-eu-2"), false);
  });

  it("re-checks quorum before removing a drained node (5 voters, 2 unreachable)", () => {
    const w = drainedWithTwoDown();
    const p = w.plan();
    assert.equal(p.action, undefined);
    assert.equal(cond(p, "Degraded")?.reason, "QuorumAtRisk");
    assert.match(cond(p, "Degraded")!.message, /not removing demo-eu-2/);
  });
});

describe("planner: a replaced volume (amnesia)", () => {
  it("removes the old voter entry of a node whose claim was re-created, then adds it as a new learner", () => {
    const w = created(makeCluster({ regions: [{ name: "eu", replicas: 2 }, ...regions("us", "ap")] }));
    assert.equal(w.memberVolumes?.["demo-eu-1"], "data-demo-eu-1#1");
    // The claim was deleted and the StatefulSet controller made a new, empty one for the pod.
    w.pvcUids.set("data-demo-eu-1", "data-demo-eu-1#2");
    const first = w.plan();
    assert.deepEqual(first.action, { kind: "DrainNode", nodeId: "demo-eu-1" });
    assert.ok(first.events.some((e) => e.type === "Warning" && e.reason === "VolumeReplaced"));
    const p = w.converge();
    assert.deepEqual(w.actions, [
      "drain demo-eu-1",
      "drain demo-eu-1",
      "remove demo-eu-1",
      "add demo-eu-1",
      "promote demo-eu-1",
    ]);
    assert.equal(w.memberVolumes?.["demo-eu-1"], "data-demo-eu-1#2");
    assert.equal(cond(p, "Ready")?.status, "True");
  });
});

describe("planner: creation that failed half-way", () => {
  it("starts the initial voters even when the first reconcile only wrote the ConfigMap", () => {
    const w = new World(makeCluster({ regions: regions3(1) }));
    const first = w.plan();
    // cert-manager was not installed: everything after the ConfigMap failed to apply.
    w.execute({ ...first, apply: first.apply.filter((o) => o.kind === "ConfigMap") });
    assert.equal(w.sts.size, 0);
    const second = w.plan();
    assert.deepEqual(
      ["eu", "us", "ap"].map((r) => stsReplicas(second, r)),
      [1, 1, 1],
    );
    assert.notEqual(cond(second, "Degraded")?.reason, "BrokerUnreachable");
    const p = w.converge();
    assert.deepEqual(w.actions, []);
    assert.equal(cond(p, "Ready")?.status, "True");
  });

  it("starts the missing regions' initial voters when only some StatefulSets were written", () => {
    const w = new World(makeCluster({ regions: regions3(2) }));
    const first = w.plan();
    w.execute({
      ...first,
      apply: first.apply.filter((o) => o.kind !== "StatefulSet" || o.metadata.name === "demo-eu"),
    });
    w.brokerUp = false; // eu alone (2 of 6 initial voters) cannot elect a leader
    const p = w.plan();
    assert.equal(stsReplicas(p, "us"), 2);
    assert.equal(stsReplicas(p, "ap"), 2);
  });
});

describe("planner: storage", () => {
  it("compares sizes as quantities: 1.5Gi is what the API server stores as 1536Mi", () => {
    const w = created(
      makeCluster({ regions: regions3(1), storage: { size: "1.5Gi", reclaimPolicy: "Retain" } }),
    );
    for (const s of w.sts.values()) s.storageSize = "1536Mi";
    const p = w.plan();
    assert.notEqual(cond(p, "Degraded")?.reason, "InvalidSpec");
    assert.equal(cond(p, "Ready")?.status, "True");
  });
});

describe("planner: replication factor", () => {
  it("refuses a scale-down that leaves fewer nodes than a topic's replicas", () => {
    const w = created(makeCluster({ regions: [{ name: "eu", replicas: 2 }, ...regions("us", "ap")] }));
    w.topics = [{ name: "orders", replicationFactor: 4 }];
    edit(w, { regions: regions3(1) });
    const p = w.plan();
    assert.equal(p.action, undefined);
    assert.equal(cond(p, "Degraded")?.reason, "ReplicationFactor");
    assert.match(cond(p, "Degraded")!.message, /orders.*4 replicas.*3 nodes/);
  });
});

describe("planner: drains", () => {
  it("cancels a drain when the spec wants the node again", () => {
    const w = created(makeCluster({ regions: [{ name: "eu", replicas: 2 }, ...regions("us", "ap")] }));
    edit(w, { regions: regions3(1) });
    w.execute(w.plan());
    assert.equal(w.nodes.get("demo-eu-1")?.state, "draining");
    edit(w, { regions: [{ name: "eu", replicas: 2 }, ...regions("us", "ap")] });
    assert.deepEqual(w.plan().action, { kind: "CancelDrain", nodeId: "demo-eu-1" });
  });
});

describe("planner: rolling update waits for the restarted node", () => {
  it("restarts the next pod only once the last one caught up and its groups have leaders", () => {
    const w = created(makeCluster({ regions: regions3(1) }));
    edit(w, { image: "geobroker:2" });
    w.execute(w.plan()); // new template
    w.execute(w.plan()); // first restart
    const first = w.actions.find((a) => a.startsWith("restart"))!.slice("restart ".length);
    w.execute(w.plan()); // the restarted pod comes back
    for (const g of w.groups) for (const m of g.members) if (m.nodeId === first) m.lagEntries = 500n;
    const lagging = w.plan();
    assert.equal(lagging.action?.kind === "DeletePod", false, lagging.action?.kind);
    assert.match(cond(lagging, "Progressing")!.message, new RegExp(`${first} to catch up`));
    for (const g of w.groups) for (const m of g.members) m.lagEntries = 0n;
    const orders = w.groups.find((g) => g.topic === "orders")!;
    const leader = orders.leader;
    orders.leader = "";
    const leaderless = w.plan();
    assert.equal(leaderless.action?.kind === "DeletePod", false);
    assert.match(cond(leaderless, "Progressing")!.message, /orders.*no leader/);
    orders.leader = leader;
    const next = w.plan().action;
    assert.ok(next?.kind === "DeletePod" || next?.kind === "TransferLeadership", next?.kind);
  });
});

describe("planner: events", () => {
  it("records a blocked step's warning once, not at every poll", () => {
    const w = drainedWithTwoDown();
    const first = w.plan();
    assert.equal(first.events.filter((e) => e.type === "Warning").length, 1);
    w.cluster = { ...w.cluster, status: first.status };
    assert.deepEqual(w.plan().events, []);
  });
});

describe("planner: broker config", () => {
  const env = {
    GEOBROKER_NODE_ID: "demo-eu-0",
    GEOBROKER_REGION: "eu",
    GEOBROKER_ADVERTISE_HOST: "demo-eu-0.demo-eu-peers.msg.svc",
  };
  const rendered = (w: World) => {
    const cm = w.plan().apply.find((o) => o.kind === "ConfigMap")!;
    return parse((cm.data as Record<string, string>)["broker.yaml"]!) as Record<string, unknown>;
  };

  it("renders a config the broker accepts with spec.auth.mode none", () => {
    const w = new World(makeCluster({ regions: regions3(1), auth: { mode: "none" } }));
    assert.doesNotThrow(() => resolveConfig([rendered(w), fromEnv(env)]));
  });

  it("renders a config the broker accepts with basic auth", () => {
    const w = new World(makeCluster({ regions: regions3(1) }));
    assert.doesNotThrow(() => resolveConfig([rendered(w), fromEnv(env)]));
  });

  it("refuses spec.config keys the operator owns", () => {
    const w = new World(
      makeCluster({
        regions: regions3(1),
        config: { ports: { client: 1 }, dataDir: "/x", log: { level: "debug" } },
      }),
    );
    const p = w.plan();
    assert.equal(cond(p, "Degraded")?.reason, "InvalidSpec");
    assert.match(cond(p, "Degraded")!.message, /spec\.config\.ports/);
    assert.match(cond(p, "Degraded")!.message, /spec\.config\.dataDir/);
    assert.doesNotMatch(cond(p, "Degraded")!.message, /spec\.config\.log/);
  });
});

describe("planner: teardown leaves nothing behind", () => {
  it("deletes the certificates, issuers and their Secrets (cert-manager does not own them to the cluster)", () => {
    const w = created(makeCluster({ regions: regions3(1) }));
    w.cluster = {
      ...w.cluster,
      metadata: { ...w.cluster.metadata, deletionTimestamp: "2025-01-01T00:00:00Z" },
    };
    w.execute(w.plan()); // StatefulSets stopped
    const p = w.plan();
    const deleted = p.delete.map((d) => `${d.kind}/${d.name}`);
    for (const name of [
      "Certificate/demo-peer",
      "Certificate/demo-client",
      "Certificate/demo-operator",
      "Certificate/demo-ca",
      "Certificate/demo-server-ca",
      "Issuer/demo-ca",
      "Issuer/demo-server-ca",
      "Issuer/demo-selfsigned",
      "Secret/demo-peer-tls",
      "Secret/demo-client-tls",
      "Secret/demo-operator-tls",
      "Secret/demo-ca",
      "Secret/demo-server-ca",
    ]) {
      assert.ok(deleted.includes(name), `${name} not in ${deleted.join(", ")}`);
    }
    // Certificates go before their Secrets, or cert-manager would issue them again.
    assert.ok(deleted.indexOf("Certificate/demo-peer") < deleted.indexOf("Secret/demo-peer-tls"));
    // The controller deletes before it releases the finalizer; a failed delete keeps it for a retry.
    assert.equal(p.finalizer, "remove");
  });
});
