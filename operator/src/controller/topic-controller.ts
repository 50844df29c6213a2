import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { type Topic, TopicService } from "../../../gen/geobroker/v1/topic_pb.js";
import { apiVersion, type Condition, type GeoBrokerCluster, type GeoBrokerTopic } from "../api/types.js";
import { describeConnectError } from "../broker/admin-client.js";
import type { KubeClient } from "../kube/client.js";
import { condition } from "../plan/conditions.js";
import { type BrokerTopic, planTopic } from "../plan/topic-plan.js";
import { recordEvent } from "./events.js";
import type { Logger } from "./logger.js";

// GeoBrokerTopic -> the broker's TopicService. Level-based like the cluster controller: read the
// topic from the broker, plan, make one call, write status.

export const topicFinalizer = "geobroker.io/topic";

export interface TopicControllerDeps {
  kube: KubeClient;
  /** Transport to the cluster's client port with the operator's credentials; undefined while unavailable. */
  transport(cluster: GeoBrokerCluster): Promise<Transport | undefined>;
  log: Logger;
  now?: () => Date;
}

export function fromProto(t: Topic): BrokerTopic {
  return {
    name: t.name,
    partitions: t.partitions,
    replicationFactor: t.replicationFactor,
    retention: {
      maxAgeMs: t.retention?.maxAgeMs ?? 0n,
      maxBytes: t.retention?.maxBytes ?? 0n,
      maxMessages: t.retention?.maxMessages ?? 0n,
      keepUnacknowledged: t.retention?.keepUnacknowledged ?? false,
    },
    homeRegion: t.homeRegion,
  };
}

export class TopicController {
  constructor(private readonly deps: TopicControllerDeps) {}

  async reconcile(key: string): Promise<{ requeueAfterMs?: number }> {
    const [namespace, name] = key.split("/") as [string, string];
    const { kube } = this.deps;
    const ref = { apiVersion, kind: "GeoBrokerTopic", namespace, name };
    const topic = await kube.get<GeoBrokerTopic>(ref);
    if (!topic) return {};
    const topicName = topic.spec.topicName ?? name;
    const deleting = !!topic.metadata.deletionTimestamp;
    const wantsFinalizer = topic.spec.deleteOnRemoval === true;
    const finalizers = topic.metadata.finalizers ?? [];
    if (!deleting && wantsFinalizer && !finalizers.includes(topicFinalizer)) {
      await kube.setFinalizers(ref, [...finalizers, topicFinalizer], topic.metadata.resourceVersion);
    }

    const cluster = await kube.get<GeoBrokerCluster>({
      apiVersion,
      kind: "GeoBrokerCluster",
      namespace,
      name: topic.spec.clusterRef.name,
    });
    const transport = cluster ? await this.deps.transport(cluster) : undefined;
    if (!transport) {
      if (deleting) return this.release(topic, ref);
      const why = cluster
        ? "the cluster's admin endpoint is not available yet"
        : `GeoBrokerCluster ${topic.spec.clusterRef.name} does not exist`;
      await this.status(topic, ref, false, "ClusterNotReady", why);
      return { requeueAfterMs: 15_000 };
    }
    const client = createClient(TopicService, transport);

    if (deleting) {
      if (finalizers.includes(topicFinalizer)) {
        try {
          await client.deleteTopic({ name: topicName });
        } catch (err) {
          if (ConnectError.from(err).code !== Code.NotFound)
            throw new Error(`deleting topic ${topicName}: ${describeConnectError(err)}`);
        }
        await recordEvent(
          kube,
          this.deps.log,
          { ...ref, ...(topic.metadata.uid ? { uid: topic.metadata.uid } : {}) },
          { type: "Normal", reason: "TopicDeleted", message: `deleted topic ${topicName} from the broker` },
        );
      }
      return this.release(topic, ref);
    }

    let existing: BrokerTopic | undefined;
    try {
      const r = await client.getTopic({ name: topicName });
      existing = r.topic ? fromProto(r.topic) : undefined;
    } catch (err) {
      if (ConnectError.from(err).code !== Code.NotFound) {
        await this.status(topic, ref, false, "BrokerUnavailable", describeConnectError(err));
        return { requeueAfterMs: 15_000 };
      }
    }
    const step = planTopic(topicName, topic.spec, existing);
    const involved = { ...ref, ...(topic.metadata.uid ? { uid: topic.metadata.uid } : {}) };
    switch (step.kind) {
      case "create": {
        const r = await client.createTopic({ topic: { ...step.topic } });
        await recordEvent(kube, this.deps.log, involved, {
          type: "Normal",
          reason: "TopicCreated",
          message: `created topic ${topicName}`,
        });
        await this.status(topic, ref, true, "Created", `topic ${topicName} exists`, r.topic?.partitions);
        return {};
      }
      case "update": {
        await client.updateTopic({
          name: topicName,
          retention: { ...step.retention },
          homeRegion: step.homeRegion,
        });
        await recordEvent(kube, this.deps.log, involved, {
          type: "Normal",
          reason: "TopicUpdated",
          message: `updated ${step.changed.join(", ")} of topic ${topicName}`,
        });
        await this.status(
          topic,
          ref,
          true,
          "Updated",
          `topic ${topicName} matches the spec`,
          existing?.partitions,
        );
        return {};
      }
      case "conflict":
        await recordEvent(kube, this.deps.log, involved, {
          type: "Warning",
          reason: "TopicConflict",
          message: step.message,
        });
        await this.status(topic, ref, false, "Conflict", step.message, existing?.partitions);
        return { requeueAfterMs: 60_000 };
      case "none":
        await this.status(
          topic,
          ref,
          true,
          "InSync",
          `topic ${topicName} matches the spec`,
          existing?.partitions,
        );
        return { requeueAfterMs: 300_000 };
    }
  }

  private async release(
    topic: GeoBrokerTopic,
    ref: { apiVersion: string; kind: string; namespace: string; name: string },
  ) {
    const rest = (topic.metadata.finalizers ?? []).filter((f) => f !== topicFinalizer);
    if (rest.length !== (topic.metadata.finalizers ?? []).length) {
      await this.deps.kube.setFinalizers(ref, rest, topic.metadata.resourceVersion);
    }
    return {};
  }

  private async status(
    topic: GeoBrokerTopic,
    ref: { apiVersion: string; kind: string; namespace: string; name: string },
    ready: boolean,
    reason: string,
    message: string,
    partitions?: number,
  ): Promise<void> {
    const now = (this.deps.now?.() ?? new Date()).toISOString();
    const conditions: Condition[] = [
      condition(
        "Ready",
        { status: ready, reason, message },
        topic.metadata.generation,
        topic.status?.conditions,
        now,
      ),
    ];
    await this.deps.kube.patchStatus(
      { ...ref, plural: "geobrokertopics" },
      {
        ...(topic.metadata.generation !== undefined ? { observedGeneration: topic.metadata.generation } : {}),
        topicName: topic.spec.topicName ?? topic.metadata.name,
        ...(partitions !== undefined ? { partitions } : {}),
        conditions,
      },
    );
  }
}
