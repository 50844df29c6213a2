import assert from "node:assert/strict";
import { test } from "node:test";
import { GroupRegistry } from "../../src/cluster/groups/group-registry.js";
import { ChangeSignal } from "../../src/cluster/groups/waiters.js";
import { initialMetadataState, type MetadataState } from "../../src/cluster/state/metadata-state.js";
import type { NodeConfig } from "../../src/config/config.js";
import { defaultConfig } from "../../src/config/defaults.js";
import { sendOnlyPeerPort } from "../../src/engine/ports.js";
import { silentLogger } from "../../src/observability/logger.js";
import { RaftNode } from "../../src/raft/raft-node.js";
import { CrashDb } from "../../src/storage/crash-db.js";
import { PartitionStore } from "../../src/storage/partition-store.js";
import { RaftLogStore } from "../../src/storage/raft-log-store.js";
import { systemClock } from "../../src/util/clock.js";

// Which data groups a node runs after a restart. Found by the full-stack simulation (seed 4 of
// `npm run sim -- --stack full`, once replica moves ran through the metadata): a replica moving away
// is still a voter of its group until the leader removes it, but a restarted node started only the
// groups the placement lists it in, so the moving replica's group lost a voter; with another voter
// re-admitting after a disk loss, the group had no quorum and never elected a leader again.

const nodes = ["a", "b", "c", "d"].map((id) => ({
  id,
  region: "eu",
  zone: "",
  peerAddress: `${id}:7100`,
  clientAddress: `${id}:7000`,
}));

async function registryOn(self: string) {
  const db = new CrashDb().open();
  const logStore = await RaftLogStore.open(db);
  const partitions = await PartitionStore.open(db);
  const config: NodeConfig = { ...defaultConfig, nodeId: self, region: "eu", peers: nodes.slice(0, 3) };
  return new GroupRegistry({
    self,
    config,
    logger: silentLogger(),
    logStore,
    partitions,
    transport: sendOnlyPeerPort(() => undefined),
    createCore: ({ groupId, storage }) =>
      new RaftNode({ id: self, groupId, electionTicks: 10, heartbeatTicks: 1, random: () => 0.5 }, storage),
    changes: new ChangeSignal(systemClock),
    clock: systemClock,
    proposalTimeoutMs: 1000,
    onFatal: (err) => assert.fail(err),
  });
}

/** Group 1 of topic "t", first on a, b, c, now moving its replica on `from` to d. */
function moving(from: string): MetadataState {
  const state = initialMetadataState(nodes);
  state.topics.t = {
    spec: {
      name: "t",
      partitions: 1,
      replicationFactor: 3,
      retention: { maxAgeMs: 0, maxBytes: 0, maxMessages: 0, keepUnacknowledged: false },
      homeRegion: "",
    },
    createdAtMicros: 0,
    partitions: [
      {
        partition: 0,
        groupId: 1,
        initial: ["a", "b", "c"],
        replicas: ["a", "b", "c", "d"].filter((r) => r !== from),
        moving: { from, to: "d" },
      },
    ],
  };
  return state;
}

test("a restarted node runs the group of a replica still moving away from it (it is a voter until removed)", async () => {
  const registry = await registryOn("b");
  registry.reconcile(moving("b"));
  assert.ok(registry.partition(1), "b still runs group 1 while its replica moves to d");
  registry.stop();
});

test("a node runs no group it neither holds nor is moving away from", async () => {
  const registry = await registryOn("c");
  const state = moving("b");
  state.topics.t!.partitions[0]!.replicas = ["a", "b", "d"];
  registry.reconcile(state);
  assert.equal(registry.partition(1), undefined);
  registry.stop();
});

// The same seed once that was fixed: n1, wiped while its replica moved away, restarted the group
// and, the move settled, kept it for good because its own (bootstrap) configuration still listed
// it; a subscriber reading there waited forever for messages that replica would never get.
test("a node stops the group of a replica whose move away settled, though its own configuration still lists it", async () => {
  const registry = await registryOn("b");
  registry.reconcile(moving("b"));
  assert.ok(registry.partition(1));
  const settled = moving("b");
  delete settled.topics.t!.partitions[0]!.moving;
  registry.reconcile(settled);
  assert.equal(registry.partition(1), undefined, "b stopped group 1 once the move settled");
  registry.stop();
});
