import assert from "node:assert/strict";
import { test } from "node:test";
import { LogFeed } from "../../src/cluster/groups/log-feed.js";
import { ProposalTracker } from "../../src/cluster/groups/proposal-tracker.js";
import type { BatchedResult } from "../../src/cluster/groups/publish-batcher.js";
import { encodeMetadataCommand, encodePublishBatch } from "../../src/cluster/state/commands.js";
import type { MetadataResult } from "../../src/cluster/state/metadata-state.js";
import { MetadataStateMachine } from "../../src/cluster/state/metadata-state-machine.js";
import { PartitionStateMachine } from "../../src/cluster/state/partition-state-machine.js";
import { type Entry, EntryType } from "../../src/raft/types.js";
import { CrashDb } from "../../src/storage/crash-db.js";
import { PartitionStore } from "../../src/storage/partition-store.js";

const text = new TextEncoder();
const publish = (index: number, proposer: string, sequence: number, body: string): Entry => ({
  index,
  term: 2,
  type: EntryType.Normal,
  data: encodePublishBatch({
    proposer,
    sequence,
    timestampMicros: 1_000_000 + index,
    messages: [{ key: new Uint8Array(), body: text.encode(body), headers: {}, messageId: "" }],
  }),
});

const settledWithin = <T>(p: Promise<T>, ms: number) =>
  Promise.race([p.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms))]);

// Issue 17, defect 2: sequences restart at 1 in every process and results were matched on (node,
// sequence). A leader that persisted its own proposal, crashed before replicating it and won again
// applied that old entry and resolved its *new* sequence 1 with the old entry's offset: the client
// got an ack for a message that could still be lost with the new entry.
test("a restarted proposer's new proposal is not resolved by an entry its previous process proposed", async () => {
  const disk = new CrashDb();
  const store = await PartitionStore.open(disk.open());
  const before = new ProposalTracker<BatchedResult>("a", 60_000);
  const after = new ProposalTracker<BatchedResult>("a", 60_000);
  assert.notEqual(before.proposer, after.proposer, "each process proposes under its own name");
  const sm = new PartitionStateMachine(1, "a", store, after, new LogFeed(0), () => undefined, {
    dedupWindowMs: 60_000,
    dedupMaxIds: 1000,
  });
  const mine = after.open();
  assert.equal(mine.sequence, 1);
  await sm.apply([publish(5, before.proposer, 1, "old")]);
  assert.equal(await settledWithin(mine.result, 50), false, "the old process's entry must not answer");
  await sm.apply([publish(6, after.proposer, 1, "new")]);
  const r = await mine.result;
  assert.deepEqual(r.offsets, [1], "resolved by its own entry, the second message");
});

test("the metadata group matches results on the proposing process too", async () => {
  const disk = new CrashDb();
  const store = await PartitionStore.open(disk.open());
  const before = new ProposalTracker<MetadataResult>("a", 60_000);
  const after = new ProposalTracker<MetadataResult>("a", 60_000);
  const sm = await MetadataStateMachine.open({
    selfId: "a",
    store,
    tracker: after,
    initialNodes: [{ id: "a", region: "eu", zone: "", peerAddress: "a:1", clientAddress: "a:2" }],
    onChange: () => undefined,
    onLeaderChange: () => undefined,
  });
  const mine = after.open();
  const entry = (index: number, proposer: string, name: string): Entry => ({
    index,
    term: 2,
    type: EntryType.Normal,
    data: encodeMetadataCommand({
      proposer,
      sequence: 1,
      command: { type: "deleteTopic", name },
    }),
  });
  await sm.apply([entry(4, before.proposer, "x")]);
  assert.equal(await settledWithin(mine.result, 50), false, "the old process's entry must not answer");
  await sm.apply([entry(5, after.proposer, "y")]);
  await mine.result;
});
