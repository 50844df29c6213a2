import assert from "node:assert/strict";
import { test } from "node:test";
import { ProposalDroppedError } from "../../src/raft/errors.js";
import { MemoryStorage } from "../../src/raft/memory-storage.js";
import { MessageType } from "../../src/raft/types.js";
import { data, TestCluster } from "./harness.js";

test("election: one leader, every node agrees on it and its term", () => {
  const c = new TestCluster(["a", "b", "c"]);
  c.tickAll(25);
  assert.equal(c.leaders().length, 1);
  const leader = c.leaders()[0]!;
  for (const id of ["a", "b", "c"]) {
    assert.equal(c.raft(id).lead, leader);
    assert.equal(c.raft(id).term, c.raft(leader).term);
  }
});

test("replication: proposals commit on every node in order, many entries per append", () => {
  const c = new TestCluster(["a", "b", "c"]);
  c.elect("a");
  c.filter = undefined;
  // Proposals made before the Ready loop runs go out together.
  for (let i = 0; i < 50; i++) c.raft("a").propose(data(`m${i}`));
  c.settle();
  const want = Array.from({ length: 50 }, (_, i) => `m${i}`);
  for (const id of ["a", "b", "c"]) assert.deepEqual(c.appliedData(id), want);
  const appends = c.sentOfType(MessageType.Append).filter((m) => m.entries.length > 1);
  assert.ok(appends.length > 0, "entries were batched");
});

test("a follower cannot take proposals", () => {
  const c = new TestCluster(["a", "b", "c"]);
  c.elect("a");
  assert.throws(() => c.raft("b").propose(data("x")), ProposalDroppedError);
});

test("pre-vote: a partitioned node does not inflate its term or depose the leader on return", () => {
  const c = new TestCluster(["a", "b", "c"]);
  c.elect("a");
  const term = c.raft("a").term;
  c.isolate("c");
  c.tick("c", 100);
  assert.equal(c.raft("c").term, term, "pre-votes failed, so the term did not move");
  c.heal();
  c.tickAll(5);
  assert.equal(c.raft("a").role, "leader");
  assert.equal(c.raft("a").term, term);
});

test("check-quorum: a leader cut off from the majority steps down within an election timeout", () => {
  const c = new TestCluster(["a", "b", "c"]);
  c.elect("a");
  c.isolate("a");
  c.tick("a", 21);
  assert.equal(c.raft("a").role, "follower");
});

test("commit rule (Figure 8): an old-term entry on a majority is not committed until the leader's own entry is", () => {
  // One entry per Append, so an old entry can travel without the new leader's entry behind it.
  const c = new TestCluster(["a", "b", "c"], { maxSizePerMsg: 1 });
  c.elect("a");
  // Term 2: a writes X ("XX") at index i, alone.
  c.isolate("a");
  c.raft("a").propose(data("XX")); // 2 bytes: the empty entry after it needs an Append of its own
  c.settle();
  const i = c.raft("a").log.lastIndex();
  // Term 3: b wins with c's vote and writes its empty entry at i, but nothing of it leaves b.
  c.filter = (m) => m.from === "b" && (m.type === MessageType.Append || m.type === MessageType.Heartbeat);
  c.elect("b");
  assert.equal(c.raft("b").log.term(i), 3);
  // Term 4: a wins with c's vote and copies X to c, but its own entry (after X) does not get there.
  c.heal();
  c.isolate("b");
  c.filter = (m) =>
    m.from === "a" &&
    m.type === MessageType.Append &&
    m.entries.some((e) => e.term === c.raft("a").term) &&
    c.raft("c").log.lastIndex() >= i;
  c.raft("a").campaign("transfer"); // to term 3, which c already voted in: lost
  c.settle();
  c.elect("a");
  assert.equal(c.raft("a").term, 4);
  c.tickAll(2);
  assert.equal(c.raft("c").log.term(i), 2, "X (term 2) is on a and c: a majority");
  assert.ok(c.raft("a").log.committed < i, "but it is not committed: it is not of a's term");
  // Rightly so: b (last term 3) can still win, with c's vote, and replace X.
  c.filter = undefined;
  c.heal();
  c.isolate("a");
  c.raft("b").campaign("transfer"); // to term 4, which c already voted in: lost
  c.settle();
  c.elect("b");
  c.raft("b").propose(data("after"));
  c.settle();
  assert.equal(c.raft("c").log.term(i), 3);
  assert.deepEqual(c.appliedData("c"), ["after"]);
  assert.deepEqual(c.appliedData("b"), ["after"]);
});

test("log conflict: a follower's divergent tail is replaced by the leader's", () => {
  const c = new TestCluster(["a", "b", "c"]);
  c.elect("a");
  c.isolate("a");
  for (let i = 0; i < 5; i++) c.raft("a").propose(data(`lost${i}`)); // never reaches a majority
  c.settle();
  c.elect("b");
  c.raft("b").propose(data("kept"));
  c.settle();
  c.heal();
  c.tickAll(3);
  assert.deepEqual(c.appliedData("a"), ["kept"]);
  assert.equal(c.raft("a").log.lastIndex(), c.raft("b").log.lastIndex());
});

