import assert from "node:assert/strict";
import { test } from "node:test";
import { ProposalDroppedError } from "../../src/raft/errors.js";
import { MemoryStorage } from "../../src/raft/memory-storage.js";
import { MessageType } from "../../src/raft/types.js";
import { data, TestCluster } from "./harness.js";

test("every message carries its node's group id", () => {
  const c = new TestCluster(["a", "b", "c"]);
  c.elect("a");
  c.raft("a").propose(data("x"));
  c.settle();
  assert.ok(c.sent.length > 0);
  for (const m of c.sent) assert.equal(m.groupId, 1);
});

test("learner: never asked for a vote, and its vote would not count", () => {
  const c = new TestCluster(["a", "b"], {}, ["l"]);
  c.elect("a");
  assert.equal(c.sentOfType(MessageType.Vote).filter((m) => m.to === "l").length, 0);
  // With b cut off, a's only reachable peer is the learner: no quorum of voters, no leader.
  c.isolate("b");
  c.tick("a", 30);
  assert.notEqual(c.raft("a").role, "leader");
  assert.deepEqual(c.raft("l").confState().learners, ["l"]);
});

test("leader lease: while followers hear from the leader they ignore a higher-term campaign", () => {
  const c = new TestCluster(["a", "b", "c"]);
  c.elect("a");
  const term = c.raft("a").term;
  c.raft("b").campaign("election"); // skips pre-vote, as a misbehaving or confused node might
  c.settle();
  assert.equal(c.raft("a").role, "leader");
  assert.equal(c.raft("a").term, term, "the leader ignored the higher-term vote request");
  assert.equal(c.raft("c").term, term, "the follower ignored it too");
  assert.equal(c.raft("b").role, "candidate");
  // b's higher term still surfaces when it answers the leader's next append, and the leader steps
  // down (as in etcd: without pre-vote this disruption is unavoidable); one leader emerges again.
  c.tickAll(40);
  assert.equal(c.leaders().length, 1);
});

test("check-quorum: a leader that hears from a quorum keeps its office", () => {
  const c = new TestCluster(["a", "b", "c"]);
  c.elect("a");
  const term = c.raft("a").term;
  c.isolate("c");
  c.tickAll(50);
  assert.equal(c.raft("a").role, "leader");
  assert.equal(c.raft("a").term, term);
});

test("check-quorum: a live follower reads as active at every tick, also right after the window resets", () => {
  const c = new TestCluster(["a", "b", "c"]);
  c.elect("a");
  c.isolate("c");
  // Whatever phase a poller has against the election timeout, b (live) is active and c (cut off
  // for longer than two windows) is not.
  // The broker's maintenance reads status right after ticking, before any answer arrives.
  for (let t = 0; t < 40; t++) {
    c.settle();
    c.raft("a").tick();
    const progress = c.raft("a").status().progress;
    assert.equal(progress.get("b")?.recentActive, true, `b active at tick ${t}`);
    if (t >= 20) assert.equal(progress.get("c")?.recentActive, false, `c inactive at tick ${t}`);
  }
});

test("membership: a removed leader steps down and the others elect a new one", () => {
  const c = new TestCluster(["a", "b", "c"]);
  c.elect("a");
  c.raft("a").proposeConfChange({ type: "remove", nodeId: "a" });
  c.settle();
  assert.equal(c.raft("a").role, "follower");
  assert.deepEqual(c.raft("b").confState().voters, ["b", "c"]);
  c.tickAll(30);
  const leaders = c.leaders();
  assert.equal(leaders.length, 1);
  assert.notEqual(leaders[0], "a");
  c.raft(leaders[0]!).propose(data("without a"));
  c.settle();
  assert.deepEqual(c.appliedData("b"), ["without a"]);
});

test("membership: a node with a committed but unapplied configuration change does not campaign", () => {
  const c = new TestCluster(["a", "b", "c"]);
  c.elect("a");
  c.filter = (m) => m.to === "c"; // held back (recorded in c.sent), delivered by hand below
  const mark = c.sent.length;
  c.raft("a").proposeConfChange({ type: "remove", nodeId: "b" });
  c.settle();
  c.filter = undefined;
  const cRaft = c.raft("c");
  for (const m of c.sent.slice(mark)) if (m.to === "c") cRaft.step(m);
  assert.ok(cRaft.log.committed > cRaft.log.applied, "the change is committed on c but not applied");
  const term = cRaft.term;
  cRaft.campaign();
  assert.equal(cRaft.role, "follower");
  assert.equal(cRaft.term, term);
  c.settle(); // c's I/O loop applies the change
  assert.deepEqual(cRaft.confState().voters, ["a", "c"]);
  c.elect("c");
});

