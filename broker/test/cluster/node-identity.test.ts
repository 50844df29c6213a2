import assert from "node:assert/strict";
import { test } from "node:test";
import { Code, ConnectError } from "@connectrpc/connect";
import { type IdentityPorts, isFormed, resolveIdentity } from "../../src/cluster/membership/node-identity.js";
import type { StoredIdentity } from "../../src/storage/identity-store.js";

type Answer = boolean | "silent";

/** Ports over memory; `answers[peer]` is what each successive question to the peer gets (the last repeats). */
function fakePorts(o: { stored?: StoredIdentity; raftState?: boolean; answers?: Record<string, Answer[]> }) {
  const saved: StoredIdentity[] = [];
  const asked: string[] = [];
  const warnings: string[] = [];
  let sleeps = 0;
  const counts = new Map<string, number>();
  const ports: IdentityPorts = {
    load: async () => o.stored,
    save: async (id) => {
      saved.push(id);
    },
    hasRaftState: async () => o.raftState ?? false,
    askFormed: async (peer) => {
      asked.push(peer);
      const list = o.answers?.[peer] ?? ["silent"];
      const n = counts.get(peer) ?? 0;
      counts.set(peer, n + 1);
      const a = list[Math.min(n, list.length - 1)]!;
      if (a === "silent") throw new Error("connection refused");
      return a;
    },
    sleep: async () => {
      sleeps++;
    },
    info: () => {},
    warn: (m) => warnings.push(m),
    newIncarnation: () => "00000000000000aa",
  };
  return { ports, saved, asked, warnings, sleeps: () => sleeps };
}

const opts = { clusterId: "c", nodeId: "a", initialPeers: ["a", "b", "c"] };

test("identity: a stored record is used as it is, without asking anyone", async () => {
  const stored = { clusterId: "c", nodeId: "a", incarnation: "1234", original: false };
  const f = fakePorts({ stored });
  assert.deepEqual(await resolveIdentity(opts, f.ports), { incarnation: "1234", original: false });
  assert.deepEqual(f.asked, []);
  assert.deepEqual(f.saved, []);
});

test("identity: a record of another node or cluster is refused with an actionable FAILED_PRECONDITION", async () => {
  for (const stored of [
    { clusterId: "c", nodeId: "b", incarnation: "1", original: true },
    { clusterId: "other", nodeId: "a", incarnation: "1", original: true },
  ]) {
    await assert.rejects(
      resolveIdentity(opts, fakePorts({ stored }).ports),
      (err: unknown) =>
        err instanceof ConnectError && err.code === Code.FailedPrecondition && /dataDir/.test(err.message),
    );
  }
});

test("identity: an empty directory while a peer's cluster has formed means lost state: not original", async () => {
  const f = fakePorts({ answers: { b: ["silent"], c: [true] } });
  assert.deepEqual(await resolveIdentity(opts, f.ports), {
    incarnation: "00000000000000aa",
    original: false,
  });
  assert.equal(f.saved[0]?.original, false);
  assert.match(f.warnings.join("\n"), /lost its state/);
});

test("identity: an empty directory is original only once every other initial peer says not formed", async () => {
  // b answers at once; c is down for three rounds, then up and unformed.
  const f = fakePorts({ answers: { b: [false], c: ["silent", "silent", "silent", false] } });
  assert.deepEqual(await resolveIdentity(opts, f.ports), { incarnation: "00000000000000aa", original: true });
  assert.equal(f.sleeps(), 3, "a silent peer blocks the decision (the safe choice)");
  assert.deepEqual(f.saved, [
    { clusterId: "c", nodeId: "a", incarnation: "00000000000000aa", original: true },
  ]);
});

test("identity: a silent peer then a formed one: not original", async () => {
  const f = fakePorts({ answers: { b: [false], c: ["silent", true] } });
  assert.equal((await resolveIdentity(opts, f.ports)).original, false);
});

test("identity: a node outside the initial peers is never original; a single-node cluster always is", async () => {
  const joining = fakePorts({ answers: { a: [false], b: [false] } });
  assert.equal((await resolveIdentity({ ...opts, nodeId: "z" }, joining.ports)).original, false);
  assert.deepEqual(joining.asked, []);
  const single = fakePorts({});
  assert.equal((await resolveIdentity({ ...opts, initialPeers: ["a"] }, single.ports)).original, true);
  assert.deepEqual(single.asked, []);
});

test("identity: formed means an election happened or entries past the bootstrap ones exist", () => {
  assert.equal(isFormed({ term: 1, lastIndex: 3 }, 3), false);
  assert.equal(isFormed({ term: 0, lastIndex: 0 }, 3), false);
  assert.equal(isFormed({ term: 2, lastIndex: 3 }, 3), true);
  assert.equal(isFormed({ term: 1, lastIndex: 4 }, 3), true);
});
