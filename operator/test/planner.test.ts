import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { messages } from "../src/api/validate.js";
import { finalizer } from "../src/model/names.js";
import { plan, quorumRisk } from "../src/plan/planner.js";
import { cond, makeCluster, now, regions3, World, worldOperatorCa } from "./world.js";

function created(spec: Parameters<typeof makeCluster>[0]): World {
  const w = new World(makeCluster(spec));
  w.converge();
  w.actions = [];
  return w;
}

function setRegions(
  w: World,
  regions: { name: string; replicas: number }[],
  extra: Record<string, unknown> = {},
) {
  w.cluster = {
    ...w.cluster,
    metadata: { ...w.cluster.metadata, generation: (w.cluster.metadata.generation ?? 1) + 1 },
    spec: { ...w.cluster.spec, regions, ...extra },
  };
}

describe("planner: create", () => {
  it("builds every object of a new cluster and starts all initial pods at once", () => {
    const w = new World(makeCluster({ regions: regions3(3) }));
    const p = w.plan();
    const kinds = p.apply.map((o) => `${o.kind}/${o.metadata.name}`).sort();
    for (const expected of [
      "ConfigMap/demo-config",
      "Service/demo",
      "Service/demo-eu",
      "Service/demo-eu-peers",
      "Service/demo-eu-metrics",
      "StatefulSet/demo-eu",
      "StatefulSet/demo-us",
      "StatefulSet/demo-ap",
      "PodDisruptionBudget/demo",
      "Issuer/demo-selfsigned",
      "Issuer/demo-server-ca",
      "Certificate/demo-server-ca",
      "Certificate/demo-client",
      "ConfigMap/demo-client-ca",
      "Secret/demo-users",
    ]) {
      assert.ok(kinds.includes(expected), `missing ${expected} in ${kinds.join(", ")}`);
    }
    assert.ok(!kinds.includes("Certificate/demo-operator"), "the operator's identity is no Certificate");
    const clientCa = p.apply.find((o) => o.metadata.name === "demo-client-ca")!;
    assert.deepEqual(
      clientCa.data,
      { "ca.crt": worldOperatorCa },
      "the brokers trust the operator's CA only",
    );
    for (const o of p.apply) {
      assert.equal(
        o.metadata.ownerReferences?.[0]?.uid,
        "uid-1",
        `${o.kind} ${o.metadata.name} has no owner`,
      );
      assert.equal(o.metadata.namespace, "msg");
    }
    const sts = p.apply.filter((o) => o.kind === "StatefulSet");
    assert.deepEqual(
      sts.map((o) => (o.spec as { replicas: number }).replicas),
      [3, 3, 3],
    );
    assert.equal(p.action, undefined);
    assert.equal(cond(p, "Progressing")?.reason, "Creating");
    assert.equal(cond(p, "Ready")?.status, "False");
    assert.equal(p.events[0]?.reason, "Creating");
    // The config freezes all nine pods as the initial voters.
    const config = p.apply.find((o) => o.kind === "ConfigMap")!.data as Record<string, string>;
    assert.match(config["broker.yaml"]!, /demo-ap-2\.demo-ap-peers\.msg\.svc:9100/);
  });

  it("converges to Ready with no membership calls: the initial voters form the cluster", () => {
    const w = new World(makeCluster({ regions: regions3(3) }));
    const p = w.converge();
    assert.deepEqual(w.actions, []);
    assert.equal(cond(p, "Ready")?.status, "True");
    assert.equal(cond(p, "Progressing")?.status, "False");
    assert.equal(cond(p, "Degraded")?.status, "False");
    assert.equal(p.status.readyNodes, "9/9");
    assert.equal(p.status.regionNames, "eu,us,ap");
    assert.equal(p.status.leader, "demo-eu-0");
    assert.equal(p.status.members?.length, 9);
    assert.equal(p.status.endpoints?.regions.us, "demo-us.msg.svc:9000");
  });

  it("adds nobody while the broker answers but lists no members yet", () => {
    const w = created({ regions: regions3(1) });
    const nodes = w.nodes;
    w.nodes = new Map();
    const observed = w.observe();
    w.nodes = nodes;
    const p = plan({
      cluster: w.cluster,
      observed: { ...observed, broker: { reachable: true, nodes: [], groups: [] } },
      now,
    });
    assert.equal(p.action, undefined);
    assert.match(cond(p, "Progressing")!.message, /the cluster is forming/);
  });

  it("asks to add the finalizer when the cluster has none", () => {
    const c = makeCluster({ regions: regions3() });
    c.metadata.finalizers = [];
    const w = new World(c);
    assert.equal(w.plan().finalizer, "add");
  });
});

