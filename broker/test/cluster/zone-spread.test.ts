import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { planMoves } from "../../src/cluster/membership/rebalance.js";
import {
  applyMetadataCommand,
  initialMetadataState,
  type MetadataState,
} from "../../src/cluster/state/metadata-state.js";
import { placeReplicas } from "../../src/cluster/state/placement.js";

// Issue 21: zone-aware placement. The operator records each node's zone from its Kubernetes node's
// topology.kubernetes.io/zone label; within a region a partition's replicas go to different zones
// when there are, at creation (placement.ts) and when replicas move (rebalance.ts: a drain's
// target, a balance move), so losing a zone loses at most one replica of a group per region.

/** `id@zone` in region `eu`. */
function state(nodes: string[], partitions: number, replicationFactor = 2): MetadataState {
  const s = initialMetadataState(
    nodes.map((n) => {
      const [id, zone] = n.split("@") as [string, string];
      return { id, region: "eu", zone, peerAddress: `${id}:1`, clientAddress: `${id}:2` };
    }),
  );
  const r = applyMetadataCommand(s, {
    type: "createTopic",
    spec: {
      name: "t",
      partitions,
      replicationFactor,
      retention: { maxAgeMs: 0, maxBytes: 0, maxMessages: 0, keepUnacknowledged: true },
      homeRegion: "",
    },
    atMicros: 1,
    ifAbsent: false,
  });
  assert.ok(r.ok);
  return s;
}

const zones = (s: MetadataState, replicas: string[]) => replicas.map((r) => s.nodes[r]!.zone).sort();

/** Plans and settles moves until there is none left. */
function settleAll(s: MetadataState): void {
  for (let round = 0; round < 50; round++) {
    const moves = planMoves(s, 4);
    if (moves.length === 0) return;
    for (const m of moves) {
      assert.ok(applyMetadataCommand(s, { type: "moveReplica", ...m }).ok);
      applyMetadataCommand(s, { type: "settleMove", groupId: m.groupId, from: m.from, to: m.to });
    }
  }
  assert.fail("moves did not settle in 50 rounds");
}

describe("replicas spread over zones within a region", () => {
  it("at creation: each region's replicas of a group in different zones", () => {
    const nodes = ["eu", "us", "ap"].flatMap((r) =>
      ["0@a", "1@a", "2@b"].map((x) => {
        const [i, z] = x.split("@");
        return { id: `${r}-${i}`, region: r, zone: `${r}-${z}` };
      }),
    );
    const chosen = placeReplicas(nodes, 6, new Map());
    for (const r of ["eu", "us", "ap"]) {
      const inRegion = chosen.filter((id) => id.startsWith(r));
      assert.equal(inRegion.length, 2);
      assert.deepEqual(
        inRegion.map((id) => nodes.find((n) => n.id === id)!.zone).sort(),
        [`${r}-a`, `${r}-b`],
        `region ${r}: ${inRegion.join(",")}`,
      );
    }
  });

  it("a drained replica moves to a node in a zone the group is not in yet", () => {
    const s = state(["eu-0@a", "eu-1@b", "eu-2@a", "eu-3@b"], 1);
    const p = s.topics.t!.partitions[0]!;
    assert.deepEqual(zones(s, p.replicas), ["a", "b"]);
    const leaving = p.replicas.find((r) => s.nodes[r]!.zone === "b")!;
    applyMetadataCommand(s, { type: "setNodeState", id: leaving, state: "draining" });
    const [move] = planMoves(s, 1);
    assert.equal(move?.from, leaving);
    assert.equal(s.nodes[move!.to]!.zone, "b", `moved to ${move!.to}, in zone ${s.nodes[move!.to]!.zone}`);
  });

  it("balancing onto a new node never puts two replicas of a group in one zone", () => {
    const s = state(["eu-0@a", "eu-1@b"], 4);
    applyMetadataCommand(s, {
      type: "addNode",
      node: { id: "eu-2", region: "eu", zone: "a", peerAddress: "eu-2:1", clientAddress: "eu-2:2" },
    });
    applyMetadataCommand(s, { type: "setNodeState", id: "eu-2", state: "voter" });
    settleAll(s);
    const onNew = s.topics.t!.partitions.filter((p) => p.replicas.includes("eu-2")).length;
    assert.ok(onNew > 0, "the new node took replicas");
    for (const p of s.topics.t!.partitions)
      assert.deepEqual(zones(s, p.replicas), ["a", "b"], `group ${p.groupId}: ${p.replicas.join(",")}`);
  });
});
