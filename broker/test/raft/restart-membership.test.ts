import assert from "node:assert/strict";
import { test } from "node:test";
import { MemoryStorage } from "../../src/raft/memory-storage.js";
import { encodeConfChange, RaftNode } from "../../src/raft/raft-node.js";
import { handleReady } from "../../src/raft/ready-loop.js";
import { seededRandom } from "../../src/raft/sim/prng.js";
import { type ConfChange, type ConfState, EntryType } from "../../src/raft/types.js";

const conf = (voters: string[], learners: string[] = []): ConfState => ({
  voters,
  learners,
  votersOutgoing: [],
});

// Issue 17, defect 6: the constructor takes the committed configuration into effect at start and
// the Ready loop then replayed every committed configuration entry again, so a restarted node
// passed through each older configuration on its way back (here: d, removed and re-added as a
// learner, was a voter and then nobody for a while).
test("restart: committed configuration changes are not applied a second time while the backlog replays", () => {
  const storage = MemoryStorage.bootstrap(conf(["a", "b", "c"]));
  const changes: ConfChange[] = [
    { type: "addLearner", nodeId: "d" },
    { type: "promote", nodeId: "d" },
    { type: "remove", nodeId: "d" },
    { type: "addLearner", nodeId: "d" },
  ];
  const first = storage.lastIndex() + 1;
  storage.append(
    changes.map((cc, i) => ({
      term: 1,
      index: first + i,
      type: EntryType.ConfChange,
      data: encodeConfChange(cc),
    })),
  );
  storage.setHardState({ term: 1, vote: "", commit: storage.lastIndex() });

  const node = new RaftNode({ id: "a", groupId: 1, random: seededRandom(1) }, storage);
  const final = conf(["a", "b", "c"], ["d"]);
  assert.deepEqual(node.confState(), final, "the committed configuration is in effect at start");
  const seen: ConfState[] = [];
  while (node.hasReady()) {
    handleReady(node, node.ready(), {
      restore: () => undefined,
      persist: () => undefined,
      send: () => undefined,
      apply: () => undefined,
      onConfChange: (c) => {
        seen.push(c);
      },
    });
  }
  assert.equal(seen.length, 3 + changes.length, "every configuration entry went through the loop");
  for (const [i, c] of seen.entries())
    assert.deepEqual(c, final, `configuration after replaying entry ${i + 1} must stay the committed one`);
});

test("restart: configuration entries past the commit index still take effect when they commit", () => {
  const storage = MemoryStorage.bootstrap(conf(["a"]));
  const node = new RaftNode({ id: "a", groupId: 1, random: seededRandom(2) }, storage);
  const drain = () => {
    while (node.hasReady())
      handleReady(node, node.ready(), {
        restore: () => undefined,
        persist: (u) => {
          storage.append(u.entries);
          if (u.hardState) storage.setHardState(u.hardState);
        },
        send: () => undefined,
        apply: () => undefined,
      });
  };
  drain();
  node.campaign();
  drain();
  assert.equal(node.role, "leader");
  node.proposeConfChange({ type: "addLearner", nodeId: "z" });
  drain();
  assert.deepEqual(node.confState(), conf(["a"], ["z"]), "a change committed after start is applied once");
});