test("fast back-off: a long divergent tail is repaired in a few round trips, not one per entry", () => {
  const c = new TestCluster(["a", "b", "c"]);
  c.elect("a");
  c.isolate("a");
  for (let i = 0; i < 60; i++) {
    c.raft("a").propose(data(`stale${i}`));
    c.settle(); // one Ready each: sixty appends that never arrive
  }
  c.elect("b");
  for (let i = 0; i < 40; i++) c.raft("b").propose(data(`kept${i}`));
  c.settle();
  // c leads next: it first probes a at its own last index, 40 entries into a's stale tail.
  c.elect("c");
  const mark = c.sent.length;
  c.heal();
  c.tickAll(3);
  const rejections = c.sent
    .slice(mark)
    .filter((m) => m.type === MessageType.AppendResponse && m.from === "a" && m.reject);
  assert.ok(rejections.length >= 1 && rejections.length <= 2, `${rejections.length} rejections`);
  assert.equal(c.appliedData("a").length, 40);
  assert.deepEqual(c.appliedData("a"), c.appliedData("b"));
});

test("pipelining: at most maxInflightMsgs appends are outstanding to a follower that does not answer", () => {
  const c = new TestCluster(["a", "b", "c"], { maxInflightMsgs: 3 });
  c.elect("a");
  c.raft("a").propose(data("warm-up"));
  c.settle();
  assert.equal(c.raft("a").status().progress.get("b")!.state, "replicate");
  c.filter = (m) => m.from === "b" && m.type === MessageType.AppendResponse;
  const mark = c.sent.length;
  for (let i = 0; i < 10; i++) {
    c.raft("a").propose(data(`m${i}`));
    c.settle();
  }
  // Appends without entries only carry the commit index and take no slot in the window.
  const toB = c.sent
    .slice(mark)
    .filter((m) => m.to === "b" && m.type === MessageType.Append && m.entries.length > 0);
  assert.equal(toB.length, 3, "three appends in flight, then the window is full");
  assert.deepEqual(
    toB.map((m) => m.index),
    [toB[0]!.index, toB[0]!.index + 1, toB[0]!.index + 2],
    "each append follows the previous without waiting for an answer",
  );
  // c acknowledged, so the entries committed without b.
  assert.equal(c.appliedData("c").length, 11);
  c.filter = undefined;
  c.tickAll(3);
  assert.deepEqual(c.appliedData("b"), c.appliedData("c"));
});

test("batching: one append carries at most maxSizePerMsg bytes of entries (but always one entry)", () => {
  const c = new TestCluster(["a", "b", "c"], { maxSizePerMsg: 10 });
  c.elect("a");
  const mark = c.sent.length;
  for (let i = 0; i < 9; i++) c.raft("a").propose(data(`abcd${i}`)); // 5 bytes each
  c.settle();
  const appends = c.sent.slice(mark).filter((m) => m.type === MessageType.Append && m.entries.length > 0);
  for (const m of appends) {
    const bytes = m.entries.reduce((n, e) => n + e.data.byteLength, 0);
    assert.ok(m.entries.length === 1 || bytes <= 10, `${m.entries.length} entries, ${bytes} bytes`);
  }
  assert.ok(appends.some((m) => m.entries.length === 2));
  assert.equal(c.appliedData("b").length, 9);
});

test("snapshot: the follower's progress waits in snapshot state; a failed transfer is retried", () => {
  const c = new TestCluster(["a", "b", "c"]);
  c.elect("a");
  c.isolate("c");
  for (let i = 0; i < 20; i++) c.raft("a").propose(data(`m${i}`));
  c.settle();
  const a = c.nodes.get("a")!;
  a.storage.createSnapshot(a.raft.log.applied, a.raft.confState(), data("image"));
  a.storage.compact(a.raft.log.applied);
  // The snapshot is "sent" but lost in transit.
  c.heal();
  c.filter = (m) => m.type === MessageType.Snapshot;
  c.tick("a");
  assert.equal(a.raft.status().progress.get("c")!.state, "snapshot");
  a.raft.reportSnapshot("c", false);
  assert.equal(a.raft.status().progress.get("c")!.state, "probe");
  c.filter = undefined;
  c.tickAll(3);
  assert.equal(c.raft("c").log.committed, a.raft.log.committed);
  assert.equal(a.raft.status().progress.get("c")!.state, "replicate");
});

test("flow control: proposals are refused while too many bytes wait to commit", () => {
  const c = new TestCluster(["a", "b", "c"], { maxUncommittedBytes: 100 });
  c.elect("a");
  c.isolate("a");
  c.raft("a").propose(new Uint8Array(60));
  c.raft("a").propose(new Uint8Array(40));
  assert.throws(() => c.raft("a").propose(new Uint8Array(1)), ProposalDroppedError);
  c.heal();
  c.settle();
  c.tickAll(2);
  c.raft("a").propose(new Uint8Array(1));
});

