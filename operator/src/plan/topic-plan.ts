import type { GeoBrokerTopicSpec } from "../api/types.js";

// What to ask the broker's TopicService for one GeoBrokerTopic, given the topic as the broker
// has it (undefined when it does not exist). Pure, like the cluster planner.

export interface BrokerTopic {
  name: string;
  partitions: number;
  replicationFactor: number;
  retention: { maxAgeMs: bigint; maxBytes: bigint; maxMessages: bigint; keepUnacknowledged: boolean };
  homeRegion: string;
}

export type TopicStep =
  | { kind: "create"; topic: BrokerTopic }
  | { kind: "update"; retention: BrokerTopic["retention"]; homeRegion: string; changed: string[] }
  | { kind: "conflict"; message: string }
  | { kind: "none" };

export function desiredTopic(name: string, spec: GeoBrokerTopicSpec): BrokerTopic {
  return {
    name,
    // 0 asks the broker for its cluster default.
    partitions: spec.partitions ?? 0,
    replicationFactor: spec.replicationFactor ?? 0,
    retention: {
      maxAgeMs: BigInt(spec.retention?.maxAgeMs ?? 0),
      maxBytes: BigInt(spec.retention?.maxBytes ?? 0),
      maxMessages: BigInt(spec.retention?.maxMessages ?? 0),
      keepUnacknowledged: spec.retention?.keepUnacknowledged ?? true,
    },
    homeRegion: spec.homeRegion ?? "",
  };
}

export function planTopic(
  name: string,
  spec: GeoBrokerTopicSpec,
  existing: BrokerTopic | undefined,
): TopicStep {
  const want = desiredTopic(name, spec);
  if (!existing) return { kind: "create", topic: want };
  const conflicts: string[] = [];
  if (want.partitions !== 0 && want.partitions !== existing.partitions) {
    conflicts.push(`partitions: the topic has ${existing.partitions}, the spec asks ${want.partitions}`);
  }
  if (want.replicationFactor !== 0 && want.replicationFactor !== existing.replicationFactor) {
    conflicts.push(
      `replicationFactor: the topic has ${existing.replicationFactor}, the spec asks ${want.replicationFactor}`,
    );
  }
  if (conflicts.length > 0) {
    return {
      kind: "conflict",
      message: `topic ${name} cannot be changed in place (${conflicts.join("; ")}); create a new topic`,
    };
  }
  const changed: string[] = [];
  const r = want.retention;
  const e = existing.retention;
  if (spec.retention) {
    if (r.maxAgeMs !== e.maxAgeMs) changed.push("retention.maxAgeMs");
    if (r.maxBytes !== e.maxBytes) changed.push("retention.maxBytes");
    if (r.maxMessages !== e.maxMessages) changed.push("retention.maxMessages");
    if (r.keepUnacknowledged !== e.keepUnacknowledged) changed.push("retention.keepUnacknowledged");
  }
  if (want.homeRegion !== existing.homeRegion) changed.push("homeRegion");
  if (changed.length === 0) return { kind: "none" };
  return { kind: "update", retention: spec.retention ? r : e, homeRegion: want.homeRegion, changed };
}
