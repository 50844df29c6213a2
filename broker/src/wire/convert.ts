import { create } from "@bufbuild/protobuf";
import {
  type Message,
  MessageSchema,
  type RetentionPolicy,
  RetentionPolicySchema,
  type ServedBy,
  ServedBySchema,
  type StartPosition,
  StartPositionSchema,
} from "../../../gen/geobroker/v1/common_pb.js";
import {
  ReplicaStatusSchema,
  type ReplicaStatus as ReplicaStatusWire,
} from "../../../gen/geobroker/v1/consume_pb.js";
import { type Topic, TopicSchema } from "../../../gen/geobroker/v1/topic_pb.js";
import {
  type DeliveredMessage,
  messageId,
  type NodeIdentity,
  type ReplicaStatus,
  type RetentionSpec,
  type StartSpec,
  type TopicState,
} from "../engine/engine.js";
import { invalidArgument } from "../engine/errors.js";

// Translation between wire messages (bigint for 64-bit fields) and the engine's plain numbers.

export function servedBy(identity: NodeIdentity): ServedBy {
  return create(ServedBySchema, { region: identity.region, nodeId: identity.nodeId });
}

/** A 64-bit wire value as a number; beyond 2^53 it cannot be exact, so it is refused. */
export function safeNumber(value: bigint, field: string): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw invalidArgument(`${field} ${value} is out of range`);
  }
  return Number(value);
}

export function retentionFromWire(r: RetentionPolicy | undefined): RetentionSpec | undefined {
  if (!r) return undefined;
  const spec = {
    maxAgeMs: safeNumber(r.maxAgeMs, "retention.max_age_ms"),
    maxBytes: safeNumber(r.maxBytes, "retention.max_bytes"),
    maxMessages: safeNumber(r.maxMessages, "retention.max_messages"),
    keepUnacknowledged: r.keepUnacknowledged,
  };
  for (const [k, v] of Object.entries(spec)) {
    if (typeof v === "number" && v < 0)
      throw invalidArgument(`retention.${k} must be >= 0 (0 means no limit)`);
  }
  return spec;
}

export function retentionToWire(r: RetentionSpec): RetentionPolicy {
  return create(RetentionPolicySchema, {
    maxAgeMs: BigInt(r.maxAgeMs),
    maxBytes: BigInt(r.maxBytes),
    maxMessages: BigInt(r.maxMessages),
    keepUnacknowledged: r.keepUnacknowledged,
  });
}

export function topicToWire(t: TopicState): Topic {
  return create(TopicSchema, {
    name: t.name,
    partitions: t.partitions,
    replicationFactor: t.replicationFactor,
    retention: retentionToWire(t.retention),
    homeRegion: t.homeRegion,
    createdAtMicros: BigInt(t.createdAtMicros),
    partitionInfo: t.partitionStates.map((p) => ({
      partition: p.partition,
      groupId: BigInt(p.groupId),
      leaderNodeId: p.leaderNodeId,
      leaderRegion: p.leaderRegion,
      replicaNodeIds: p.replicaNodeIds,
      firstOffset: BigInt(p.firstOffset),
      nextOffset: BigInt(p.nextOffset),
      retainedBytes: BigInt(p.retainedBytes),
    })),
  });
}

export function startFromWire(start: StartPosition | undefined): StartSpec {
  const p = start?.position;
  switch (p?.case) {
    case undefined:
    case "latest":
      return { kind: "latest" };
    case "earliest":
      return { kind: "earliest" };
    case "offset":
      return { kind: "offset", offset: safeNumber(p.value, "start.offset") };
    case "timestampMicros":
      return { kind: "timestamp", timestampMicros: safeNumber(p.value, "start.timestamp_micros") };
  }
}

export function startToWire(start: StartSpec): StartPosition {
  switch (start.kind) {
    case "earliest":
      return create(StartPositionSchema, { position: { case: "earliest", value: true } });
    case "latest":
      return create(StartPositionSchema, { position: { case: "latest", value: true } });
    case "offset":
      return create(StartPositionSchema, { position: { case: "offset", value: BigInt(start.offset) } });
    case "timestamp":
      return create(StartPositionSchema, {
        position: { case: "timestampMicros", value: BigInt(start.timestampMicros) },
      });
  }
}

export function statusToWire(s: ReplicaStatus): ReplicaStatusWire {
  return create(ReplicaStatusSchema, {
    partition: s.partition,
    leaderContactAgeMs: BigInt(s.leaderContactAgeMs),
    stale: s.stale,
    nextOffset: BigInt(s.nextOffset),
  });
}

export function statusFromWire(s: ReplicaStatusWire): ReplicaStatus {
  return {
    partition: s.partition,
    leaderContactAgeMs: Number(s.leaderContactAgeMs),
    stale: s.stale,
    nextOffset: Number(s.nextOffset),
  };
}

export function messageFromWire(m: Message): DeliveredMessage {
  return {
    topic: m.topic,
    partition: m.partition,
    offset: Number(m.offset),
    timestampMicros: Number(m.timestampMicros),
    key: m.key,
    body: m.body,
    headers: m.headers,
  };
}

export function messageToWire(m: DeliveredMessage): Message {
  return create(MessageSchema, {
    topic: m.topic,
    partition: m.partition,
    offset: BigInt(m.offset),
    timestampMicros: BigInt(m.timestampMicros),
    key: m.key,
    body: m.body,
    headers: m.headers,
    id: messageId(m.topic, m.partition, m.offset),
  });
}
