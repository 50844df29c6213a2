import type { ServiceImpl } from "@connectrpc/connect";
import {
  type ClusterService,
  MemberRole,
  NodeState,
  type Node as WireNode,
} from "../../../gen/geobroker/v1/cluster_pb.js";
import type { ClusterAdmin } from "../cluster/membership/cluster-admin.js";
import type { NodeInfo } from "../cluster/state/metadata-state.js";
import type { NodeIdentity } from "../engine/engine.js";
import { invalidArgument } from "../engine/errors.js";
import { servedBy } from "../wire/convert.js";
import { nodeMetricsToWire } from "../wire/node-metrics.js";
import { checkNodeId } from "../wire/validate.js";

const wireState: Record<NodeInfo["state"], NodeState> = {
  learner: NodeState.LEARNER,
  voter: NodeState.VOTER,
  draining: NodeState.DRAINING,
  drained: NodeState.DRAINED,
};

function nodeToWire(n: NodeInfo, reachable = true) {
  return {
    id: n.id,
    region: n.region,
    zone: n.zone,
    peerAddress: n.peerAddress,
    clientAddress: n.clientAddress,
    state: wireState[n.state],
    reachable,
  };
}

function nodeFromWire(n: WireNode | undefined) {
  if (!n) throw invalidArgument("node is required");
  checkNodeId(n.id, "node.id");
  return {
    id: n.id,
    region: n.region,
    zone: n.zone,
    peerAddress: n.peerAddress,
    clientAddress: n.clientAddress,
  };
}

/** GetClusterMetrics names at most this many nodes (each is one peer request). */
export const maxMetricsNodeIds = 1000;

/** geobroker.v1.ClusterService: the cluster's state and the membership calls the operator drives. */
export function clusterService(
  admin: ClusterAdmin,
  identity: NodeIdentity,
  clusterId: string,
): ServiceImpl<typeof ClusterService> {
  return {
    async getClusterInfo() {
      const info = await admin.clusterInfo();
      return {
        clusterId,
        regions: info.regions,
        nodes: info.nodes.map((n) => nodeToWire(n, n.reachable)),
        groups: info.groups.map((g) => ({
          id: BigInt(g.groupId),
          topic: g.topic,
          partition: g.partition,
          leaderNodeId: g.leader,
          term: BigInt(g.term),
          commitIndex: BigInt(g.commit),
          homeRegion: g.homeRegion,
          members: g.members.map((m) => ({
            nodeId: m.nodeId,
            role: m.learner ? MemberRole.LEARNER : MemberRole.VOTER,
            matchIndex: BigInt(m.match),
            lagEntries: BigInt(m.lag),
            stale: m.stale,
          })),
        })),
        servedBy: servedBy(identity),
      };
    },

    async getClusterMetrics(req) {
      if (req.nodeIds.length > maxMetricsNodeIds)
        throw invalidArgument(`node_ids: at most ${maxMetricsNodeIds} (got ${req.nodeIds.length})`);
      for (const id of req.nodeIds) checkNodeId(id, "node_ids");
      const results = await admin.clusterMetrics(req.nodeIds);
      return {
        nodes: results.flatMap((r) => ("metrics" in r ? [nodeMetricsToWire(r.metrics)] : [])),
        unavailable: results.flatMap((r) =>
          "unavailable" in r ? [{ nodeId: r.nodeId, region: r.region, reason: r.unavailable }] : [],
        ),
        servedBy: servedBy(identity),
      };
    },

    async addNode(req) {
      return { node: nodeToWire(await admin.addNode(nodeFromWire(req.node))) };
    },

    async promoteNode(req) {
      checkNodeId(req.nodeId, "node_id");
      return { node: nodeToWire(await admin.promoteNode(req.nodeId)) };
    },

    async drainNode(req) {
      checkNodeId(req.nodeId, "node_id");
      const r = await admin.drainNode(req.nodeId);
      return { remainingGroupIds: r.remaining.map(BigInt), drained: r.drained, detail: r.detail };
    },

    async cancelDrain(req) {
      checkNodeId(req.nodeId, "node_id");
      return { node: nodeToWire(await admin.cancelDrain(req.nodeId)) };
    },

    async removeNode(req) {
      checkNodeId(req.nodeId, "node_id");
      await admin.removeNode(req.nodeId);
      return {};
    },

    async transferLeadership(req) {
      checkNodeId(req.targetNodeId, "target_node_id");
      if (req.groupId > BigInt(Number.MAX_SAFE_INTEGER))
        throw invalidArgument(`group_id ${req.groupId} is out of range`);
      return { leaderNodeId: await admin.transferLeadership(Number(req.groupId), req.targetNodeId) };
    },
  };
}
