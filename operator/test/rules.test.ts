import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import type { GeoBrokerCluster } from "../src/api/types.js";
import { peerEntry } from "../src/model/broker-config.js";
import { names } from "../src/model/names.js";
import type { DecideInput } from "../src/plan/context.js";
import { decide, rules } from "../src/plan/decide.js";
import type { BrokerGroup, BrokerNode, Observed, ObservedPod } from "../src/plan/observed.js";
import type { Decision } from "../src/plan/types.js";
import { makeCluster } from "./world.js";

// The rule chain of decide.ts: its order is the documented one, and each rule decides what it
// is named for on a small hand-made observation (the World simulations cover the sequences).

const root = new URL("../../../", import.meta.url).pathname;

/** The rule names of the "The rule chain" section of docs/operator.md, in their order. */
function documentedRules(): string[] {
  const doc = readFileSync(`${root}docs/operator.md`, "utf8");
  const start = doc.indexOf("### The rule chain");
  assert.ok(start >= 0, "docs/operator.md has no section ### The rule chain");
  const section = doc.slice(start).split(/\n#{2,3} /)[0]!;
  return [...section.matchAll(/^\d+\. `([a-z-]+)`/gm)].map((m) => m[1]!);
}

const pod = (region: string, ordinal: number, o: Partial<ObservedPod> = {}): ObservedPod => ({
  name: names.pod("demo", region, ordinal),
  region,
  ordinal,
  running: true,
  ready: true,
  revision: "r1",
  terminating: false,
  ...o,
});
const voter = (id: string, o: Partial<BrokerNode> = {}): BrokerNode => ({
  id,
  region: id.split("-")[1]!,
  state: "voter",
  reachable: true,
  ...o,
});
const metadataGroup = (ids: string[], leader = ids[0]!): BrokerGroup => ({
  id: 0n,
  topic: "metadata",
  leader,
  members: ids.map((nodeId) => ({ nodeId, role: "voter" as const, lagEntries: 0n })),
});

/** A formed cluster: `running` pods per region, all ready voters, at the spec's counts unless told. */
function formed(
  spec: Record<string, number>,
  running: Record<string, number> = spec,
  change: (o: Observed, ids: string[]) => void = () => {},
): { cluster: GeoBrokerCluster; input: DecideInput } {
  const cluster = makeCluster({
    regions: Object.entries(spec).map(([name, replicas]) => ({ name, replicas })),
  });
  const regions = Object.entries(running);
  const pods = regions.flatMap(([r, n]) => Array.from({ length: n }, (_, i) => pod(r, i)));
  const ids = pods.map((p) => p.name);
  const observed: Observed = {
    statefulSets: regions.map(([region, replicas]) => ({
      region,
      replicas,
      readyReplicas: replicas,
      updatedReplicas: replicas,
      updateRevision: "r1",
      storageSize: "10Gi",
      settled: true,
    })),
    pods,
    pvcs: [],
    initialPeers: pods.map((p) => peerEntry(cluster, p.region, p.ordinal)),
    formed: true,
    broker: { reachable: true, nodes: ids.map((id) => voter(id)), groups: [metadataGroup(ids)] },
    users: [],
  };
  change(observed, ids);
  const removed = regions.map(([r]) => r).filter((r) => !(r in spec));
  const input = {
    cluster,
    observed,
    removed,
    initialPeers: observed.initialPeers!,
    bootstrap: false,
    formed: true,
  };
  return { cluster, input };
}

/** The decision on `input`, which `rule` must have made. */
function decidedBy(rule: string, input: DecideInput): Decision {
  const d = decide(input);
  assert.equal(d.rule, rule);
  return d;
}

function nodes(o: Observed): BrokerNode[] {
  assert.ok(o.broker.reachable);
  return o.broker.nodes;
}

describe("decide: the rule chain", () => {
  it("asks its rules in the order docs/operator.md lists them", () => {
    assert.deepEqual(
      rules.map((r) => r.name),
      documentedRules(),
    );
  });

  it("names no rule and changes nothing when the cluster is converged", () => {
    const d = decide(formed({ eu: 3 }).input);
    assert.equal(d.rule, undefined);
    assert.equal(d.step ?? d.blocked ?? d.action, undefined);
    assert.deepEqual([...d.replicas], [["eu", 3]]);
  });

  it("lets the first rule with an outcome decide, whatever the later ones would say", () => {
    const { input } = formed({ eu: 3 }, { eu: 2 });
    assert.equal(decide(input).rule, "scale-up");
    const withoutScaleUp = rules.filter((r) => r.name !== "scale-up");
    assert.equal(decide(input, withoutScaleUp).rule, undefined);
  });
});

describe("decide: each rule", () => {
  it("creation: nothing exists yet, every region starts at its count", () => {
    const { input } = formed({ eu: 3, us: 1 }, {});
    const d = decidedBy("creation", { ...input, bootstrap: true, formed: false });
    assert.equal(d.step?.reason, "Creating");
    assert.deepEqual(Object.fromEntries(d.replicas), { eu: 3, us: 1 });
    assert.equal(d.events[0]?.reason, "Creating");
  });

  it("formation: before the cluster formed, every initial voter's StatefulSet runs up to it", () => {
    const { cluster, input } = formed({ eu: 3, us: 2 }, { eu: 1 });
    const initialPeers = [0, 1, 2].map((i) => peerEntry(cluster, "eu", i));
    const d = decidedBy("formation", { ...input, initialPeers, formed: false });
    assert.deepEqual(Object.fromEntries(d.replicas), { eu: 3, us: 0 });
    assert.match(d.step?.message ?? "", /3 initial voter/);
  });

  it("membership-listed: an unreachable broker with every pod ready blocks", () => {
    const unreachable = (o: Observed) => {
      o.broker = { reachable: false, error: "connection refused" };
    };
    const d = decidedBy("membership-listed", formed({ eu: 3 }, { eu: 3 }, unreachable).input);
    assert.equal(d.blocked?.reason, "BrokerUnreachable");
  });

  it("replaced-volume: a voter on a new volume has its old entry drained", () => {
    const replaced = new Map([["demo-eu-1", { was: "a", now: "b" }]]);
    const d = decidedBy("replaced-volume", { ...formed({ eu: 3 }).input, replaced });
    assert.deepEqual(d.action, { kind: "DrainNode", nodeId: "demo-eu-1" });
    assert.equal(d.events[0]?.reason, "VolumeReplaced");
  });

  it("learner: a caught-up learner is promoted", () => {
    const learner = (o: Observed) => {
      nodes(o)[2]!.state = "learner";
    };
    const d = decidedBy("learner", formed({ eu: 3 }, { eu: 3 }, learner).input);
    assert.deepEqual(d.action, { kind: "PromoteNode", nodeId: "demo-eu-2" });
  });

  it("leaving-node: a drained node the spec no longer wants is removed", () => {
    const drained = (o: Observed) => {
      nodes(o)[2]!.state = "drained";
    };
    const d = decidedBy("leaving-node", formed({ eu: 2 }, { eu: 3 }, drained).input);
    assert.deepEqual(d.action, { kind: "RemoveNode", nodeId: "demo-eu-2" });
  });

  it("join: a running pod that is no member is added as a learner", () => {
    const d = decidedBy("join", formed({ eu: 3 }, { eu: 3 }, (o) => void nodes(o).pop()).input);
    assert.equal(d.action?.kind, "AddNode");
  });

  it("statefulsets-observed: a change the StatefulSet controller has not seen is waited for", () => {
    const unsettled = (o: Observed) => {
      o.statefulSets[0]!.settled = false;
    };
    const d = decidedBy("statefulsets-observed", formed({ eu: 3 }, { eu: 3 }, unsettled).input);
    assert.equal(d.step?.reason, "WaitingForStatefulSet");
  });

  it("rolling-update: the outdated pod's leadership moves before it restarts", () => {
    const outdated = (o: Observed) => {
      o.statefulSets[0]!.updateRevision = "r2";
      for (const p of o.pods) if (p.ordinal > 0) p.revision = "r2";
    };
    const d = decidedBy("rolling-update", formed({ eu: 3 }, { eu: 3 }, outdated).input);
    assert.deepEqual(d.action, {
      kind: "TransferLeadership",
      groupId: 0n,
      fromNodeId: "demo-eu-0",
      targetNodeId: "demo-eu-1",
    });
  });

  it("scale-up: the first region short of its count gets one more pod", () => {
    const d = decidedBy("scale-up", formed({ eu: 3, us: 2 }, { eu: 3, us: 1 }).input);
    assert.deepEqual(Object.fromEntries(d.replicas), { eu: 3, us: 2 });
  });

  it("scale-down: the highest ordinal of a region over its count is drained", () => {
    const d = decidedBy("scale-down", formed({ eu: 2 }, { eu: 3 }).input);
    assert.deepEqual(d.action, { kind: "DrainNode", nodeId: "demo-eu-2" });
  });

  it("region-removal: a region out of the spec gives up its nodes, after the spec's regions", () => {
    const d = decidedBy("region-removal", formed({ eu: 3 }, { eu: 3, us: 1 }).input);
    assert.deepEqual(d.action, { kind: "DrainNode", nodeId: "demo-us-0" });
    decidedBy("scale-down", formed({ eu: 2 }, { eu: 3, us: 1 }).input);
  });

  it("region-removal: an unreachable node of a removed region waits for a confirmation", () => {
    const lost = (o: Observed) => {
      nodes(o)[3]!.reachable = false;
      o.pods[3]!.ready = false;
    };
    const d = decidedBy("region-removal", formed({ eu: 3 }, { eu: 3, us: 1 }, lost).input);
    assert.equal(d.blocked?.reason, "ConfirmationRequired");
  });

  it("pods-ready: nothing else to do, but a pod is not ready yet", () => {
    const notReady = (o: Observed) => {
      o.pods[1]!.ready = false;
    };
    const d = decidedBy("pods-ready", formed({ eu: 3 }, { eu: 3 }, notReady).input);
    assert.equal(d.step?.reason, "WaitingForPods");
  });

  it("zones: a member's zone is recorded from its Kubernetes node's label, once", () => {
    const zoned = (recorded: string) => (o: Observed) => {
      o.pods.forEach((p, i) => {
        p.zone = `eu-${"abc"[i]}`;
      });
      nodes(o).forEach((n, i) => {
        n.zone = i === 1 ? recorded : `eu-${"abc"[i]}`;
      });
    };
    const d = decidedBy("zones", formed({ eu: 3 }, { eu: 3 }, zoned("")).input);
    assert.equal(d.step?.reason, "RecordingZone");
    assert.deepEqual(d.action, {
      kind: "AddNode",
      node: peerEntry(makeCluster({ regions: [] }), "eu", 1, "eu-b"),
    });
    // Recorded: converged; a pod whose node has no zone label records nothing either.
    assert.equal(decide(formed({ eu: 3 }, { eu: 3 }, zoned("eu-b")).input).rule, undefined);
    assert.equal(decide(formed({ eu: 3 }).input).rule, undefined);
  });
});
