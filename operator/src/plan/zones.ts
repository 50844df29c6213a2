import { peerEntry } from "../model/broker-config.js";
import { type Ctx, progress } from "./context.js";
import type { Outcome } from "./types.js";

// The broker spreads a partition's replicas over zones within a region (broker/src/cluster/state/
// placement.ts, membership/rebalance.ts), from the zone its membership records for each node. The
// Kubernetes node a pod runs on knows its zone (topology.kubernetes.io/zone); the operator, which
// sees both, records it: AddNode of an existing member only refreshes its addresses and zone.
// Initial voters start with no zone (their entries are written before they are scheduled), and a
// pod rescheduled to another zone gets the new one.

/** A ready member whose recorded zone is not its node's: AddNode again, with the zone. */
export function recordZones(ctx: Ctx): Outcome | undefined {
  for (const e of ctx.expected) {
    const pod = ctx.podByName.get(e.name);
    const node = ctx.nodeById.get(e.name);
    if (!pod?.zone || !pod.ready || !node?.reachable || (node.zone ?? "") === pod.zone) continue;
    if (node.state !== "voter" && node.state !== "learner") continue;
    const message = `recording zone ${pod.zone} for ${e.name} (was ${node.zone || "none"})`;
    return progress("RecordingZone", message, {
      action: { kind: "AddNode", node: peerEntry(ctx.cluster, e.region, e.ordinal, pod.zone) },
      events: [{ type: "Normal", reason: "RecordingZone", message }],
    });
  }
  return undefined;
}
