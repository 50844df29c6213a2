import assert from "node:assert/strict";
import { test } from "node:test";
import { isStale, nextMetadataReadmission } from "../../src/cluster/membership/readmission.js";
import type { Registration } from "../../src/cluster/state/incarnations.js";
import {
  applyMetadataCommand,
  initialMetadataState,
  type NodeInfo,
} from "../../src/cluster/state/metadata-state.js";
import type { ConfState } from "../../src/raft/types.js";
import { membershipStep } from "../support/membership-step.js";

const conf = (
  voters: string[],
  learners: string[] = [],
  incarnations?: Record<string, string>,
): ConfState => ({
  voters,
  learners,
  votersOutgoing: [],
  ...(incarnations ? { incarnations } : {}),
});
const regs = (r: Record<string, Registration>) => new Map(Object.entries(r));
const originals = { a: { incarnation: "a1", original: true }, b: { incarnation: "b1", original: true } };
const amnesiac = { ...originals, c: { incarnation: "c2", original: false } };

const step = (over: Parameters<typeof membershipStep>[0]) =>
  membershipStep({ registrations: regs(amnesiac), ...over });

test("re-admission: stale when the configuration does not admit the registered incarnation", () => {
  const reg = { incarnation: "c2", original: false };
  assert.equal(isStale(conf(["c"]), "c", reg), true, "bootstrap entry, non-original registration");
  assert.equal(isStale(conf(["c"], [], { c: "c1" }), "c", reg), true, "admitted as an earlier incarnation");
  assert.equal(isStale(conf(["c"], [], { c: "c2" }), "c", reg), false);
  assert.equal(isStale(conf(["c"]), "c", { incarnation: "c1", original: true }), false, "an original member");
  assert.equal(isStale(conf(["c"]), "c", undefined), false, "not registered yet: nothing to go on");
});

test("re-admission (data group): remove the stale voter, add it back as a learner under its incarnation, promote it", () => {
  assert.deepEqual(step({}), { kind: "remove", node: "c" });
  assert.deepEqual(step({ conf: conf(["a", "b"]) }), { kind: "addLearner", node: "c", incarnation: "c2" });
  assert.deepEqual(step({ conf: conf(["a", "b"], ["c"], { c: "c2" }) }), { kind: "promote", node: "c" });
  assert.deepEqual(step({ conf: conf(["a", "b", "c"], [], { c: "c2" }) }), { kind: "none" });
});

test("re-admission: a stale voter stays while removing it would leave no live quorum", () => {
  // b is down: {a, b} would have one live voter of two. c's acknowledgements keep the group going.
  assert.deepEqual(step({ active: new Set(["a", "c"]) }), { kind: "none" });
  // In five voters with one down, removing the stale one leaves three live of four.
  const five = conf(["a", "b", "c", "d", "e"]);
  assert.deepEqual(
    step({ conf: five, desired: ["a", "b", "c", "d", "e"], active: new Set(["a", "b", "c", "d"]) }),
    { kind: "remove", node: "c" },
  );
});

test("re-admission: a stale learner goes at once; an unregistered node is not added (nor anything else changed) until it registers", () => {
  assert.deepEqual(step({ conf: conf(["a", "b"], ["c"]) }), { kind: "remove", node: "c" });
  // A move b -> d whose target has not registered: d waits, and b is not removed before d joins.
  assert.deepEqual(step({ desired: ["a", "c", "d"], conf: conf(["a", "b", "c"], [], { c: "c2" }) }), {
    kind: "none",
  });
  assert.deepEqual(
    step({
      desired: ["a", "c", "d"],
      conf: conf(["a", "b", "c"], [], { c: "c2" }),
      registrations: regs({ ...amnesiac, d: { incarnation: "d1", original: false } }),
    }),
    { kind: "addLearner", node: "d", incarnation: "d1" },
  );
});

test("re-admission: leadership is not handed to a stale voter", () => {
  // a leaves; c is stale, but removing it would leave 2 live (a, d) of 4: it stays a voter for now.
  const leaving = {
    desired: ["b", "c", "d", "e"],
    conf: conf(["a", "b", "c", "d", "e"], [], { d: "d1" }),
    registrations: regs({ ...amnesiac, d: { incarnation: "d1", original: false } }),
    active: new Set(["a", "c", "d"]),
  };
  // c is the most caught up (d has no match yet): without the rule it would get the transfer.
  assert.deepEqual(step(leaving), { kind: "transferLeadership", to: "d" });
});

