import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Code, ConnectError } from "@connectrpc/connect";
import { type AdminNode, ClusterAdmin } from "../../src/cluster/membership/cluster-admin.js";
import { applyMetadataCommand } from "../../src/cluster/state/metadata-state.js";
import { systemClock } from "../../src/util/clock.js";
import { metadataStateOf } from "../support/metadata-nodes.js";

// ClusterService.CancelDrain (used by the operator when a scale-down is reverted), against the
// real metadata state machine; the rest of the node is not needed for a state change.

/** `pending`: what the metadata leader committed that this replica applies only at a read index. */
function admin(pending: Parameters<typeof applyMetadataCommand>[1][] = []) {
  const state = metadataStateOf(["eu-0", "us-0", "ap-0"]);
  const node = {
    nodeId: "eu-0",
    clock: systemClock,
    metadataState: () => state,
    proposeSystem: async (cmd: Parameters<typeof applyMetadataCommand>[1]) =>
      applyMetadataCommand(state, cmd),
    metadataGroup: () => ({
      leader: "us-0",
      readIndex: async () => {
        for (const cmd of pending.splice(0)) applyMetadataCommand(state, cmd);
        return 1;
      },
    }),
    waitFor: async <T>(check: () => T | undefined | false) => {
      const v = check();
      if (!v) throw new Error("not settled");
      return v;
    },
  } as unknown as AdminNode;
  return { admin: new ClusterAdmin(node), state };
}

describe("ClusterAdmin.cancelDrain", () => {
  it("makes a draining or drained node a voter again, and is idempotent", async () => {
    const { admin: a, state } = admin();
    state.nodes["us-0"]!.state = "draining";
    assert.equal((await a.cancelDrain("us-0")).state, "voter");
    state.nodes["us-0"]!.state = "drained";
    assert.equal((await a.cancelDrain("us-0")).state, "voter");
    assert.equal((await a.cancelDrain("us-0")).state, "voter");
  });

  it("refuses a learner and an unknown node with codes a caller can act on", async () => {
    const { admin: a, state } = admin();
    state.nodes["ap-0"]!.state = "learner";
    await assert.rejects(a.cancelDrain("ap-0"), (e) => ConnectError.from(e).code === Code.FailedPrecondition);
    await assert.rejects(a.cancelDrain("xx-9"), (e) => ConnectError.from(e).code === Code.NotFound);
  });
});

describe("ClusterAdmin on a replica that has not applied a membership change yet", () => {
  // Found by the chaos suite's membership-churn (seed 5): AddNode acknowledged at one node, then
  // PromoteNode at a node that had not applied it answered NOT_FOUND "not a member".
  const added = {
    type: "addNode" as const,
    node: { id: "eu-1", region: "eu", zone: "", peerAddress: "eu-1:9100", clientAddress: "eu-1:9000" },
  };

  it("looks again after a read index before answering that a node is not a member", async () => {
    const { admin: a } = admin([added]);
    const r = await a.drainNode("eu-1");
    assert.equal(r.drained, false);
  });

  it("still answers NOT_FOUND for a node the cluster does not know", async () => {
    const { admin: a } = admin([added]);
    await assert.rejects(a.drainNode("xx-9"), (e) => ConnectError.from(e).code === Code.NotFound);
  });
});
