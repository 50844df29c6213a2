import type { NodeConfig } from "../../config/config.js";
import type { PeerTransportPort } from "../../engine/ports.js";
import type { Logger } from "../../observability/logger.js";
import type { NodeId } from "../../raft/types.js";
import type { Db } from "../../storage/db.js";
import { hasRaftState, loadIdentity, saveIdentity } from "../../storage/identity-store.js";
import type { RaftLogStore } from "../../storage/raft-log-store.js";
import { type Clock, sleep, systemClock } from "../../util/clock.js";
import {
  decodeInternal,
  encodeInternal,
  type InternalReply,
  type InternalRequest,
} from "../peers/internal-requests.js";
import { metadataGroupId } from "../state/metadata-state.js";
import { bootstrapLength, isFormed, type NodeIncarnation, resolveIdentity } from "./node-identity.js";

// A node's identity at start, before it serves: which incarnation this data directory is, found from
// its identity record, or decided with the peers (formation) when the record is missing
// (node-identity.ts; docs/raft.md, "A node that lost its disk"). Meanwhile the peer port answers only
// formation questions.

/**
 * Reads or decides this node's incarnation before any group starts (node-identity.ts). Meanwhile it
 * answers other nodes' formation checks from its log on disk (an empty directory: not formed), so
 * nodes of a new cluster starting together can each learn that none has formed yet.
 */
export async function openIdentity(
  config: NodeConfig,
  db: Db,
  logStore: RaftLogStore,
  transport: PeerTransportPort,
  logger: Logger,
  clock: Clock = systemClock,
): Promise<NodeIncarnation> {
  const initialPeers = config.peers.map((p) => p.id);
  transport.onControl(async (request) => {
    if (decodeInternal<InternalRequest>(request).type !== "formation")
      throw new Error("starting: not ready for internal requests yet");
    return encodeInternal({ type: "formation", formed: formedOnDisk(config.nodeId, initialPeers, logStore) });
  });
  const identity = await resolveIdentity(
    { clusterId: config.clusterId, nodeId: config.nodeId, initialPeers },
    {
      load: () => loadIdentity(db),
      save: (id) => saveIdentity(db, id),
      hasRaftState: () => hasRaftState(db),
      askFormed: async (peer) => {
        const reply = decodeInternal<InternalReply>(
          await transport.call(peer, encodeInternal({ type: "formation" }), 2000),
        );
        if (reply.type !== "formation") throw new Error(`unexpected reply from ${peer}`);
        return reply.formed;
      },
      sleep: (ms) => sleep(clock, ms),
      info: (message, fields) => logger.info(message, fields),
      warn: (message, fields) => logger.warn(message, fields),
    },
  );
  logger.info("node identity", { ...identity });
  return identity;
}

/**
 * What a starting node answers a formation check: whether its metadata log on disk shows the cluster
 * formed (an empty directory: not formed). The full-stack simulation's nodes answer with it too.
 */
export function formedOnDisk(self: NodeId, initialPeers: readonly NodeId[], logStore: RaftLogStore): boolean {
  const hasLog = logStore.groups().includes(metadataGroupId);
  const log = hasLog
    ? logStore.open(metadataGroupId, { voters: [], learners: [], votersOutgoing: [] })
    : undefined;
  return isFormed(
    { term: log?.initialState().hardState.term ?? 0, lastIndex: log?.lastIndex() ?? 0 },
    bootstrapLength(self, initialPeers),
  );
}
