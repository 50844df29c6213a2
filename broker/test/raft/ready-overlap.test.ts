import assert from "node:assert/strict";
import { test } from "node:test";
import { MemoryStorage } from "../../src/raft/memory-storage.js";
import { RaftNode, type Ready } from "../../src/raft/raft-node.js";
import { handleReady, type ReadyIo } from "../../src/raft/ready-loop.js";
import { type Entry, EntryType, type Message, MessageType } from "../../src/raft/types.js";

// Issue 23: the leader's appends leave while its own persist is under way (etcd; Raft thesis
// 10.2.1), and committed entries that were already on disk apply meanwhile. What must still wait
// for the persist: acknowledgements and votes, and the apply of entries this Ready writes.

const entry = (index: number): Entry => ({ index, term: 2, type: EntryType.Normal, data: new Uint8Array() });
const message = (type: MessageType, to: string): Message =>
  ({ type, from: "a", to, term: 2, groupId: 1 }) as Message;

function recorder() {
  const events: string[] = [];
  let finishPersist: () => void = () => {};
  const io: ReadyIo = {
    restore: () => undefined,
    persist: (u) => {
      events.push(`persist ${u.entries.map((e) => e.index).join(",")}`);
      return new Promise<void>((r) => {
        finishPersist = () => {
          events.push("persisted");
          r();
        };
      });
    },
    send: (ms) => events.push(`send ${ms.map((m) => MessageType[m.type]).join(",")}`),
    apply: (es) => {
      events.push(`apply ${es.map((e) => e.index).join(",")}`);
    },
  };
  const core = {
    applyConfChange: () => ({ voters: [], learners: [], votersOutgoing: [] }),
    advance: () => events.push("advance"),
  };
  return { events, io, core, persistDone: () => finishPersist() };
}

const ready = (r: Partial<Ready>): Ready => ({
  entries: [],
  committedEntries: [],
  messages: [],
  readStates: [],
  mustSync: true,
  ...r,
});

test("a leader's appends and already-durable committed entries do not wait for its persist; responses do", async () => {
  const { events, io, core, persistDone } = recorder();
  const done = handleReady(
    core,
    ready({
      entries: [entry(8), entry(9)],
      committedEntries: [entry(6), entry(7)],
      hardState: { term: 2, vote: "a", commit: 7 },
      messages: [
        message(MessageType.Append, "b"),
        message(MessageType.VoteResponse, "c"),
        message(MessageType.Heartbeat, "c"),
      ],
    }),
    io,
  );
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(
    events,
    ["send Append,Heartbeat", "persist 8,9", "apply 6,7"],
    "before the persist completes",
  );
  persistDone();
  await done;
  assert.deepEqual(events.slice(3), ["persisted", "send VoteResponse", "advance"]);
});

test("committed entries among those this Ready persists apply only after the persist", async () => {
  const { events, io, core, persistDone } = recorder();
  const done = handleReady(
    core,
    ready({
      entries: [entry(7), entry(8)],
      committedEntries: [entry(6), entry(7)],
      hardState: { term: 2, vote: "a", commit: 7 },
      messages: [message(MessageType.AppendResponse, "a")],
    }),
    io,
  );
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(events, ["persist 7,8"], "a follower acknowledges and applies nothing before its fsync");
  persistDone();
  await done;
  assert.deepEqual(events.slice(1), ["persisted", "send AppendResponse", "apply 6,7", "advance"]);
});

test("the leader counts its own copy toward the commit only after advance: appends sent early commit nothing alone", () => {
  // 3 voters; the leader's entry is acknowledged by nobody else: it must not commit on the
  // leader's unpersisted copy, nor on its persisted one alone.
  const storage = MemoryStorage.bootstrap({ voters: ["a", "b", "c"], learners: [], votersOutgoing: [] });
  const node = new RaftNode(
    { id: "a", groupId: 1, electionTicks: 10, heartbeatTicks: 1, random: () => 0 },
    storage,
  );
  node.campaign("election");
  let rd = node.ready();
  storage.setHardState(rd.hardState!);
  node.advance(rd);
  for (const from of ["b", "c"])
    node.step({ type: MessageType.VoteResponse, from, to: "a", term: node.term, groupId: 1 } as Message);
  assert.equal(node.role, "leader");
  rd = node.ready();
  storage.append(rd.entries);
  node.advance(rd);
  // Both followers take the new leader's first entry: their progress leaves probing.
  const first = node.status().lastIndex;
  for (const from of ["b", "c"])
    node.step({
      type: MessageType.AppendResponse,
      from,
      to: "a",
      term: node.term,
      groupId: 1,
      index: first,
    } as Message);
  rd = node.ready();
  node.advance(rd);
  const commitBefore = node.status().commit;
  node.propose(new Uint8Array([1]));
  rd = node.ready();
  const proposed = rd.entries.at(-1)!.index;
  assert.ok(
    rd.messages.some((m) => m.type === MessageType.Append),
    "appends to send early",
  );
  // b acknowledges the new entry before the leader's own persist completed: b alone is 1 of 3.
  node.step({
    type: MessageType.AppendResponse,
    from: "b",
    to: "a",
    term: node.term,
    groupId: 1,
    index: proposed,
  } as Message);
  assert.ok(node.status().commit < proposed, "not committed on b's copy and the leader's unpersisted one");
  storage.append(rd.entries);
  node.advance(rd);
  assert.equal(node.status().commit, proposed, "committed once the leader's own copy is persisted");
  assert.ok(commitBefore < proposed);
});