describe("planner: scale up", () => {
  it("adds pods to one region one at a time: start, join as learner, promote", () => {
    const w = created({ regions: regions3(1) });
    setRegions(w, [
      { name: "eu", replicas: 3 },
      { name: "us", replicas: 1 },
      { name: "ap", replicas: 1 },
    ]);
    const first = w.plan();
    assert.equal(cond(first, "Progressing")?.reason, "ScalingUp");
    assert.equal(
      (
        first.apply.find((o) => o.metadata.name === "demo-eu" && o.kind === "StatefulSet")!.spec as {
          replicas: number;
        }
      ).replicas,
      2,
    );
    const p = w.converge();
    assert.deepEqual(w.actions, ["add demo-eu-1", "promote demo-eu-1", "add demo-eu-2", "promote demo-eu-2"]);
    assert.equal(w.sts.get("eu")?.replicas, 3);
    assert.equal(cond(p, "Ready")?.status, "True");
    assert.equal(p.status.readyNodes, "5/5");
  });

  it("grows several regions one node at a time, in spec order", () => {
    const w = created({ regions: regions3(1) });
    setRegions(w, regions3(2));
    w.converge();
    assert.deepEqual(w.actions, [
      "add demo-eu-1",
      "promote demo-eu-1",
      "add demo-us-1",
      "promote demo-us-1",
      "add demo-ap-1",
      "promote demo-ap-1",
    ]);
  });

  it("waits while a learner is behind and promotes it once caught up", () => {
    const w = created({ regions: regions3(1) });
    setRegions(w, [{ name: "eu", replicas: 2 }, ...regions3(1).slice(1)]);
    w.execute(w.plan()); // scale the StatefulSet
    w.execute(w.plan()); // AddNode
    for (const g of w.groups) for (const m of g.members) if (m.nodeId === "demo-eu-1") m.lagEntries = 40n;
    const waiting = w.plan();
    assert.equal(waiting.action, undefined);
    assert.match(cond(waiting, "Progressing")!.message, /demo-eu-1 is catching up \(40 entries behind\)/);
    for (const g of w.groups) for (const m of g.members) m.lagEntries = 0n;
    assert.deepEqual(w.plan().action, { kind: "PromoteNode", nodeId: "demo-eu-1" });
  });

  it("does not add a node while another pod is not ready", () => {
    const w = created({ regions: regions3(1) });
    w.pods.get("demo-us-0")!.ready = false;
    setRegions(w, [{ name: "eu", replicas: 2 }, ...regions3(1).slice(1)]);
    const p = w.plan();
    assert.equal(p.action, undefined);
    assert.equal(
      (
        p.apply.find((o) => o.metadata.name === "demo-eu" && o.kind === "StatefulSet")!.spec as {
          replicas: number;
        }
      ).replicas,
      1,
    );
    assert.match(cond(p, "Progressing")!.message, /scaling up eu waits for demo-us-0/);
  });
});

