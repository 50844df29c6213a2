import assert from "node:assert/strict";
import { test } from "node:test";
import {
  applyMetadataCommand,
  initialMetadataState,
  type NodeAddress,
} from "../../src/cluster/state/metadata-state.js";
import { placeReplicas } from "../../src/cluster/state/placement.js";
import type { TopicSpec } from "../../src/engine/engine.js";

const node = (id: string, region: string, zone = "a"): NodeAddress => ({
  id,
  region,
  zone,
  peerAddress: `${id}:1`,
  clientAddress: `${id}:2`,
});
const nodes = [
  node("eu-0", "eu"),
  node("eu-1", "eu", "b"),
  node("us-0", "us"),
  node("us-1", "us", "b"),
  node("ap-0", "ap"),
  node("ap-1", "ap", "b"),
];
const spec = (name: string, over: Partial<TopicSpec> = {}): TopicSpec => ({
  name,
  partitions: 1,
  replicationFactor: 3,
  retention: { maxAgeMs: 0, maxBytes: 0, maxMessages: 0, keepUnacknowledged: true },
  homeRegion: "",
  ...over,
});

test("three replicas land in three different regions", () => {
  const replicas = placeReplicas(nodes, 3, new Map());
  assert.deepEqual(new Set(replicas.map((r) => r.split("-")[0])).size, 3);
});

test("a home region gets the first replica (the preferred leader)", () => {
  for (const region of ["eu", "us", "ap"]) {
    assert.ok(placeReplicas(nodes, 3, new Map(), region)[0]!.startsWith(`${region}-`));
  }
});

test("partitions are spread so every node carries an equal share", () => {
  const state = initialMetadataState(nodes);
  const r = applyMetadataCommand(state, {
    type: "createTopic",
    spec: spec("t", { partitions: 6 }),
    atMicros: 1,
    ifAbsent: false,
  });
  assert.ok(r.ok);
  const load = new Map<string, number>();
  for (const p of r.topic!.partitions) for (const id of p.replicas) load.set(id, (load.get(id) ?? 0) + 1);
  assert.deepEqual([...load.values()], [3, 3, 3, 3, 3, 3]);
  assert.deepEqual(
    r.topic!.partitions.map((p) => p.groupId),
    [1, 2, 3, 4, 5, 6],
  );
});

test("create, duplicate create, update and delete give the right results", () => {
  const state = initialMetadataState(nodes.slice(0, 3));
  assert.ok(
    applyMetadataCommand(state, { type: "createTopic", spec: spec("a"), atMicros: 5, ifAbsent: false }).ok,
  );
  const dup = applyMetadataCommand(state, {
    type: "createTopic",
    spec: spec("a"),
    atMicros: 6,
    ifAbsent: false,
  });
  assert.deepEqual(dup.ok ? undefined : dup.error.code, "already_exists");
  const again = applyMetadataCommand(state, {
    type: "createTopic",
    spec: spec("a"),
    atMicros: 7,
    ifAbsent: true,
  });
  assert.equal(again.ok && again.topic?.createdAtMicros, 5, "ifAbsent returns the existing topic");
  const retention = { maxAgeMs: 1000, maxBytes: 0, maxMessages: 10, keepUnacknowledged: false };
  const updated = applyMetadataCommand(state, { type: "updateTopic", name: "a", retention });
  assert.deepEqual(updated.ok && updated.topic?.spec.retention, retention);
  assert.ok(applyMetadataCommand(state, { type: "deleteTopic", name: "a" }).ok);
  const gone = applyMetadataCommand(state, { type: "deleteTopic", name: "a" });
  assert.equal(gone.ok ? undefined : gone.error.code, "not_found");
});

test("impossible placements are refused with what is missing", () => {
  const state = initialMetadataState(nodes.slice(0, 3));
  const tooMany = applyMetadataCommand(state, {
    type: "createTopic",
    spec: spec("x", { replicationFactor: 5 }),
    atMicros: 1,
    ifAbsent: false,
  });
  assert.match(tooMany.ok ? "" : tooMany.error.message, /needs 5 nodes; the cluster has 3/);
  const noRegion = applyMetadataCommand(state, {
    type: "createTopic",
    spec: spec("y", { homeRegion: "mars" }),
    atMicros: 1,
    ifAbsent: false,
  });
  assert.match(noRegion.ok ? "" : noRegion.error.message, /home region mars has no nodes/);
});
