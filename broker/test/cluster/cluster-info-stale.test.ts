import assert from "node:assert/strict";
import { test } from "node:test";
import { type AdminNode, ClusterAdmin } from "../../src/cluster/membership/cluster-admin.js";
import type { GroupView, NodeView } from "../../src/cluster/peers/internal-requests.js";
import { applyMetadataCommand } from "../../src/cluster/state/metadata-state.js";
import { systemClock } from "../../src/util/clock.js";
import { metadataStateOf } from "../support/metadata-nodes.js";

// GetClusterInfo says which members lost their state and wait to be re-admitted (GroupMember.stale).
// Such a member cannot vote, so its group survives one failure fewer: the chaos suite found a
// corrupt-follower's wiped node being re-admitted while the next fault took the group's leader,
// and the group (two voters left that could elect) rightly elected nobody; nothing outside the
// node's own log said so. The suite now waits for no stale member before its next fault.

const ids = ["eu-0", "us-0", "ap-0"];

function adminWith(view: (id: string) => GroupView) {
  const state = metadataStateOf(ids);
  // eu-0 and ap-0 are the incarnations that formed the cluster; us-0 lost its disk and came back.
  for (const [nodeId, incarnation, original] of [
    ["eu-0", "a0", true],
    ["us-0", "b1", false],
    ["ap-0", "c0", true],
  ] as const)
    applyMetadataCommand(state, { type: "registerIncarnation", nodeId, incarnation, original });
  const nodeView = (id: string): NodeView => ({ nodeId: id, groups: [view(id)], connected: ids });
  const node = {
    nodeId: "eu-0",
    clock: systemClock,
    metadataState: () => state,
    localView: () => nodeView("eu-0"),
    internal: async (id: string) => ({ type: "view", view: nodeView(id) }),
  } as unknown as AdminNode;
  return new ClusterAdmin(node);
}

const metadataGroup = (leaderView: boolean, incarnations?: Record<string, string>): GroupView => ({
  groupId: 0,
  leader: "eu-0",
  term: 3,
  commit: 10,
  applied: 10,
  lastIndex: 10,
  conf: { voters: ids, learners: [], votersOutgoing: [], ...(incarnations ? { incarnations } : {}) },
  members: leaderView ? ids.map((nodeId) => ({ nodeId, learner: false, match: 10 })) : [],
});

test("cluster info: a voter whose configuration does not admit its registered incarnation is stale", async () => {
  // The configuration names no incarnation: only the original ones are admitted, us-0's is not.
  const info = await adminWith((id) => metadataGroup(id === "eu-0")).clusterInfo();
  const stale = info.groups[0]!.members.filter((m) => m.stale).map((m) => m.nodeId);
  assert.deepEqual(stale, ["us-0"]);
});

test("cluster info: once re-admitted under its incarnation, no member is stale (also from a follower's view)", async () => {
  const info = await adminWith(() => metadataGroup(false, { "us-0": "b1" })).clusterInfo();
  assert.deepEqual(
    info.groups[0]!.members.map((m) => [m.nodeId, m.stale]),
    ids.map((id) => [id, false]),
  );
  const before = await adminWith(() => metadataGroup(false)).clusterInfo();
  assert.deepEqual(
    before.groups[0]!.members.filter((m) => m.stale).map((m) => m.nodeId),
    ["us-0"],
    "the conf-only view (no leader answered) says it too",
  );
});
