import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Code, ConnectError } from "@connectrpc/connect";
import { type AdminNode, ClusterAdmin } from "../../src/cluster/membership/cluster-admin.js";
import { applyMetadataCommand, initialMetadataState } from "../../src/cluster/state/metadata-state.js";
import { systemClock } from "../../src/util/clock.js";

// ClusterService.CancelDrain (used by the operator when a scale-down is reverted), against the
// real metadata state machine; the rest of the node is not needed for a state change.

function admin() {
  const state = initialMetadataState(
    ["eu-0", "us-0", "ap-0"].map((id) => ({
      id,
      region: id.slice(0, 2),
      zone: "",
      peerAddress: `${id}:9100`,
      clientAddress: `${id}:9000`,
    })),
  );
  const node = {
    nodeId: "eu-0",
    clock: systemClock,
    metadataState: () => state,
    proposeSystem: async (cmd: Parameters<typeof applyMetadataCommand>[1]) =>
      applyMetadataCommand(state, cmd),
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
