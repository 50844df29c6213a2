import assert from "node:assert/strict";
import { test } from "node:test";
import { incarnationsAfter } from "../../src/raft/incarnation.js";
import { MemoryStorage } from "../../src/raft/memory-storage.js";
import { RaftNode } from "../../src/raft/raft-node.js";
import { type ConfState, type Message, MessageType } from "../../src/raft/types.js";
import { decodeBatch, encodeBatch } from "../../src/transport/convert.js";
import { data, TestCluster } from "./harness.js";

const voters3 = (): ConfState => ({ voters: ["a", "b", "c"], learners: [], votersOutgoing: [] });

/** Vote and pre-vote grants `from` sent after `since` (an index into cluster.sent). */
function grantsFrom(c: TestCluster, from: string, since: number): Message[] {
  return c.sent
    .slice(since)
    .filter(
      (m) =>
        m.from === from &&
        !m.reject &&
        (m.type === MessageType.VoteResponse || m.type === MessageType.PreVoteResponse),
    );
}

/** Vote and pre-vote requests `from` sent after `since`. */
function asksFrom(c: TestCluster, from: string, since: number): Message[] {
  return c.sent
    .slice(since)
    .filter((m) => m.from === from && (m.type === MessageType.PreVote || m.type === MessageType.Vote));
}

/**
 * a leads and commits "x" with c while b is cut off; then c loses its disk (fresh storage, a new
 * incarnation) and a goes away. Only c's vote could elect b, whose log lacks "x".
 */
function amnesiacScenario(lines: string[] = []) {
  const c = new TestCluster(["a", "b", "c"]);
  c.elect("a");
  c.isolate("b");
  c.raft("a").propose(data("x"));
  c.settle();
  const xIndex = c.raft("a").log.lastIndex();
  assert.equal(c.raft("a").log.committed, xIndex, "x is committed by a and c");
  c.add("c", MemoryStorage.bootstrap(voters3()), {
    incarnation: "c-2",
    original: false,
    logger: (l) => lines.push(l),
  });
  c.heal();
  c.isolate("a");
  return { c, xIndex, since: c.sent.length };
}

test("amnesia: a voter that lost its log grants no vote, so a leader lacking a committed entry is never elected", () => {
  const { c, since } = amnesiacScenario();
  c.tickAll(60);
  assert.deepEqual(grantsFrom(c, "c", since), [], "the amnesiac node granted a (pre)vote");
  assert.notEqual(c.raft("b").role, "leader", "b, which lacks x, was elected with the amnesiac's vote");
});

test("amnesia: a voter that lost its state never campaigns, and says why once", () => {
  const lines: string[] = [];
  const { c, since } = amnesiacScenario(lines);
  c.isolate("b");
  c.tickAll(60);
  assert.deepEqual(asksFrom(c, "c", since), []);
  assert.equal(c.raft("c").term, 1);
  assert.equal(lines.filter((l) => /does not vote or campaign/.test(l)).length, 1, lines.join("\n"));
});

test("amnesia: removed and re-added as a learner under its new incarnation, then promoted, it votes again", () => {
  const lines: string[] = [];
  const { c, xIndex } = amnesiacScenario(lines);
  c.heal();
  c.tickAll(40);
  assert.deepEqual(c.leaders(), ["a"], "a, which holds x, leads again");
  const a = c.raft("a");
  for (const cc of [
    { type: "remove" as const, nodeId: "c" },
    { type: "addLearner" as const, nodeId: "c", incarnation: "c-2" },
    { type: "promote" as const, nodeId: "c" },
  ]) {
    a.proposeConfChange(cc);
    c.settle();
  }
  for (const id of ["a", "b", "c"]) {
    assert.deepEqual(c.raft(id).confState().voters, ["a", "b", "c"]);
    assert.deepEqual(c.raft(id).confState().incarnations, { c: "c-2" });
  }
  assert.ok(
    lines.some((l) => /c was admitted to group 1 as incarnation c-2/.test(l)),
    `log: ${lines.join("\n")}`,
  );
  const since = c.sent.length;
  c.isolate("a");
  c.tickAll(60);
  assert.ok(grantsFrom(c, "c", since).length > 0, "c votes once admitted under its incarnation");
  const leader = c.leaders().find((id) => id !== "a");
  assert.ok(leader, "b and c elect a leader without a");
  assert.equal(
    new TextDecoder().decode(c.raft(leader).log.slice(xIndex, xIndex + 1)[0]!.data),
    "x",
    "the new leader holds the committed entry",
  );
});

test("amnesia: a learner added without an incarnation is not admitted once promoted, unless original", () => {
  const c = new TestCluster(["a", "b"]);
  c.elect("a");
  c.add("d", new MemoryStorage(), { incarnation: "d-1", original: false });
  c.add("e", new MemoryStorage(), { incarnation: "e-1", original: true });
  for (const cc of [
    { type: "addLearner" as const, nodeId: "d" },
    { type: "addLearner" as const, nodeId: "e" },
    { type: "promote" as const, nodeId: "d" },
    { type: "promote" as const, nodeId: "e" },
  ]) {
    c.raft("a").proposeConfChange(cc);
    c.settle();
  }
  const since = c.sent.length;
  c.isolate("a");
  c.tickAll(60);
  assert.deepEqual(grantsFrom(c, "d", since), []);
  assert.deepEqual(asksFrom(c, "d", since), []);
  assert.ok(asksFrom(c, "e", since).length > 0);
  assert.ok(
    grantsFrom(c, "e", since).length > 0,
    "an original node acts on changes that name no incarnation",
  );
});

test("amnesia: incarnations are kept on promote, dropped on remove, and travel in snapshots", () => {
  let inc = incarnationsAfter({}, { type: "addLearner", nodeId: "d", incarnation: "d-1" }, true);
  assert.deepEqual(inc, { d: "d-1" });
  assert.deepEqual(incarnationsAfter(inc, { type: "addLearner", nodeId: "d", incarnation: "d-9" }, false), {
    d: "d-1",
  });
  inc = incarnationsAfter(inc, { type: "promote", nodeId: "d" }, false);
  assert.deepEqual(inc, { d: "d-1" });
  assert.deepEqual(incarnationsAfter(inc, { type: "remove", nodeId: "d" }, false), {});

  const c = new TestCluster(["a", "b", "c"]);
  c.elect("a");
  c.raft("a").proposeConfChange({ type: "addLearner", nodeId: "d", incarnation: "d-1" });
  c.settle();
  const a = c.nodes.get("a")!;
  a.storage.createSnapshot(a.raft.log.applied, a.raft.confState(), data("image"));
  const snapshot = a.storage.snapshot();
  assert.deepEqual(snapshot.metadata.confState.incarnations, { d: "d-1" });
  // Through the peer transport's wire format, as a snapshot reaches a follower.
  const message: Message = { ...c.sent[0]!, type: MessageType.Snapshot, from: "a", to: "d", snapshot };
  const received = decodeBatch(encodeBatch("a", [message])).messages[0]!;
  const d = new RaftNode(
    { id: "d", groupId: 1, random: () => 0.5, incarnation: "d-1", original: false },
    new MemoryStorage(),
  );
  d.step(received);
  assert.deepEqual(d.confState().incarnations, { d: "d-1" });
});
