import { randomBytes } from "node:crypto";
import { Code, ConnectError } from "@connectrpc/connect";
import type { NodeId } from "../../raft/types.js";
import type { StoredIdentity } from "../../storage/identity-store.js";

// Which incarnation of this node runs, decided before any Raft group starts (docs/raft.md, "A node
// that lost its disk"). A node that finds its data directory empty cannot tell on its own whether it
// is starting a new cluster or has lost its state: it asks the other initial members whether the
// cluster has formed. If it has, this node may have voted and acknowledged entries it no longer has,
// so it becomes a non-original incarnation: it votes nowhere until its groups re-admit it.

/** This node's incarnation and whether it may act on membership that names no incarnation. */
export interface NodeIncarnation {
  incarnation: string;
  original: boolean;
}

export interface IdentityPorts {
  load(): Promise<StoredIdentity | undefined>;
  /** Durably (synced). */
  save(identity: StoredIdentity): Promise<void>;
  /** Whether the data directory holds any Raft state already. */
  hasRaftState(): Promise<boolean>;
  /** Asks an initial peer whether its metadata group has formed; rejects when it does not answer. */
  askFormed(peer: NodeId): Promise<boolean>;
  sleep(ms: number): Promise<void>;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  newIncarnation?(): string;
}

export interface IdentityOptions {
  clusterId: string;
  nodeId: NodeId;
  /** The initial members (`config.peers`), this node included when it is one. */
  initialPeers: readonly NodeId[];
  retryMs?: number;
  /** How often a blocked check says whom it is waiting for. */
  progressMs?: number;
}

/** 64 random bits, hex. */
export function newIncarnation(): string {
  return randomBytes(8).toString("hex");
}

/**
 * Whether a metadata group's log shows the cluster formed: an election happened (the bootstrap
 * entries are at term 1, the first election moves to 2) or it holds entries past its bootstrap
 * entries. Before either, no node can have voted for anyone but itself or acknowledged anything but
 * the bootstrap entries every initial member writes alike, so a node that lost nothing of value
 * may start as an original member.
 */
export function isFormed(log: { term: number; lastIndex: number }, bootstrapEntries: number): boolean {
  return log.term > 1 || log.lastIndex > bootstrapEntries;
}

/** The number of bootstrap entries this node's metadata log starts with. */
export function bootstrapLength(nodeId: NodeId, initialPeers: readonly NodeId[]): number {
  return initialPeers.includes(nodeId) ? initialPeers.length : 0;
}

/**
 * The identity record, read or written: present, it is used (after checking it is this node's and
 * this cluster's); absent with Raft state present (a directory from before identity records), the
 * node is the original incarnation; absent on an empty directory, see `decideFresh`.
 */
export async function resolveIdentity(o: IdentityOptions, ports: IdentityPorts): Promise<NodeIncarnation> {
  const stored = await ports.load();
  if (stored) {
    if (stored.nodeId !== o.nodeId || stored.clusterId !== o.clusterId)
      throw new ConnectError(
        `the data directory belongs to node ${stored.nodeId} of cluster ${stored.clusterId}, not node ${o.nodeId} of cluster ${o.clusterId}: point dataDir at this node's own directory, or at an empty one`,
        Code.FailedPrecondition,
      );
    return { incarnation: stored.incarnation, original: stored.original };
  }
  const incarnation = (ports.newIncarnation ?? newIncarnation)();
  let original: boolean;
  if (await ports.hasRaftState()) {
    ports.info("data directory predates identity records: recording this node as its original incarnation", {
      incarnation,
    });
    original = true;
  } else {
    original = await decideFresh(o, ports);
  }
  await ports.save({ clusterId: o.clusterId, nodeId: o.nodeId, incarnation, original });
  return { incarnation, original };
}

/**
 * An empty data directory: original only when this node is an initial member and every other
 * initial member says the cluster has not formed (a new cluster), or there is none. A peer that does
 * not answer blocks the decision: deciding without it could make an amnesiac node original, free
 * to vote with an empty log, whenever the peers that answered happen to be unformed ones too.
 */
async function decideFresh(o: IdentityOptions, ports: IdentityPorts): Promise<boolean> {
  if (!o.initialPeers.includes(o.nodeId)) return false;
  const others = o.initialPeers.filter((p) => p !== o.nodeId);
  const retryMs = o.retryMs ?? 500;
  const progressMs = o.progressMs ?? 5000;
  let waited = 0;
  for (;;) {
    const answers = await Promise.all(
      others.map((p) =>
        ports.askFormed(p).then(
          (formed) => ({ p, formed }),
          () => ({ p, formed: undefined }),
        ),
      ),
    );
    const formedAt = answers.filter((a) => a.formed === true).map((a) => a.p);
    if (formedAt.length > 0) {
      ports.warn(
        "this node's data directory is empty but the cluster has formed: it lost its state and rejoins its groups as a learner under a new incarnation (it will not vote until re-admitted)",
        { formedAt },
      );
      return false;
    }
    const silent = answers.filter((a) => a.formed === undefined).map((a) => a.p);
    if (silent.length === 0) return true;
    if (waited % progressMs < retryMs)
      ports.info(
        "empty data directory: waiting for every initial peer to say whether the cluster has formed",
        {
          waitingFor: silent,
          waitedMs: waited,
        },
      );
    await ports.sleep(retryMs);
    waited += retryMs;
  }
}
