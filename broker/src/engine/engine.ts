// What the client API needs from a node. The cluster layer implements it; the API layer only
// validates, authorizes and translates, so services are testable with an in-memory engine.

import type { LogPosition, MessageContent } from "./message.js";
import type { NodeMetricsSnapshot } from "./node-metrics.js";

export interface RetentionSpec {
  maxAgeMs: number;
  maxBytes: number;
  maxMessages: number;
  keepUnacknowledged: boolean;
}

export interface TopicSpec {
  name: string;
  partitions: number;
  replicationFactor: number;
  retention: RetentionSpec;
  homeRegion: string;
}

export interface PartitionState {
  partition: number;
  groupId: number;
  leaderNodeId: string;
  leaderRegion: string;
  replicaNodeIds: string[];
  firstOffset: number;
  nextOffset: number;
  retainedBytes: number;
}

export interface TopicState extends TopicSpec {
  createdAtMicros: number;
  partitionStates: PartitionState[];
}

/** A publish as the engine takes it: the content (key and headers optional), where it goes, its id. */
export interface PublishInput extends Pick<MessageContent, "body">, Partial<Omit<MessageContent, "body">> {
  topic: string;
  messageId?: string;
  partition?: number;
}

export interface PublishOutcome {
  topic: string;
  partition: number;
  offset: number;
  timestampMicros: number;
  duplicate: boolean;
}

/** A message as a reader gets it: the content at its place, and which partition that is. */
export interface DeliveredMessage extends MessageContent, LogPosition {
  topic: string;
  partition: number;
}

export type StartSpec =
  | { kind: "earliest" }
  | { kind: "latest" }
  | { kind: "offset"; offset: number }
  | { kind: "timestamp"; timestampMicros: number };

export interface SubscribeInput {
  topic: string;
  /** Empty: every partition. */
  partitions: number[];
  start: StartSpec;
  /** Keep waiting for a topic that does not exist yet instead of failing with NOT_FOUND. */
  waitForTopic: boolean;
  /** Evaluate the start after a ReadIndex round (docs/raft.md, "Read guarantees"). */
  linearizableStart?: boolean;
  /** Told how current the serving replica is: at the start, when `stale` changes, and while idle. */
  onStatus?: (status: ReplicaStatus) => void;
}

/** Bounded staleness of the replica serving a partition (geobroker.v1 ReplicaStatus). */
export interface ReplicaStatus {
  partition: number;
  /** Since the serving replica last heard from the leader; 0 on the leader, -1 never. */
  leaderContactAgeMs: number;
  stale: boolean;
  nextOffset: number;
}

export interface NodeIdentity {
  nodeId: string;
  region: string;
}

/** About the client call behind an engine call: what a node needs to forward it to another node. */
export interface CallContext {
  signal: AbortSignal;
  /** The caller's `authorization` header, passed on when the call is forwarded to a leader. */
  authorization?: string;
  /**
   * The name of a caller authenticated by its client certificate (it has no header to pass on). A
   * forwarded call carries it in `x-geobroker-forwarded-for`, and the forwarding node proves it is a
   * cluster node with its peer certificate; the receiving node only trusts the header from one.
   */
  forwardedFor?: string;
  /** How many nodes already forwarded this call (loops are cut at a small limit). */
  hops: number;
  /**
   * Whether the caller may create this missing topic (publish's auto-create): the `create`
   * permission. Absent: allowed (calls the node makes itself, no ACL).
   */
  mayCreateTopic?: (topic: string) => boolean;
  /** The authenticated caller's name (quotas per principal; what a topic records as its owner). */
  principal?: string;
}

/** A durable consumer as a client describes it; zero/empty fields take the cluster's defaults. */
export interface ConsumerConfigInput {
  name: string;
  topic: string;
  start: StartSpec;
  ackTimeoutMs: number;
  maxDeliveries: number;
  deadLetterTopic: string;
}

export interface ConsumerInfo {
  config: ConsumerConfigInput;
  /** Per partition: every offset below is acknowledged. */
  ackFloor: Record<number, number>;
  /** Messages retained and not acknowledged, over the partitions this node can see. */
  pending: number;
  redelivered: number;
  deadLettered: number;
}

export interface MessageRef {
  partition: number;
  offset: number;
}

/** What a client sends on a Consume stream after attaching. */
export type ConsumeCommand =
  | { kind: "credit"; credit: number }
  | { kind: "ack"; refs: MessageRef[] }
  | { kind: "nack"; refs: MessageRef[]; delayMs: number };

export type ConsumeEvent =
  | { kind: "started"; info: ConsumerInfo }
  | { kind: "delivery"; message: DeliveredMessage; deliveryCount: number };

/** Durable consumers (at-least-once, acks replicated through Raft). */
export interface ConsumerEngine {
  /** Attaches to the consumer (creating it when absent) and serves it until the commands end or the signal aborts. */
  consume(
    config: ConsumerConfigInput,
    commands: AsyncIterable<ConsumeCommand>,
    call: CallContext,
  ): AsyncIterable<ConsumeEvent>;
  createConsumer(config: ConsumerConfigInput, call: CallContext): Promise<ConsumerInfo>;
  deleteConsumer(topic: string, name: string, call: CallContext): Promise<void>;
  getConsumer(topic: string, name: string): Promise<ConsumerInfo>;
  listConsumers(topic: string): Promise<ConsumerInfo[]>;
}

export interface BrokerEngine extends ConsumerEngine {
  readonly identity: NodeIdentity;
  publish(input: PublishInput, call: CallContext): Promise<PublishOutcome>;
  /** Messages in commit order per partition, replayed then live, until the signal aborts. */
  /** Reads from this node's replica, or through the nearest replica when this node has none. */
  subscribe(input: SubscribeInput, call: CallContext): AsyncIterable<DeliveredMessage>;
  createTopic(spec: Partial<TopicSpec> & { name: string }, call: CallContext): Promise<TopicState>;
  deleteTopic(name: string, call: CallContext): Promise<void>;
  getTopic(name: string): Promise<TopicState>;
  listTopics(prefix: string): Promise<TopicState[]>;
  updateTopic(
    name: string,
    change: { retention?: RetentionSpec; homeRegion?: string },
    call: CallContext,
  ): Promise<TopicState>;
}

/**
 * The topic a consumer dead-letters to: the one it names, else `<topic>.dlq` when it has a delivery
 * limit, else none. One function, so authorization checks exactly the topic the hub publishes to.
 */
export function deadLetterTopicFor(topic: string, deadLetterTopic: string, maxDeliveries: number): string {
  return deadLetterTopic || (maxDeliveries > 0 ? `${topic}.dlq` : "");
}

/** The header that counts forwarding hops between nodes. */
export const forwardedHopsHeader = "geobroker-forwarded-hops";

/**
 * The header naming a certificate-authenticated caller on whose behalf a node forwards a call;
 * accepted only over a connection whose verified certificate is a cluster node's.
 */
export const forwardedForHeader = "x-geobroker-forwarded-for";

/** The id a message is known by on the wire: unique in the cluster and stable. */
export function messageId(topic: string, partition: number, offset: number): string {
  return `${topic}/${partition}/${offset}`;
}

/** What a node counts as it serves (Prometheus in a broker; optional in tests). */
export interface EngineObserver {
  published(bytes: number, seconds: number): void;
  delivered(lagSeconds: number): void;
  /** Retention removed messages from a partition replica here. */
  removed(messages: number, bytes: number): void;
  /** What was counted so far (GetClusterMetrics); absent: this node keeps no metrics to report. */
  snapshot?(): Promise<NodeMetricsSnapshot>;
}