test("leadership transfer to a lagging voter: it is caught up first, then told to campaign", () => {
  const c = new TestCluster(["a", "b", "c"]);
  c.elect("a");
  c.isolate("c");
  for (let i = 0; i < 10; i++) c.raft("a").propose(data(`m${i}`));
  c.settle();
  const mark = c.sent.length;
  c.raft("a").transferLeadership("c");
  c.settle();
  assert.equal(c.sentOfType(MessageType.TimeoutNow).length, 0, "no TimeoutNow to a node that lacks entries");
  c.heal();
  c.tickAll(2);
  assert.equal(c.raft("c").role, "leader");
  const after = c.sent.slice(mark);
  const timeoutNow = after.findIndex((m) => m.type === MessageType.TimeoutNow);
  const lastAppendToC = after.findLastIndex(
    (m, i) => i < timeoutNow && m.type === MessageType.Append && m.to === "c",
  );
  assert.ok(lastAppendToC >= 0 && lastAppendToC < timeoutNow);
  assert.deepEqual(c.appliedData("c"), c.appliedData("a"));
});

test("leadership transfer: refused for learners and non-members", () => {
  const c = new TestCluster(["a", "b"], {}, ["l"]);
  c.elect("a");
  assert.throws(() => c.raft("a").transferLeadership("l"), /not a voter/);
  assert.throws(() => c.raft("a").transferLeadership("zz"), /not a voter/);
  assert.throws(() => c.raft("b").transferLeadership("a"), ProposalDroppedError);
});

test("read index: a new leader answers only once an entry of its term has committed", () => {
  const c = new TestCluster(["a", "b", "c"]);
  c.filter = (m) => m.type === MessageType.AppendResponse;
  c.elect("a");
  c.raft("a").readIndex(data("early"));
  c.settle();
  assert.equal(c.nodes.get("a")!.readStates.length, 0, "held back: the commit index may be stale");
  c.filter = undefined;
  c.tickAll(2);
  const states = c.nodes.get("a")!.readStates;
  assert.equal(states.length, 1);
  assert.equal(c.raft("a").log.term(states[0]!.index), c.raft("a").term);
});

test("read index: refused on a node that knows no leader", () => {
  const c = new TestCluster(["a", "b", "c"]);
  assert.throws(() => c.raft("a").readIndex(data("r")), /no leader/);
});

test("status: the leader reports each member's progress; followers report none", () => {
  const c = new TestCluster(["a", "b"], {}, ["l"]);
  c.elect("a");
  c.raft("a").propose(data("x"));
  c.settle();
  const s = c.raft("a").status();
  assert.equal(s.role, "leader");
  assert.equal(s.leader, "a");
  assert.equal(s.groupId, 1);
  assert.deepEqual(s.confState, { voters: ["a", "b"], learners: ["l"], votersOutgoing: [] });
  assert.deepEqual([...s.progress.keys()].sort(), ["a", "b", "l"]);
  for (const p of s.progress.values()) assert.equal(p.match, c.raft("a").log.lastIndex());
  assert.equal(s.progress.get("l")!.learner, true);
  assert.equal(c.raft("b").status().progress.size, 0);
});

test("status: term, vote, leader and role are read-only; a status() snapshot is a copy", () => {
  const c = new TestCluster(["a", "b", "c"]);
  c.elect("a");
  const raft = c.raft("a");
  const term = raft.term;
  // Only the core moves them: writing one is a compile error, and a TypeError at run time.
  // @ts-expect-error term is a getter
  assert.throws(() => (raft.term = term + 1), TypeError);
  // @ts-expect-error role is a getter
  assert.throws(() => (raft.role = "follower"), TypeError);
  // @ts-expect-error lead is a getter
  assert.throws(() => (raft.lead = "b"), TypeError);
  // @ts-expect-error vote is a getter
  assert.throws(() => (raft.vote = "b"), TypeError);
  const s = raft.status();
  s.term = term + 1;
  s.role = "follower";
  assert.equal(raft.term, term);
  assert.equal(raft.role, "leader");
  assert.equal(raft.status().term, term);
});

test("a new node that joins empty learns the membership from the log", () => {
  const c = new TestCluster(["a", "b", "c"]);
  c.elect("a");
  c.add("d", new MemoryStorage());
  c.raft("a").proposeConfChange({ type: "addLearner", nodeId: "d" });
  c.settle();
  c.raft("a").proposeConfChange({ type: "promote", nodeId: "d" });
  c.settle();
  assert.deepEqual(c.raft("d").confState().voters, ["a", "b", "c", "d"]);
  // d can now win an election (and a, b, c count its vote).
  c.elect("d");
  c.raft("d").propose(data("from d"));
  c.settle();
  assert.deepEqual(c.appliedData("a"), ["from d"]);
});