describe("planner: scale down", () => {
  it("drains, removes, then shrinks the StatefulSet, highest ordinal first", () => {
    const w = created({ regions: regions3(3) });
    setRegions(w, [{ name: "eu", replicas: 1 }, ...regions3(3).slice(1)]);
    const p = w.converge();
    assert.deepEqual(w.actions, [
      "drain demo-eu-2",
      "drain demo-eu-2",
      "remove demo-eu-2",
      "drain demo-eu-1",
      "drain demo-eu-1",
      "remove demo-eu-1",
    ]);
    assert.equal(w.sts.get("eu")?.replicas, 1);
    assert.equal(w.pods.has("demo-eu-1"), false);
    assert.equal(cond(p, "Ready")?.status, "True");
    // reclaimPolicy defaults to Retain: the volumes stay for a later scale-up.
    assert.ok(w.pvcs.has("data-demo-eu-2"));
  });

  it("shrinks several regions and deletes freed volumes with reclaimPolicy Delete", () => {
    const w = created({ regions: regions3(2), storage: { size: "10Gi", reclaimPolicy: "Delete" } });
    setRegions(w, regions3(1));
    w.converge();
    assert.deepEqual(
      w.actions.filter((a) => a.startsWith("remove")),
      ["remove demo-eu-1", "remove demo-us-1", "remove demo-ap-1"],
    );
    assert.deepEqual([...w.pvcs].sort(), ["data-demo-ap-0", "data-demo-eu-0", "data-demo-us-0"]);
  });

  it("refuses to remove a node while the rest could not keep a majority", () => {
    const w = created({ regions: regions3(1) });
    setRegions(w, [{ name: "eu", replicas: 3 }, ...regions3(1).slice(1)]);
    w.converge();
    setRegions(w, [{ name: "eu", replicas: 2 }, ...regions3(1).slice(1)]);
    w.nodes.get("demo-us-0")!.reachable = false;
    w.nodes.get("demo-ap-0")!.reachable = false;
    const p = w.plan();
    assert.equal(p.action, undefined);
    assert.equal(cond(p, "Degraded")?.status, "True");
    assert.equal(cond(p, "Degraded")?.reason, "QuorumAtRisk");
    assert.match(cond(p, "Degraded")!.message, /not removing demo-eu-2/);
    assert.equal(p.events.find((e) => e.type === "Warning")?.reason, "QuorumAtRisk");
  });
});

describe("planner: regions", () => {
  it("adds a region: its StatefulSet starts empty and grows through learners", () => {
    const w = created({ regions: regions3(1) });
    setRegions(w, [...regions3(1), { name: "sa", replicas: 2 }]);
    const first = w.plan();
    assert.ok(first.apply.some((o) => o.kind === "Service" && o.metadata.name === "demo-sa-peers"));
    w.converge();
    assert.deepEqual(w.actions, ["add demo-sa-0", "promote demo-sa-0", "add demo-sa-1", "promote demo-sa-1"]);
    assert.equal(w.sts.get("sa")?.replicas, 2);
  });

  it("removes a region node by node, then deletes its StatefulSet, Services and volumes", () => {
    const w = created({
      regions: [...regions3(1), { name: "sa", replicas: 2 }],
      storage: { size: "10Gi", reclaimPolicy: "Delete" },
    });
    const revisionBefore = w.sts.get("sa")!.revision;
    setRegions(w, regions3(1));
    const first = w.plan();
    assert.deepEqual(first.action, { kind: "DrainNode", nodeId: "demo-sa-1" });
    // The removed region is scaled, never re-applied: its pods must not roll.
    assert.equal(
      first.apply.some((o) => o.kind === "StatefulSet" && o.metadata.name === "demo-sa"),
      false,
    );
    const p = w.converge();
    assert.deepEqual(
      w.actions.filter((a) => !a.startsWith("drain")),
      ["remove demo-sa-1", "remove demo-sa-0"],
    );
    assert.equal(w.sts.has("sa"), false);
    assert.equal(
      w.actions.some((a) => a.startsWith("restart")),
      false,
    );
    assert.ok(revisionBefore);
    assert.deepEqual(
      [...w.pvcs].filter((n) => n.includes("-sa-")),
      [],
    );
    assert.equal(cond(p, "Ready")?.status, "True");
    assert.equal(p.status.regions?.length, 3);
  });

  it("keeps removed regions' names in the server certificate until they are gone", () => {
    const w = created({ regions: [...regions3(1), { name: "sa", replicas: 1 }] });
    setRegions(w, regions3(1));
    const cert = w.plan().apply.find((o) => o.kind === "Certificate" && o.metadata.name === "demo-client")!;
    assert.ok((cert.spec as { dnsNames: string[] }).dnsNames.includes("*.demo-sa-peers.msg.svc"));
  });
});