test("snapshot: a follower behind the compacted log catches up from a snapshot", () => {
  const c = new TestCluster(["a", "b", "c"]);
  c.elect("a");
  c.isolate("c");
  for (let i = 0; i < 30; i++) c.raft("a").propose(data(`m${i}`));
  c.settle();
  const a = c.nodes.get("a")!;
  const applied = a.raft.log.applied;
  a.storage.createSnapshot(applied, a.raft.confState(), data("image"));
  a.storage.compact(applied);
  c.heal();
  c.tickAll(3);
  assert.ok(
    c.sentOfType(MessageType.Snapshot).some((m) => m.to === "c"),
    "a snapshot went to c",
  );
  assert.equal(c.raft("c").log.committed, c.raft("a").log.committed);
  c.raft("a").propose(data("after"));
  c.settle();
  assert.deepEqual(c.appliedData("c").at(-1), "after");
});

test("membership: a learner replicates but does not vote, then is promoted; a member is removed", () => {
  const c = new TestCluster(["a", "b", "c"]);
  c.elect("a");
  c.add("d", new MemoryStorage());
  c.raft("a").proposeConfChange({ type: "addLearner", nodeId: "d" });
  c.settle();
  c.raft("a").propose(data("x"));
  c.settle();
  assert.deepEqual(c.appliedData("d"), ["x"], "the learner received the log");
  assert.deepEqual(c.raft("d").confState().learners, ["d"]);
  c.tick("d", 100);
  assert.equal(c.raft("d").role, "follower", "a learner never campaigns");
  c.raft("a").proposeConfChange({ type: "promote", nodeId: "d" });
  c.settle();
  assert.deepEqual(c.raft("a").confState().voters, ["a", "b", "c", "d"]);
  assert.throws(() => c.raft("a").proposeConfChange({ type: "promote", nodeId: "d" }), /not a learner/);
  c.raft("a").proposeConfChange({ type: "remove", nodeId: "b" });
  c.settle();
  assert.deepEqual(c.raft("a").confState().voters, ["a", "c", "d"]);
  c.isolate("b");
  c.raft("a").propose(data("y"));
  c.settle();
  assert.equal(c.appliedData("d").at(-1), "y", "commits without the removed member");
});

test("membership: one change at a time, and none before the new leader commits its first entry", () => {
  const c = new TestCluster(["a", "b", "c"]);
  c.filter = (m) => m.type === MessageType.AppendResponse;
  c.elect("a");
  assert.throws(() => c.raft("a").proposeConfChange({ type: "addLearner", nodeId: "d" }), /still pending/);
  c.filter = undefined;
  c.tickAll(2);
  c.raft("a").proposeConfChange({ type: "addLearner", nodeId: "d" });
  assert.throws(() => c.raft("a").proposeConfChange({ type: "addLearner", nodeId: "e" }), /still pending/);
});

test("leadership transfer: the target is caught up, told to campaign, and wins", () => {
  const c = new TestCluster(["a", "b", "c"]);
  c.elect("a");
  c.raft("a").propose(data("x"));
  c.settle();
  c.raft("a").transferLeadership("c");
  c.settle();
  assert.equal(c.raft("c").role, "leader");
  assert.equal(c.raft("a").lead, "c");
});

test("leadership transfer: proposals are refused while it runs, and it is abandoned after an election timeout", () => {
  const c = new TestCluster(["a", "b", "c"]);
  c.elect("a");
  c.isolate("c");
  c.raft("a").transferLeadership("c");
  assert.throws(() => c.raft("a").propose(data("x")), /leadership is moving/);
  c.tick("a", 11);
  c.raft("a").propose(data("x"));
});

test("read index: the leader confirms with a heartbeat round; a follower's read is forwarded", () => {
  const c = new TestCluster(["a", "b", "c"]);
  c.elect("a");
  c.raft("a").propose(data("x"));
  c.settle();
  c.raft("a").readIndex(data("r1"));
  c.settle();
  const states = c.nodes.get("a")!.readStates;
  assert.equal(states.length, 1);
  assert.equal(states[0]!.index, c.raft("a").log.committed);
  c.raft("b").readIndex(data("r2"));
  c.settle();
  assert.equal(new TextDecoder().decode(c.nodes.get("b")!.readStates[0]!.context), "r2");
});

test("read index: a leader cut off from the quorum cannot answer", () => {
  const c = new TestCluster(["a", "b", "c"]);
  c.elect("a");
  c.isolate("a");
  c.raft("a").readIndex(data("r"));
  c.settle();
  assert.equal(c.nodes.get("a")!.readStates.length, 0);
});

test("restart: a node rebuilt from its storage keeps term, vote, log and membership", () => {
  const c = new TestCluster(["a", "b", "c"]);
  c.elect("a");
  c.raft("a").propose(data("x"));
  c.settle();
  const b = c.nodes.get("b")!;
  const before = { term: b.raft.term, last: b.raft.log.lastIndex() };
  c.add("b", b.storage);
  c.settle();
  assert.equal(c.raft("b").term, before.term);
  assert.equal(c.raft("b").log.lastIndex(), before.last);
  assert.deepEqual(c.raft("b").confState().voters, ["a", "b", "c"]);
});
