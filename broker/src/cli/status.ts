import { type GetClusterInfoResponse, MemberRole, NodeState } from "../../../gen/geobroker/v1/cluster_pb.js";
import { clientCommand } from "./client-command.js";

const stateName: Record<NodeState, string> = {
  [NodeState.UNSPECIFIED]: "?",
  [NodeState.LEARNER]: "learner",
  [NodeState.VOTER]: "voter",
  [NodeState.DRAINING]: "draining",
  [NodeState.DRAINED]: "drained",
};

/** The cluster as a few aligned tables: nodes by region, then every group with its leader and lag. */
export function formatClusterInfo(info: GetClusterInfoResponse): string {
  const lines = [
    `cluster ${info.clusterId || "-"}  regions ${info.regions.join(", ")}  (answered by ${info.servedBy?.nodeId ?? "?"} in ${info.servedBy?.region ?? "?"})`,
    "",
    "NODE            REGION  ZONE    STATE     REACHABLE  LEADS  CLIENT",
  ];
  const leads = new Map<string, number>();
  for (const g of info.groups) leads.set(g.leaderNodeId, (leads.get(g.leaderNodeId) ?? 0) + 1);
  for (const n of info.nodes) {
    lines.push(
      [
        n.id.padEnd(15),
        n.region.padEnd(7),
        (n.zone || "-").padEnd(7),
        stateName[n.state].padEnd(9),
        (n.reachable ? "yes" : "NO").padEnd(10),
        String(leads.get(n.id) ?? 0).padEnd(6),
        n.clientAddress,
      ].join(" "),
    );
  }
  lines.push(
    "",
    "GROUP  TOPIC/PARTITION          HOME  LEADER          TERM  COMMIT    MEMBERS (lag in entries)",
  );
  for (const g of info.groups) {
    const members = g.members
      .map((m) => `${m.nodeId}${m.role === MemberRole.LEARNER ? "(learner)" : ""}:${m.lagEntries}`)
      .join(" ");
    lines.push(
      [
        String(g.id).padEnd(6),
        (g.topic === "metadata" ? "metadata" : `${g.topic}/${g.partition}`).padEnd(24),
        (g.homeRegion || "-").padEnd(5),
        (g.leaderNodeId || "NONE").padEnd(15),
        String(g.term).padEnd(5),
        String(g.commitIndex).padEnd(9),
        members,
      ].join(" "),
    );
  }
  return lines.join("\n");
}

export const statusCommand = clientCommand({
  name: "status",
  summary: "show cluster regions, nodes, groups, leaders and replication lag",
  usage: "geobroker status [--json]",
  options: { json: { type: "boolean", default: false } },
  async run(c, values) {
    const info = await c.raw.cluster.getClusterInfo({});
    if (values.json) {
      console.log(JSON.stringify(info, (_, v) => (typeof v === "bigint" ? Number(v) : v), 2));
    } else {
      console.log(formatClusterInfo(info));
    }
    return 0;
  },
});