describe("planner: rolling update", () => {
  it("restarts every pod once, moving each leader's groups away before its restart", () => {
    const w = created({ regions: regions3(2) });
    w.cluster = { ...w.cluster, spec: { ...w.cluster.spec, image: "geobroker:2" } };
    w.converge();
    const restarts = w.actions.filter((a) => a.startsWith("restart"));
    assert.equal(restarts.length, 6);
    assert.equal(new Set(restarts).size, 6);
    // demo-eu-0 led the metadata group and demo-ap-1 led "orders": each moved before its restart.
    for (const leader of ["demo-eu-0", "demo-ap-1"]) {
      const moved = w.actions.findIndex((a) => a.startsWith("transfer") && a.includes(` ${leader}->`));
      const restarted = w.actions.indexOf(`restart ${leader}`);
      assert.ok(moved >= 0 && moved < restarted, `${leader}: ${w.actions.join(", ")}`);
    }
    // Pods that lead nothing go first.
    assert.ok(!["restart demo-eu-0", "restart demo-ap-1"].includes(w.actions[0]!));
    const revisions = new Set([...w.pods.values()].map((p) => p.revision));
    for (const [region, s] of w.sts) {
      assert.ok(
        [...w.pods.values()].filter((p) => p.region === region).every((p) => p.revision === s.revision),
      );
    }
    assert.equal(revisions.size, 3);
  });

  it("restarts nothing while a pod is not ready", () => {
    const w = created({ regions: regions3(1) });
    w.cluster = { ...w.cluster, spec: { ...w.cluster.spec, image: "geobroker:2" } };
    w.execute(w.plan()); // the StatefulSets get the new template
    w.pods.get("demo-us-0")!.ready = false;
    const p = w.plan();
    assert.equal(p.action, undefined);
    assert.equal(cond(p, "Progressing")?.reason, "WaitingForPods");
  });

  it("does not roll pods when only the seed list changes", () => {
    const w = created({ regions: regions3(1) });
    setRegions(w, [{ name: "eu", replicas: 2 }, ...regions3(1).slice(1)]);
    w.converge();
    assert.equal(
      w.actions.some((a) => a.startsWith("restart")),
      false,
    );
  });
});

describe("planner: operator restart mid-step", () => {
  // Every state below is what the cluster shows after the operator died between two calls; a
  // fresh planner (no memory) must take the next step, and taking it twice must be harmless.
  it("resumes a drain the broker reports as under way", () => {
    const w = created({ regions: regions3(2) });
    setRegions(w, [{ name: "eu", replicas: 1 }, ...regions3(2).slice(1)]);
    w.execute(w.plan()); // first DrainNode: the node is now "draining"
    assert.equal(w.nodes.get("demo-eu-1")?.state, "draining");
    const again = w.plan();
    assert.deepEqual(again.action, { kind: "DrainNode", nodeId: "demo-eu-1" });
    assert.deepEqual(w.plan().action, again.action);
  });

  it("shrinks the StatefulSet when the node was removed but the operator died before scaling", () => {
    const w = created({ regions: regions3(2) });
    setRegions(w, [{ name: "eu", replicas: 1 }, ...regions3(2).slice(1)]);
    w.nodes.delete("demo-eu-1");
    for (const g of w.groups) g.members = g.members.filter((m) => m.nodeId !== "demo-eu-1");
    const p = w.plan();
    assert.equal(p.action, undefined);
    assert.equal(
      (
        p.apply.find((o) => o.metadata.name === "demo-eu" && o.kind === "StatefulSet")!.spec as {
          replicas: number;
        }
      ).replicas,
      1,
    );
    assert.equal(cond(p, "Progressing")?.reason, "ScalingDown");
  });

  it("adds a started pod that never joined, and promotes a learner left behind", () => {
    const w = created({ regions: regions3(1) });
    setRegions(w, [{ name: "eu", replicas: 2 }, ...regions3(1).slice(1)]);
    w.execute(w.plan()); // StatefulSet scaled, then the operator "crashed"
    const add = w.plan();
    assert.equal(add.action?.kind, "AddNode");
    assert.deepEqual(w.plan().action, add.action);
    w.execute(add); // learner added, then "crashed" again
    assert.deepEqual(w.plan().action, { kind: "PromoteNode", nodeId: "demo-eu-1" });
  });

  it("removes a drained node whatever step the operator was on", () => {
    const w = created({ regions: regions3(2) });
    setRegions(w, [regions3(2)[0]!, { name: "us", replicas: 1 }, regions3(2)[2]!]);
    w.nodes.get("demo-us-1")!.state = "drained";
    assert.deepEqual(w.plan().action, { kind: "RemoveNode", nodeId: "demo-us-1" });
  });

  it("continues a rolling update half done", () => {
    const w = created({ regions: regions3(1) });
    w.cluster = { ...w.cluster, spec: { ...w.cluster.spec, image: "geobroker:2" } };
    w.execute(w.plan());
    w.execute(w.plan()); // one pod restarted
    const restarted = w.actions.filter((a) => a.startsWith("restart"));
    assert.equal(restarted.length, 1);
    const fresh = new World(w.cluster);
    Object.assign(fresh, {
      sts: w.sts,
      pods: w.pods,
      pvcs: w.pvcs,
      configText: w.configText,
      nodes: w.nodes,
      groups: w.groups,
    });
    fresh.converge();
    assert.equal(fresh.actions.filter((a) => a.startsWith("restart")).length, 2);
    assert.equal(fresh.actions.includes(restarted[0]!), false);
  });
});

