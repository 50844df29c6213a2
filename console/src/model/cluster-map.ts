import { type GetClusterInfoResponse, MemberRole, NodeState } from "../../../gen/geobroker/v1/cluster_pb.js";

// The cluster map's content, computed from one GetClusterInfo answer (pure: the view only draws it).
// Leaders are exactly the ones the answer names: the page shows what the admin API reports.

export type NodeStatus = "voter" | "learner" | "draining" | "drained" | "unreachable" | "unknown";

export interface MapMember {
  nodeId: string;
  region: string;
  role: "voter" | "learner";
  /** Entries behind the leader's last index, as the leader reports it. */
  lagEntries: bigint;
  isLeader: boolean;
}

export interface MapGroup {
  id: bigint;
  /** "metadata" or "topic/partition". */
  label: string;
  topic: string;
  partition: number;
  /** "" when the topic has none (leaders balanced over all nodes). */
  homeRegion: string;
  /** "" when no leader is known (an election, or no quorum). */
  leader: string;
  leaderRegion: string;
  term: bigint;
  commitIndex: bigint;
  members: MapMember[];
  /** The leader is outside the home region (a transfer pending, or no node there). */
  leaderAway: boolean;
}

export interface MapNode {
  id: string;
  zone: string;
  clientAddress: string;
  status: NodeStatus;
  /** Labels of the groups this node leads. */
  leads: string[];
}

export interface MapRegion {
  name: string;
  nodes: MapNode[];
}

export interface ClusterMap {
  clusterId: string;
  regions: MapRegion[];
  groups: MapGroup[];
  /** Groups with no known leader: writes to them fail until one is elected. */
  leaderless: string[];
  servedBy: { nodeId: string; region: string } | undefined;
}

function statusOf(state: NodeState, reachable: boolean): NodeStatus {
  if (!reachable) return "unreachable";
  switch (state) {
    case NodeState.VOTER:
      return "voter";
    case NodeState.LEARNER:
      return "learner";
    case NodeState.DRAINING:
      return "draining";
    case NodeState.DRAINED:
      return "drained";
    default:
      return "unknown";
  }
}

export function groupLabel(topic: string, partition: number): string {
  return topic === "metadata" ? "metadata" : `${topic}/${partition}`;
}

export function buildClusterMap(info: GetClusterInfoResponse): ClusterMap {
  const regionOf = new Map(info.nodes.map((n) => [n.id, n.region]));
  const groups: MapGroup[] = info.groups
    .map((g) => {
      const leaderRegion = regionOf.get(g.leaderNodeId) ?? "";
      return {
        id: g.id,
        label: groupLabel(g.topic, g.partition),
        topic: g.topic,
        partition: g.partition,
        homeRegion: g.homeRegion,
        leader: g.leaderNodeId,
        leaderRegion,
        term: g.term,
        commitIndex: g.commitIndex,
        members: g.members
          .map((m) => ({
            nodeId: m.nodeId,
            region: regionOf.get(m.nodeId) ?? "",
            role: m.role === MemberRole.LEARNER ? ("learner" as const) : ("voter" as const),
            lagEntries: m.lagEntries,
            isLeader: m.nodeId === g.leaderNodeId,
          }))
          .sort((a, b) => a.nodeId.localeCompare(b.nodeId)),
        leaderAway: g.homeRegion !== "" && g.leaderNodeId !== "" && leaderRegion !== g.homeRegion,
      };
    })
    // The metadata group first, then topics by name and partition.
    .sort((a, b) =>
      a.topic === "metadata"
        ? -1
        : b.topic === "metadata"
          ? 1
          : a.topic.localeCompare(b.topic) || a.partition - b.partition,
    );
  const leads = new Map<string, string[]>();
  for (const g of groups) if (g.leader) leads.set(g.leader, [...(leads.get(g.leader) ?? []), g.label]);
  // Regions the cluster declares, then any a node names that the list lacks (never hide a node).
  const regionNames = [...new Set([...info.regions, ...info.nodes.map((n) => n.region)])];
  const regions = regionNames.map((name) => ({
    name,
    nodes: info.nodes
      .filter((n) => n.region === name)
      .map((n) => ({
        id: n.id,
        zone: n.zone,
        clientAddress: n.clientAddress,
        status: statusOf(n.state, n.reachable),
        leads: leads.get(n.id) ?? [],
      }))
      .sort((a, b) => a.id.localeCompare(b.id)),
  }));
  return {
    clusterId: info.clusterId,
    regions,
    groups,
    leaderless: groups.filter((g) => g.leader === "").map((g) => g.label),
    servedBy: info.servedBy ? { nodeId: info.servedBy.nodeId, region: info.servedBy.region } : undefined,
  };
}
