import type { Quotas } from "../../config/config.js";
import type { TopicSpec } from "../../engine/engine.js";
import { invalidArgument, resourceExhausted } from "../../engine/errors.js";
import { consumerKey } from "../consumers/consumer-records.js";
import type { MetadataState } from "./metadata-state.js";

// Quotas on what one cluster holds, checked where a topic or consumer is about to be made, against
// this node's view of the metadata. Refusals are RESOURCE_EXHAUSTED (or INVALID_ARGUMENT for a
// partition count no topic may have), before anything is proposed.

export function checkTopicQuota(
  state: MetadataState,
  spec: Partial<TopicSpec> & { name: string },
  quotas: Quotas,
  owner?: string,
  partitions = spec.partitions ?? 1,
): void {
  if (spec.partitions !== undefined && spec.partitions > quotas.maxPartitionsPerTopic)
    throw invalidArgument(
      `partitions ${spec.partitions} is above this cluster's limit of ${quotas.maxPartitionsPerTopic} (limits.quotas.maxPartitionsPerTopic)`,
    );
  if (state.topics[spec.name] !== undefined) return;
  if (Object.keys(state.topics).length >= quotas.maxTopics)
    throw resourceExhausted(
      `the cluster holds its limit of ${quotas.maxTopics} topics (limits.quotas.maxTopics): delete some first`,
    );
  if (owner === undefined) return;
  let topics = 0;
  let owned = 0;
  for (const t of Object.values(state.topics)) {
    if (t.owner !== owner) continue;
    topics++;
    owned += t.partitions.length;
  }
  if (topics >= quotas.maxTopicsPerPrincipal)
    throw resourceExhausted(
      `user "${owner}" created ${topics} topics, the limit per user (limits.quotas.maxTopicsPerPrincipal): delete some first`,
    );
  if (owned + partitions > quotas.maxPartitionsPerPrincipal)
    throw resourceExhausted(
      `user "${owner}" would hold ${owned + partitions} partitions, over the limit per user of ${quotas.maxPartitionsPerPrincipal} (limits.quotas.maxPartitionsPerPrincipal)`,
    );
}

/** The quotas a new durable consumer is checked against. */
export interface ConsumerQuotas {
  maxConsumersPerTopic: number;
  maxConsumersPerPrincipal: number;
}

export function checkConsumerQuota(
  consumers: MetadataState["consumers"],
  topic: string,
  name: string,
  quotas: ConsumerQuotas,
  owner?: string,
): void {
  if (consumers[consumerKey(topic, name)]) return;
  const prefix = consumerKey(topic, "");
  let onTopic = 0;
  let owned = 0;
  for (const [key, record] of Object.entries(consumers)) {
    if (key.startsWith(prefix)) onTopic++;
    if (owner !== undefined && record.owner === owner) owned++;
  }
  if (onTopic >= quotas.maxConsumersPerTopic)
    throw resourceExhausted(
      `topic ${topic} has its limit of ${quotas.maxConsumersPerTopic} durable consumers (limits.quotas.maxConsumersPerTopic): delete unused ones`,
    );
  if (owner !== undefined && owned >= quotas.maxConsumersPerPrincipal)
    throw resourceExhausted(
      `user "${owner}" created ${owned} durable consumers, the limit per user (limits.quotas.maxConsumersPerPrincipal): delete unused ones`,
    );
}
