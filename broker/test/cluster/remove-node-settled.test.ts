import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Code, ConnectError } from "@connectrpc/connect";
import { ChangeSignal } from "../../src/cluster/groups/waiters.js";
import { type AdminNode, ClusterAdmin } from "../../src/cluster/membership/cluster-admin.js";
import { applyMetadataCommand, type MetadataCommand } from "../../src/cluster/state/metadata-state.js";
import type { ConfChange } from "../../src/raft/types.js";
import { systemClock } from "../../src/util/clock.js";
import { metadataStateOf } from "../support/metadata-nodes.js";

// ClusterService.RemoveNode answers success only once the node serving the call no longer lists
// the removed node (issue 21: the operator saw "removed" and then read the node back). The node
// here is a follower whose applies lag the leader's commits: the metadata command and the Raft
// removal are committed when proposed, and reach this node's state only when `deliver` runs.

function laggingFollower() {
  const ids = ["eu-0", "eu-1", "us-0", "ap-0"];
  const state = metadataStateOf(ids);
  state.nodes["eu-1"]!.state = "drained";
  const conf = { voters: [...ids], learners: [] as string[] };
  const changes = new ChangeSignal(systemClock);
  const pending: (() => void)[] = [];
  const deliver = () => {
    for (const apply of pending.splice(0)) apply();
    changes.poke();
  };
  const node = {
    nodeId: "us-0",
    clock: systemClock,
    metadataState: () => state,
    metadataGroup: () => ({ leader: "eu-0", core: { confState: () => conf } }),
    proposeSystem: async (cmd: MetadataCommand) => {
      pending.push(() => applyMetadataCommand(state, cmd));
      return { ok: true };
    },
    toGroupLeader: async (_groupId: number, req: { change: ConfChange }) => {
      const id = req.change.nodeId;
      pending.push(() => {
        conf.voters = conf.voters.filter((v) => v !== id);
      });
      return { type: "confChanged" };
    },
    waitFor: <T>(check: () => T | undefined | false, timeoutMs: number, signal: AbortSignal, what: string) =>
      changes.until(check, timeoutMs, signal, what),
  } as unknown as AdminNode;
  return { admin: new ClusterAdmin(node), state, conf, deliver };
}

describe("ClusterAdmin.removeNode on a node whose applies lag", () => {
  it("answers only once its own view no longer lists the node", async () => {
    const { admin, state, conf, deliver } = laggingFollower();
    let answered = false;
    const call = admin.removeNode("eu-1").then(() => {
      answered = true;
    });
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(answered, false, "RemoveNode answered while this node still listed eu-1");
    deliver();
    await call;
    assert.equal(state.nodes["eu-1"], undefined);
    assert.ok(!conf.voters.includes("eu-1"));
  });

  it("fails UNAVAILABLE, saying what it waited for, when its view does not catch up", async () => {
    const { admin } = laggingFollower();
    await assert.rejects(admin.removeNode("eu-1"), (e) => {
      const err = ConnectError.from(e);
      assert.equal(err.code, Code.Unavailable);
      assert.match(
        err.rawMessage,
        /eu-1 is removed at the metadata leader, but us-0 still lists it .*retry RemoveNode/,
      );
      return true;
    });
  });
});
