import assert from "node:assert/strict";
import { test } from "node:test";
import { nextMembershipStep, preferredLeader } from "../../src/cluster/groups/group-membership.js";
import { planMoves, planPreferredLeaders, stuckOn } from "../../src/cluster/membership/rebalance.js";
import {
  applyMetadataCommand,
  groupsOnNode,
  initialMetadataState,
  type MetadataState,
  type NodeAddress,
} from "../../src/cluster/state/metadata-state.js";
import type { TopicSpec } from "../../src/engine/engine.js";

const node = (id: string): NodeAddress => ({
  id,
  region: id.split("-")[0]!,
  zone: "",
  peerAddress: `${id}:1`,
  clientAddress: `${id}:2`,
});
const spec = (name: string, partitions: number, homeRegion = ""): TopicSpec => ({
  name,
  partitions,
  replicationFactor: 3,
  retention: { maxAgeMs: 0, maxBytes: 0, maxMessages: 0, keepUnacknowledged: true },
  homeRegion,
});

function cluster(ids: string[], topics: TopicSpec[]): MetadataState {
  const state = initialMetadataState(ids.map(node));
  for (const t of topics) {
    const r = applyMetadataCommand(state, { type: "createTopic", spec: t, atMicros: 1, ifAbsent: false });
    assert.ok(r.ok);
  }
  return state;
}

function applyMoves(state: MetadataState, maxInFlight: number): number {
  const moves = planMoves(state, maxInFlight);
  for (const m of moves) {
    assert.ok(applyMetadataCommand(state, { type: "moveReplica", ...m }).ok, `move ${JSON.stringify(m)}`);
  }
  // The groups' leaders carry the moves out and settle them.
  for (const t of Object.values(state.topics))
    for (const p of t.partitions)
      if (p.moving) applyMetadataCommand(state, { type: "settleMove", groupId: p.groupId, ...p.moving });
  return moves.length;
}

const regionsOf = (state: MetadataState, replicas: string[]) =>
  new Set(replicas.map((r) => state.nodes[r]!.region)).size;

test("a new voter gets its share of replicas, a bounded number of moves at a time, spread kept", () => {
  const state = cluster(["eu-0", "us-0", "ap-0"], [spec("t", 6)]);
  applyMetadataCommand(state, { type: "addNode", node: node("eu-1") });
  assert.equal(state.nodes["eu-1"]!.state, "learner");
  assert.deepEqual(planMoves(state, 2), [], "a learner takes no replicas");
  applyMetadataCommand(state, { type: "setNodeState", id: "eu-1", state: "voter" });
  let rounds = 0;
  for (;;) {
    const moved = applyMoves(state, 2);
    assert.ok(moved <= 2, "never more moves than allowed in flight");
    if (moved === 0) break;
    rounds++;
  }
  assert.ok(rounds >= 2, "the moves came in several bounded rounds");
  const onNew = groupsOnNode(state, "eu-1").length;
  const onOld = groupsOnNode(state, "eu-0").length;
  assert.equal(onNew + onOld, 6, "eu's six replicas are shared by its two nodes");
  assert.ok(Math.abs(onNew - onOld) <= 1, `balanced: eu-0 ${onOld}, eu-1 ${onNew}`);
  for (const p of state.topics.t!.partitions)
    assert.equal(regionsOf(state, p.replicas), 3, "still one per region");
});

test("no move while the moves in flight fill the budget", () => {
  const state = cluster(["eu-0", "us-0", "ap-0"], [spec("t", 4)]);
  applyMetadataCommand(state, { type: "addNode", node: node("eu-1") });
  applyMetadataCommand(state, { type: "setNodeState", id: "eu-1", state: "voter" });
  for (const m of planMoves(state, 2)) applyMetadataCommand(state, { type: "moveReplica", ...m });
  assert.deepEqual(planMoves(state, 2), []);
});

test("draining moves every replica off the node, to the same region first; drained nodes can be removed", () => {
  const state = cluster(["eu-0", "eu-1", "us-0", "ap-0"], [spec("t", 4)]);
  applyMetadataCommand(state, { type: "setNodeState", id: "eu-1", state: "draining" });
  const removeEarly = applyMetadataCommand(state, { type: "removeNode", id: "eu-1" });
  if (groupsOnNode(state, "eu-1").length > 0) {
    assert.equal(removeEarly.ok, false, "a node still holding replicas cannot be removed");
  }
  while (applyMoves(state, 1) > 0) {}
  assert.deepEqual(groupsOnNode(state, "eu-1"), []);
  for (const p of state.topics.t!.partitions) assert.ok(p.replicas.includes("eu-0"), "eu keeps its replica");
  assert.ok(applyMetadataCommand(state, { type: "removeNode", id: "eu-1" }).ok);
  assert.equal(state.nodes["eu-1"], undefined);
});

test("a drain with nowhere to go that keeps the spread is reported as stuck, not forced", () => {
  const state = cluster(["eu-0", "us-0", "ap-0"], [spec("t", 2)]);
  applyMetadataCommand(state, { type: "setNodeState", id: "ap-0", state: "draining" });
  assert.deepEqual(planMoves(state, 4), []);
  assert.deepEqual(stuckOn(state, "ap-0"), [1, 2]);
});

