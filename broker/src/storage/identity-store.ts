import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { NodeIdentitySchema } from "../../../gen/geobroker/storage/v1/identity_pb.js";
import type { Db } from "./db.js";
import { identityKey, Prefix, prefixRange } from "./keys.js";

// The node's identity record in its data directory (proto/geobroker/storage/v1/identity.proto).

export const identityVersion = 1;

export interface StoredIdentity {
  clusterId: string;
  nodeId: string;
  incarnation: string;
  original: boolean;
}

export function encodeIdentity(id: StoredIdentity): Uint8Array {
  return toBinary(NodeIdentitySchema, create(NodeIdentitySchema, { version: identityVersion, ...id }));
}

export function decodeIdentity(bytes: Uint8Array): StoredIdentity {
  const m = fromBinary(NodeIdentitySchema, bytes);
  if (m.version !== identityVersion)
    throw new ConnectError(
      `the data directory's identity record has version ${m.version}; this build reads version ${identityVersion}: run a build that knows it`,
      Code.FailedPrecondition,
    );
  if (!m.nodeId || !m.incarnation)
    throw new ConnectError("the data directory's identity record is incomplete", Code.DataLoss);
  return { clusterId: m.clusterId, nodeId: m.nodeId, incarnation: m.incarnation, original: m.original };
}

export async function loadIdentity(db: Db): Promise<StoredIdentity | undefined> {
  const bytes = await db.get(identityKey);
  return bytes ? decodeIdentity(bytes) : undefined;
}

/** Synced: the identity must be on disk before the node acts on it (votes, acknowledges). */
export async function saveIdentity(db: Db, id: StoredIdentity): Promise<void> {
  await db.batch([{ type: "put", key: identityKey, value: Buffer.from(encodeIdentity(id)) }], true);
}

/** Whether the directory holds any Raft state (log, hard state or snapshot point of any group). */
export async function hasRaftState(db: Db): Promise<boolean> {
  for (const prefix of [Prefix.Log, Prefix.HardState, Prefix.Snapshot]) {
    const it = db.iterator({ ...prefixRange(prefix), limit: 1 });
    try {
      if ((await it.nextv(1)).length > 0) return true;
    } finally {
      await it.close();
    }
  }
  return false;
}
