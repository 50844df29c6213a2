import assert from "node:assert/strict";
import { test } from "node:test";
import { Code, ConnectError } from "@connectrpc/connect";
import { GroupRunner, type RaftCore } from "../../src/cluster/groups/group-runner.js";
import type { Ready as CoreReady } from "../../src/raft/raft-node.js";
import { type Entry, EntryType } from "../../src/raft/types.js";

/** A core that records read requests and hands out the Readies a test queues. */
class FakeCore {
  readonly requests: Uint8Array[] = [];
  applied = 0;
  leaderKnown = true;
  private readies: CoreReady[] = [];
  readIndex(context: Uint8Array): void {
    if (!this.leaderKnown) throw new Error("no leader to confirm a read");
    this.requests.push(context);
  }
  queue(rd: Partial<CoreReady>): void {
    this.readies.push({
      entries: [],
      committedEntries: [],
      messages: [],
      readStates: [],
      mustSync: false,
      ...rd,
    });
  }
  hasReady(): boolean {
    return this.readies.length > 0;
  }
  ready(): CoreReady {
    return this.readies.shift()!;
  }
  advance(rd: CoreReady): void {
    const last = rd.committedEntries.at(-1);
    if (last) this.applied = last.index;
  }
  status() {
    return {
      applied: this.applied,
      commit: this.applied,
      term: 1,
      lastIndex: this.applied,
      progress: new Map(),
    };
  }
  tick() {}
  step() {}
  propose() {}
  proposeConfChange() {}
  applyConfChange() {
    return { voters: [], learners: [], votersOutgoing: [] };
  }
  transferLeadership() {}
  campaign() {}
  reportSnapshot() {}
  reportUnreachable() {}
  confState() {
    return { voters: [], learners: [], votersOutgoing: [] };
  }
}

const entry = (index: number): Entry => ({
  index,
  term: 1,
  type: EntryType.Normal,
  data: new Uint8Array([1]),
});

function runner(core: FakeCore, applied: number[]) {
  return new GroupRunner(
    1,
    core as unknown as RaftCore,
    { persist: async () => {}, send: () => {} },
    { apply: async (es) => void applied.push(...es.map((e) => e.index)), restore: async () => {} },
    (err) => assert.fail(err),
  );
}

const settle = () => new Promise((r) => setImmediate(r));

test("readIndex resolves only once the replica has applied the leader's read index", async () => {
  const core = new FakeCore();
  const applied: number[] = [];
  const r = runner(core, applied);
  let answered: number | undefined;
  const read = r.readIndex(AbortSignal.timeout(5000), 5000).then((i) => {
    answered = i;
  });
  await settle();
  assert.equal(core.requests.length, 1, "the request reached the core");
  // The leader answers 5 while this replica has applied nothing yet: the read must wait.
  core.queue({
    readStates: [{ index: 5, context: core.requests[0]! }],
    committedEntries: [entry(1), entry(2)],
  });
  r.schedule();
  await settle();
  await settle();
  assert.equal(answered, undefined, "released before index 5 was applied here");
  core.queue({ committedEntries: [entry(3), entry(4), entry(5)] });
  r.schedule();
  await read;
  assert.equal(answered, 5);
  assert.deepEqual(applied, [1, 2, 3, 4, 5], "the state machine holds everything up to the read index");
});

test("a read index request lost with a leadership is asked again", async () => {
  const core = new FakeCore();
  const r = runner(core, []);
  const read = r.readIndex(AbortSignal.timeout(5000), 5000);
  await settle();
  // No answer to the first request (the leader changed): after an attempt's wait a second one goes out.
  await new Promise((res) => setTimeout(res, 1100));
  assert.equal(core.requests.length, 2);
  core.queue({ readStates: [{ index: 0, context: core.requests[1]! }] });
  r.schedule();
  assert.equal(await read, 0);
});

test("without a leader a read index fails UNAVAILABLE, saying why", async () => {
  const core = new FakeCore();
  core.leaderKnown = false;
  const r = runner(core, []);
  await assert.rejects(r.readIndex(AbortSignal.timeout(5000), 300), (err: unknown) => {
    const e = ConnectError.from(err);
    assert.equal(e.code, Code.Unavailable);
    assert.match(e.rawMessage, /no read index within 300 ms \(no leader to confirm a read\)/);
    return true;
  });
});
