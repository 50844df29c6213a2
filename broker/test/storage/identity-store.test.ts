import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { create, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { NodeIdentitySchema } from "../../../gen/geobroker/storage/v1/identity_pb.js";
import { resolveIdentity } from "../../src/cluster/membership/node-identity.js";
import { openDb } from "../../src/storage/db.js";
import {
  decodeIdentity,
  encodeIdentity,
  hasRaftState,
  loadIdentity,
  saveIdentity,
} from "../../src/storage/identity-store.js";
import { RaftLogStore } from "../../src/storage/raft-log-store.js";
import { projectRoot } from "../../src/util/project-root.js";

const dirs: string[] = [];
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const tempDb = () => {
  const d = mkdtempSync(join(tmpdir(), "geobroker-identity-"));
  dirs.push(d);
  return openDb(join(d, "rocksdb"));
};

test("identity: the committed version-1 fixture decodes to the record it was written from", () => {
  const bytes = readFileSync(join(projectRoot(), "broker", "test", "fixtures", "identity-v1.bin"));
  assert.deepEqual(decodeIdentity(bytes), {
    clusterId: "geobroker",
    nodeId: "eu-0",
    incarnation: "9f3c2a7be41d0c55",
    original: false,
  });
});

test("identity: a record of an unknown version is refused with FAILED_PRECONDITION, not misread", () => {
  const v2 = toBinary(
    NodeIdentitySchema,
    create(NodeIdentitySchema, { version: 2, nodeId: "a", incarnation: "1" }),
  );
  assert.throws(
    () => decodeIdentity(v2),
    (err: unknown) =>
      err instanceof ConnectError && err.code === Code.FailedPrecondition && /version 2/.test(err.message),
  );
});

test("identity: saved synced, loaded back; an empty directory has no record and no Raft state", async () => {
  const db = await tempDb();
  try {
    assert.equal(await loadIdentity(db), undefined);
    assert.equal(await hasRaftState(db), false);
    const id = { clusterId: "c", nodeId: "a", incarnation: "0123456789abcdef", original: true };
    await saveIdentity(db, id);
    assert.deepEqual(await loadIdentity(db), id);
    assert.deepEqual(decodeIdentity(encodeIdentity(id)), id);
    assert.equal(await hasRaftState(db), false, "the identity record is not Raft state");
  } finally {
    await db.close();
  }
});

test("identity: a directory written before identity records existed becomes the original incarnation", async () => {
  const db = await tempDb();
  try {
    const store = await RaftLogStore.open(db);
    store.open(0, { voters: ["a", "b", "c"], learners: [], votersOutgoing: [] });
    await store.persist(0, { entries: [], hardState: { term: 3, vote: "b", commit: 3 } });
    assert.equal(await hasRaftState(db), true);
    const asked: string[] = [];
    const resolved = await resolveIdentity(
      { clusterId: "c", nodeId: "a", initialPeers: ["a", "b", "c"] },
      {
        load: () => loadIdentity(db),
        save: (id) => saveIdentity(db, id),
        hasRaftState: () => hasRaftState(db),
        askFormed: async (peer) => {
          asked.push(peer);
          return true;
        },
        sleep: async () => {},
        info: () => {},
        warn: () => {},
      },
    );
    assert.equal(resolved.original, true);
    assert.match(resolved.incarnation, /^[0-9a-f]{16}$/);
    assert.deepEqual(asked, [], "a node with its state does not ask anyone");
    assert.deepEqual(await loadIdentity(db), { clusterId: "c", nodeId: "a", ...resolved });
  } finally {
    await db.close();
  }
});