test("a home region keeps a replica through balancing", () => {
  const state = cluster(["eu-0", "us-0", "ap-0"], [spec("t", 3, "ap")]);
  for (const id of ["us-1", "us-2"]) {
    applyMetadataCommand(state, { type: "addNode", node: node(id) });
    applyMetadataCommand(state, { type: "setNodeState", id, state: "voter" });
  }
  while (applyMoves(state, 2) > 0) {}
  for (const p of state.topics.t!.partitions)
    assert.ok(
      p.replicas.some((r) => r.startsWith("ap-")),
      "ap keeps a replica",
    );
});

const conf = (voters: string[], learners: string[] = []) => ({ voters, learners, votersOutgoing: [] });
const view = (over: Partial<Parameters<typeof nextMembershipStep>[0]>) =>
  nextMembershipStep({
    self: "a",
    conf: conf(["a", "b", "c"]),
    desired: ["a", "b", "c"],
    match: new Map([
      ["a", 100],
      ["b", 100],
      ["c", 100],
      ["d", 10],
    ]),
    lastIndex: 100,
    confIndex: 0,
    moving: false,
    maxLagToPromote: 20,
    active: new Set(["a", "b", "c", "d"]),
    ...over,
  });

test("membership steps: learner first, promote once caught up, then remove, leader leaves last", () => {
  assert.deepEqual(view({}), { kind: "none" });
  assert.deepEqual(view({ desired: ["a", "b", "d"], moving: true }), { kind: "addLearner", node: "d" });
  assert.deepEqual(view({ desired: ["a", "b", "d"], conf: conf(["a", "b", "c"], ["d"]), moving: true }), {
    kind: "none",
  });
  const caughtUp = new Map([
    ["a", 100],
    ["b", 100],
    ["d", 95],
  ]);
  assert.deepEqual(
    view({ desired: ["a", "b", "d"], conf: conf(["a", "b", "c"], ["d"]), match: caughtUp, moving: true }),
    { kind: "promote", node: "d" },
  );
  assert.deepEqual(view({ desired: ["a", "b", "d"], conf: conf(["a", "b", "c", "d"]), moving: true }), {
    kind: "remove",
    node: "c",
  });
  assert.deepEqual(view({ desired: ["a", "b", "d"], conf: conf(["a", "b", "d"]), moving: true }), {
    kind: "settle",
  });
  assert.deepEqual(
    view({ desired: ["b", "c", "d"], conf: conf(["a", "b", "c", "d"]), match: caughtUp, moving: true }),
    { kind: "transferLeadership", to: "b" },
    "the leader leaving hands over first",
  );
  assert.deepEqual(
    view({
      desired: ["b", "c", "d"],
      conf: conf(["a", "b", "c", "d"]),
      active: new Set(["a", "c"]),
      moving: true,
    }),
    { kind: "transferLeadership", to: "c" },
    "never to a member not heard from",
  );
});

test("leadership goes to the preferred replica once it is live and caught up", () => {
  const base = {
    self: "a",
    replicas: ["c", "a", "b"],
    voters: ["a", "b", "c"],
    match: new Map([
      ["a", 100],
      ["b", 100],
      ["c", 100],
    ]),
    lastIndex: 100,
    maxLag: 5,
    active: new Set(["a", "b", "c"]),
  };
  assert.equal(preferredLeader(base), "c");
  assert.equal(preferredLeader({ ...base, replicas: ["a", "b", "c"] }), undefined, "already there");
  assert.equal(
    preferredLeader({ ...base, active: new Set(["a", "b"]) }),
    undefined,
    "never to a silent node",
  );
  assert.equal(preferredLeader({ ...base, match: new Map([["c", 10]]) }), undefined, "nor to a lagging one");
  assert.equal(preferredLeader({ ...base, voters: ["a", "b"] }), undefined, "nor to a learner");
});

test("preferred leaders: in the home region, else spread evenly; stable once applied", () => {
  const state = cluster(["eu-0", "us-0", "ap-0", "eu-1"], [spec("t", 8), spec("h", 2, "ap")]);
  for (let round = 0; round < 10; round++) {
    const changes = planPreferredLeaders(state, 3);
    assert.ok(changes.length <= 3, "bounded per round");
    if (changes.length === 0) break;
    for (const c of changes) assert.ok(applyMetadataCommand(state, { type: "setPreferredLeader", ...c }).ok);
  }
  assert.deepEqual(planPreferredLeaders(state, 3), [], "converged");
  for (const p of state.topics.h!.partitions) assert.equal(p.replicas[0], "ap-0", "home region first");
  const nonHome = state.topics.t!.partitions.map((p) => p.replicas[0]!);
  const perNode = ["eu-0", "us-0", "ap-0", "eu-1"].map((id) => nonHome.filter((f) => f === id).length);
  assert.ok(Math.max(...perNode) - Math.min(...perNode) <= 1, `even: ${perNode}`);
});

// Issue 17: a learner whose match is recent enough but that has since gone silent must not be
// promoted: a dead voter only shrinks the margin of the quorum.
test("membership steps: a caught-up learner that is not heard from is not promoted", () => {
  const caughtUp = new Map([
    ["a", 100],
    ["b", 100],
    ["c", 100],
    ["d", 100],
  ]);
  const learnerD = {
    desired: ["a", "b", "d"],
    conf: conf(["a", "b", "c"], ["d"]),
    match: caughtUp,
    moving: true,
  };
  assert.deepEqual(view(learnerD), { kind: "promote", node: "d" });
  assert.deepEqual(view({ ...learnerD, active: new Set(["a", "b", "c"]) }), { kind: "none" });
});
