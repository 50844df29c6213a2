import { names } from "../model/names.js";
import type { Observed } from "./observed.js";

// Amnesia: a member whose volume claim was deleted and created again (a new uid under the same
// name) comes back with an empty data dir. It must never vote as its old self: its old entry is
// drained and removed (quorum re-checked), then the pod joins again as a new learner and is
// promoted once caught up. The ConfigMap records which claim uid each member joined with.

export interface VolumeRecord {
  /** What the ConfigMap records after this reconcile. */
  record: Record<string, string>;
  /** Members whose claim is not the one they joined with. */
  replaced: Map<string, { was: string; now: string }>;
}

export function volumeRecord(cluster: string, observed: Observed): VolumeRecord {
  const previous = observed.memberVolumes ?? {};
  const members = new Set(observed.broker.reachable ? observed.broker.nodes.map((n) => n.id) : []);
  const claims = new Map(
    observed.pvcs.filter((p) => p.uid).map((p) => [names.pod(cluster, p.region, p.ordinal), p.uid!]),
  );
  const record: Record<string, string> = {};
  const replaced = new Map<string, { was: string; now: string }>();
  // Without the broker's member list nothing is learnt: keep the record as it is.
  if (!observed.broker.reachable) return { record: { ...previous }, replaced };
  for (const [id, uid] of claims) {
    const was = previous[id];
    if (!members.has(id)) continue; // joins later: recorded once it is a member
    if (was !== undefined && was !== uid) {
      replaced.set(id, { was, now: uid });
      record[id] = was;
    } else record[id] = uid;
  }
  // A member whose claim is not observed (deleted, not yet re-created) keeps its entry.
  for (const [id, uid] of Object.entries(previous)) if (members.has(id) && !(id in record)) record[id] = uid;
  return { record, replaced };
}
