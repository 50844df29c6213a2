import type { ConsumerConfigInput } from "../../engine/engine.js";
import { AckCursor } from "./consumer-cursor.js";

// Durable consumers as the metadata group keeps them: what each consumer is, and per partition what
// it has acknowledged. Every node holds every consumer, so a client can resume on any node in any
// region; acks reach here in batches (consumer-dispatcher.ts), so the group sees one entry per
// flush, not one per message. docs/decisions/0004-durable-consumers.md says why here.

/** A consumer as stored: the client's configuration with the cluster's defaults filled in. */
export type ConsumerSpec = ConsumerConfigInput;

export interface ConsumerRecord {
  spec: ConsumerSpec;
  createdAtMicros: number;
  /** The principal that created it; absent when created before owners were recorded, or by the cluster. */
  owner?: string;
  /** Per partition (decimal key): every offset below floor is acknowledged, plus `above`. */
  cursors: Record<string, { floor: number; above: number[] }>;
  redelivered: number;
  deadLettered: number;
}

export interface PartitionProgress {
  partition: number;
  /**
   * Where the consumer starts in a partition it has never read; for one it has, the first offset
   * still retained when retention removed messages it had not read (the floor moves up to it).
   */
  from?: number;
  acked: number[];
}

export type ConsumerCommand =
  | {
      type: "createConsumer";
      spec: ConsumerSpec;
      atMicros: number;
      ifAbsent: boolean;
      /** Who created it (for the per-principal quota); absent for the cluster's own. */
      owner?: string;
    }
  | { type: "deleteConsumer"; topic: string; name: string }
  | {
      type: "consumerProgress";
      topic: string;
      name: string;
      partitions: PartitionProgress[];
      redelivered: number;
      deadLettered: number;
    };

export type ConsumerResult =
  | { ok: true; consumer?: ConsumerRecord }
  | { ok: false; error: { code: "not_found" | "already_exists" | "failed_precondition"; message: string } };

export const consumerKey = (topic: string, name: string): string => `${topic}/${name}`;

const sameSpec = (a: ConsumerSpec, b: ConsumerSpec): boolean =>
  a.ackTimeoutMs === b.ackTimeoutMs &&
  a.maxDeliveries === b.maxDeliveries &&
  a.deadLetterTopic === b.deadLetterTopic;

export function applyConsumerCommand(
  consumers: Record<string, ConsumerRecord>,
  topicExists: (name: string) => boolean,
  cmd: ConsumerCommand,
): ConsumerResult {
  switch (cmd.type) {
    case "createConsumer": {
      const key = consumerKey(cmd.spec.topic, cmd.spec.name);
      const existing = consumers[key];
      if (existing) {
        if (cmd.ifAbsent && sameSpec(existing.spec, cmd.spec)) return { ok: true, consumer: existing };
        return {
          ok: false,
          error: {
            code: "already_exists",
            message: `consumer ${cmd.spec.name} on ${cmd.spec.topic} exists with another configuration (ack timeout ${existing.spec.ackTimeoutMs} ms, max deliveries ${existing.spec.maxDeliveries}, dead letters to "${existing.spec.deadLetterTopic}"): attach with the same settings or delete it first`,
          },
        };
      }
      if (!topicExists(cmd.spec.topic))
        return { ok: false, error: { code: "not_found", message: `topic ${cmd.spec.topic} does not exist` } };
      const record: ConsumerRecord = {
        spec: cmd.spec,
        createdAtMicros: cmd.atMicros,
        ...(cmd.owner ? { owner: cmd.owner } : {}),
        cursors: {},
        redelivered: 0,
        deadLettered: 0,
      };
      consumers[key] = record;
      return { ok: true, consumer: record };
    }
    case "deleteConsumer": {
      const key = consumerKey(cmd.topic, cmd.name);
      if (!consumers[key])
        return {
          ok: false,
          error: { code: "not_found", message: `consumer ${cmd.name} on ${cmd.topic} does not exist` },
        };
      delete consumers[key];
      return { ok: true };
    }
    case "consumerProgress": {
      const record = consumers[consumerKey(cmd.topic, cmd.name)];
      // Deleted while a flush was in flight: the progress has nowhere to go and is dropped.
      if (!record) return { ok: true };
      for (const p of cmd.partitions) {
        const saved = record.cursors[String(p.partition)];
        const cursor = saved ? AckCursor.fromJSON(saved) : new AckCursor(p.from ?? 0);
        if (saved && p.from !== undefined) cursor.skipTo(p.from);
        for (const offset of p.acked) cursor.ack(offset);
        record.cursors[String(p.partition)] = cursor.toJSON();
      }
      record.redelivered += cmd.redelivered;
      record.deadLettered += cmd.deadLettered;
      return { ok: true, consumer: record };
    }
  }
}

/** Deleting a topic deletes its consumers. */
export function dropConsumersOf(consumers: Record<string, ConsumerRecord>, topic: string): void {
  for (const [key, c] of Object.entries(consumers)) if (c.spec.topic === topic) delete consumers[key];
}

/**
 * The lowest offset of a partition some consumer has not acknowledged (what retention keeps when
 * the topic keeps unacknowledged messages); undefined when the topic has no consumers.
 */
export function unacknowledgedFloor(
  consumers: Record<string, ConsumerRecord>,
  topic: string,
  partition: number,
): number | undefined {
  let floor: number | undefined;
  for (const c of Object.values(consumers)) {
    if (c.spec.topic !== topic) continue;
    // A consumer that has not read this partition yet holds everything from where it will start.
    const f = c.cursors[String(partition)]?.floor ?? 0;
    floor = floor === undefined ? f : Math.min(floor, f);
  }
  return floor;
}
