import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { removedSelf } from "../../src/cluster/membership/removed-self.js";
import type { NodeView } from "../../src/cluster/peers/internal-requests.js";
import { metadataGroupId } from "../../src/cluster/state/metadata-state.js";

// A node removed while cut off tells from the metadata leader's view that it is no member any more.

function view(
  nodeId: string,
  term: number,
  voters: string[],
  leads: boolean,
  outgoing: string[] = [],
): NodeView {
  return {
    nodeId,
    connected: [],
    groups: [
      {
        groupId: metadataGroupId,
        leader: leads ? nodeId : "",
        term,
        commit: 10,
        applied: 10,
        lastIndex: 10,
        conf: { voters, learners: [], votersOutgoing: outgoing },
        members: leads ? voters.map((v) => ({ nodeId: v, learner: false, match: 10 })) : [],
      },
    ],
  } as NodeView;
}

describe("removedSelf", () => {
  const stale = view("eu-2", 3, ["eu-0", "eu-2", "us-0"], false);
  it("is true when the metadata leader, at our term or later, has us in no configuration", () => {
    assert.equal(removedSelf(stale, [undefined, view("eu-0", 3, ["eu-0", "us-0"], true)]), true);
    assert.equal(removedSelf(stale, [view("eu-0", 4, ["eu-0", "us-0"], true)]), true);
  });
  it("is false while any leader configuration (joint ones included) still has us", () => {
    assert.equal(removedSelf(stale, [view("eu-0", 3, ["eu-0", "eu-2", "us-0"], true)]), false);
    assert.equal(removedSelf(stale, [view("eu-0", 3, ["eu-0", "us-0"], true, ["eu-2"])]), false);
  });
  it("takes no follower's word and no older leader's", () => {
    assert.equal(removedSelf(stale, [view("us-0", 3, ["eu-0", "us-0"], false)]), false);
    assert.equal(removedSelf(stale, [view("eu-0", 2, ["eu-0", "us-0"], true)]), false);
    assert.equal(removedSelf(stale, [stale]), false);
  });
});