describe("planner: status conditions", () => {
  it("reports an invalid spec as Degraded with the validation message and changes nothing", () => {
    const w = new World(
      makeCluster({
        regions: [
          { name: "eu", replicas: 1 },
          { name: "eu", replicas: 1 },
          { name: "us", replicas: 1 },
        ],
      }),
    );
    const p = w.plan();
    assert.deepEqual(p.apply, []);
    assert.equal(cond(p, "Degraded")?.status, "True");
    assert.equal(cond(p, "Degraded")?.reason, "InvalidSpec");
    assert.match(cond(p, "Degraded")!.message, new RegExp(messages.uniqueRegions));
    assert.equal(cond(p, "Ready")?.status, "False");
    assert.equal(cond(p, "Progressing")?.status, "False");
    assert.equal(p.events[0]?.type, "Warning");
  });

  it("needs three regions unless overridden, and warns when overridden", () => {
    const two = [
      { name: "eu", replicas: 1 },
      { name: "us", replicas: 1 },
    ];
    const refused = new World(makeCluster({ regions: two })).plan();
    assert.match(cond(refused, "Degraded")!.message, /at least 3 regions/);
    const c = makeCluster({ regions: two, allowFewerThanThreeRegions: true });
    c.metadata.finalizers = [];
    const allowed = new World(c).plan();
    assert.equal(cond(allowed, "Degraded")?.status, "False");
    assert.match(allowed.status.warnings?.[0] ?? "", /losing a region loses quorum/);
    assert.ok(allowed.events.some((e) => e.type === "Warning" && e.reason === "SpecWarning"));
  });

  it("refuses a smaller volume or another storage class on a running cluster", () => {
    const w = created({ regions: regions3(1) });
    w.cluster = {
      ...w.cluster,
      spec: { ...w.cluster.spec, storage: { size: "5Gi", reclaimPolicy: "Retain" } },
    };
    const p = w.plan();
    assert.equal(cond(p, "Degraded")?.reason, "InvalidSpec");
    assert.match(cond(p, "Degraded")!.message, new RegExp(messages.storageShrink));
    w.cluster = {
      ...w.cluster,
      spec: {
        ...w.cluster.spec,
        storage: { size: "10Gi", storageClassName: "fast", reclaimPolicy: "Retain" },
      },
    };
    assert.match(cond(w.plan(), "Degraded")!.message, new RegExp(messages.storageClassImmutable));
  });

  it("grows every claim of a region in place and keeps the StatefulSet's claim template", () => {
    const w = created({ regions: regions3(1) });
    w.cluster = {
      ...w.cluster,
      spec: {
        ...w.cluster.spec,
        regions: [{ name: "eu", replicas: 1, storage: { size: "20Gi" } }, ...regions3(1).slice(1)],
      },
    };
    const p = w.plan();
    assert.equal(cond(p, "Degraded")?.status, "False");
    assert.deepEqual(
      p.resize.map((r) => `${r.ref.name}=${r.size}`),
      ["data-demo-eu-0=20Gi"],
    );
    const eu = p.apply.find((o) => o.kind === "StatefulSet" && o.metadata.name === "demo-eu")!;
    const claim = (
      eu.spec as { volumeClaimTemplates: { spec: { resources: { requests: { storage: string } } } }[] }
    ).volumeClaimTemplates[0]!;
    assert.equal(claim.spec.resources.requests.storage, "10Gi");
  });

  it("is Degraded when every pod is ready but the admin API does not answer, Progressing while pods start", () => {
    const w = created({ regions: regions3(1) });
    w.brokerUp = false;
    const p = w.plan();
    assert.equal(cond(p, "Degraded")?.reason, "BrokerUnreachable");
    assert.match(cond(p, "Degraded")!.message, /connection refused/);
    w.pods.get("demo-eu-0")!.ready = false;
    const starting = w.plan();
    assert.equal(cond(starting, "Degraded")?.status, "False");
    assert.equal(cond(starting, "Progressing")?.reason, "WaitingForPods");
  });

  it("is Degraded while a member is unreachable, and not Ready", () => {
    const w = created({ regions: regions3(1) });
    w.nodes.get("demo-ap-0")!.reachable = false;
    const p = w.plan();
    assert.equal(cond(p, "Degraded")?.reason, "NodesUnreachable");
    assert.match(cond(p, "Degraded")!.message, /demo-ap-0/);
    assert.equal(cond(p, "Ready")?.status, "False");
  });

  it("stamps observedGeneration and keeps lastTransitionTime while a status holds", () => {
    const w = created({ regions: regions3(1) });
    const before = cond(w.plan(), "Ready")!;
    w.cluster = { ...w.cluster, metadata: { ...w.cluster.metadata, generation: 7 } };
    const later = plan({ cluster: w.cluster, observed: w.observe(), now: "2030-01-01T00:00:00Z" });
    assert.equal(cond(later, "Ready")?.observedGeneration, 7);
    assert.equal(later.status.observedGeneration, 7);
    assert.equal(cond(later, "Ready")?.lastTransitionTime, before.lastTransitionTime);
    assert.equal(before.lastTransitionTime, now);
  });
});