const node = (id: string, over: Partial<NodeInfo> = {}): NodeInfo => ({
  id,
  region: "r",
  zone: "",
  peerAddress: "",
  clientAddress: "",
  state: "voter",
  ...over,
});

test("re-admission (metadata group): remove, add back under the incarnation, promote only full members", () => {
  const nodes = {
    a: node("a", originals.a),
    b: node("b", originals.b),
    c: node("c", amnesiac.c),
    n: node("n", { state: "learner", incarnation: "n1", original: false }),
  };
  const meta = (c: ConfState) =>
    nextMetadataReadmission({
      self: "a",
      conf: c,
      nodes,
      match: new Map([
        ["b", 100],
        ["c", 100],
        ["n", 100],
      ]),
      lastIndex: 100,
      confIndex: 0,
      active: new Set(["b", "c", "n"]),
      maxLagToPromote: 20,
    });
  assert.deepEqual(meta(conf(["a", "b", "c"], ["n"], { n: "n1" })), { kind: "remove", node: "c" });
  assert.deepEqual(meta(conf(["a", "b"], ["n"], { n: "n1" })), {
    kind: "addLearner",
    node: "c",
    incarnation: "c2",
  });
  assert.deepEqual(meta(conf(["a", "b"], ["c", "n"], { c: "c2", n: "n1" })), { kind: "promote", node: "c" });
  // n is a learner the operator added and has not promoted: maintenance leaves it be.
  assert.deepEqual(meta(conf(["a", "b", "c"], ["n"], { c: "c2", n: "n1" })), { kind: "none" });
});

test("re-admission: registerIncarnation is recorded on the node, survives a repeated AddNode, and needs a member", () => {
  const state = initialMetadataState([
    { id: "a", region: "r", zone: "", peerAddress: "p", clientAddress: "c" },
  ]);
  assert.deepEqual(
    applyMetadataCommand(state, {
      type: "registerIncarnation",
      nodeId: "a",
      incarnation: "a2",
      original: false,
    }),
    { ok: true },
  );
  assert.equal(state.nodes.a?.incarnation, "a2");
  assert.equal(state.nodes.a?.original, false);
  applyMetadataCommand(state, {
    type: "addNode",
    node: { id: "a", region: "r", zone: "", peerAddress: "p2", clientAddress: "c" },
  });
  assert.equal(state.nodes.a?.incarnation, "a2");
  assert.equal(state.nodes.a?.peerAddress, "p2");
  const r = applyMetadataCommand(state, {
    type: "registerIncarnation",
    nodeId: "z",
    incarnation: "z1",
    original: false,
  });
  assert.equal(r.ok, false);
});

// Found by the full-stack simulation (seed 900060 of `npm run sim -- --stack full`): a new node
// joined the metadata group as a learner while n1 had lost its disk, and was promoted at once, its
// match 0 being within the lag bound of a 14-entry log. It then crashed before it held any entry: a
// voter that does not know its own admission grants no vote, n1 could not vote either, and two of
// the four voters left no quorum, for good. Caught up now also means holding the latest
// configuration change (so the entry that admitted it).
test("re-admission: a learner is promoted only once it holds the latest configuration change, however short the log", () => {
  const readded = conf(["a", "b"], ["c"], { c: "c2" });
  const at = (match: number) =>
    step({
      conf: readded,
      match: new Map([
        ["a", 14],
        ["b", 14],
        ["c", match],
      ]),
      lastIndex: 14,
      confIndex: 12,
    });
  assert.deepEqual(at(0), { kind: "none" }, "within the lag bound but holding nothing");
  assert.deepEqual(at(11), { kind: "none" }, "short of the change that admitted it");
  assert.deepEqual(at(12), { kind: "promote", node: "c" });

  const nodes = { a: node("a", originals.a), b: node("b", originals.b), c: node("c", amnesiac.c) };
  const meta = (match: number) =>
    nextMetadataReadmission({
      self: "a",
      conf: readded,
      nodes,
      match: new Map([
        ["b", 14],
        ["c", match],
      ]),
      lastIndex: 14,
      confIndex: 12,
      active: new Set(["b", "c"]),
      maxLagToPromote: 64,
    });
  assert.deepEqual(meta(0), { kind: "none" });
  assert.deepEqual(meta(12), { kind: "promote", node: "c" });
});