describe("planner: teardown", () => {
  it("stops the pods, deletes volumes with reclaimPolicy Delete, then releases the finalizer", () => {
    const w = created({ regions: regions3(1), storage: { size: "10Gi", reclaimPolicy: "Delete" } });
    w.cluster = { ...w.cluster, metadata: { ...w.cluster.metadata, deletionTimestamp: now } };
    const first = w.plan();
    assert.deepEqual(
      first.delete.map((d) => d.kind),
      ["StatefulSet", "StatefulSet", "StatefulSet"],
    );
    assert.equal(first.finalizer, undefined);
    w.execute(first);
    const second = w.plan();
    assert.deepEqual(
      second.delete.map((d) => d.kind),
      ["PersistentVolumeClaim", "PersistentVolumeClaim", "PersistentVolumeClaim"],
    );
    w.execute(second);
    assert.equal(w.plan().finalizer, "remove");
  });

  it("keeps volumes with reclaimPolicy Retain", () => {
    const w = created({ regions: regions3(1) });
    w.cluster = { ...w.cluster, metadata: { ...w.cluster.metadata, deletionTimestamp: now } };
    w.execute(w.plan());
    const p = w.plan();
    assert.deepEqual(
      p.delete.filter((d) => d.kind === "PersistentVolumeClaim"),
      [],
    );
    assert.equal(p.finalizer, "remove");
    assert.equal(w.pvcs.size, 3);
    assert.ok(w.cluster.metadata.finalizers?.includes(finalizer));
  });
});

describe("quorumRisk", () => {
  const node = (id: string, reachable = true) => ({ id, region: "r", state: "voter" as const, reachable });
  it("allows removing one of three healthy voters", () => {
    assert.equal(quorumRisk([node("a"), node("b"), node("c")], "c"), undefined);
  });
  it("refuses when the remaining voters could not form a majority", () => {
    assert.match(
      quorumRisk([node("a"), node("b", false), node("c")], "c")!,
      /1 of the 2 remaining voters of the metadata group are unreachable/,
    );
  });
  it("refuses removing the last voter", () => {
    assert.equal(quorumRisk([node("a")], "a"), "it is the last voter");
  });
});
