import type { CallContext, PublishInput, PublishOutcome } from "../../engine/engine.js";
import { messageId } from "../../engine/engine.js";
import { invalidArgument, notFound, permissionDenied, unavailable } from "../../engine/errors.js";
import type { PublishedMessage } from "../../engine/message.js";
import { partitionFor } from "../../engine/partitioner.js";
import { nowMs } from "../../util/clock.js";
import { forwardUntilReached, nearestFirst } from "../forwarding/forward-retry.js";
import type { PartitionHandle } from "../groups/group-registry.js";
import { ProposalNotAccepted } from "../groups/partition-group.js";
import { leaderWaitMs, maxForwardHops, type NodeContext } from "../node-context.js";
import type { PartitionReader } from "../read/partition-reader.js";
import type { NodeInfo, PartitionPlacement, TopicRecord } from "../state/metadata-state.js";
import type { TopicAdmin } from "../topics/topic-admin.js";

// The publish path: choose the partition, wait for its leader, append through the leader's batcher
// here or forward to the leader, and answer once this node's replica holds the message.

export class Publisher {
  private roundRobin = 0;

  constructor(
    private readonly ctx: NodeContext,
    private readonly reader: PartitionReader,
    private readonly topics: TopicAdmin,
  ) {}

  async publish(input: PublishInput, call: CallContext): Promise<PublishOutcome> {
    const started = nowMs(this.ctx.clock);
    const outcome = await this.publishOnce(input, call);
    // Counted where the client called, not again on the leader it was forwarded to.
    if (call.hops === 0)
      this.ctx.observer?.published(input.body.byteLength, (nowMs(this.ctx.clock) - started) / 1000);
    return outcome;
  }

  private async publishOnce(input: PublishInput, call: CallContext): Promise<PublishOutcome> {
    const { ctx } = this;
    const topic = await this.topicForPublish(input.topic, call);
    const partition = this.choosePartition(topic, input);
    const placement = topic.partitions[partition]!;
    const handle = ctx.groups.partition(placement.groupId);
    const message: PublishedMessage = {
      key: input.key ?? new Uint8Array(),
      body: input.body,
      headers: input.headers ?? {},
      messageId: input.messageId ?? "",
    };
    const deadline = nowMs(ctx.clock) + leaderWaitMs;
    while (handle) {
      const leader = await ctx.changes.until(
        () => handle.runner.leader || undefined,
        leaderWaitMs,
        call.signal,
        `a leader for ${input.topic}/${partition}`,
      );
      if (leader !== ctx.self) break;
      try {
        const r = await handle.batcher.add(message);
        return {
          topic: input.topic,
          partition,
          offset: r.offset,
          timestampMicros: r.timestampMicros,
          duplicate: r.duplicate,
        };
      } catch (err) {
        if (!(err instanceof ProposalNotAccepted) || nowMs(this.ctx.clock) > deadline || call.signal.aborted)
          throw err;
        // Never appended (leadership is moving, or just moved): wait for the outcome, then go again.
        await ctx.changes
          .until(() => handle.runner.leader !== ctx.self || undefined, 100, call.signal, "a new leader")
          .catch(() => undefined);
      }
    }
    if (call.hops >= maxForwardHops) {
      // Nothing was appended on this path: the node that forwarded the call may send it again once
      // it sees the new leader (forward-retry.ts), instead of failing the client's publish.
      const leader = handle?.runner.leader;
      const known = leader ? ctx.metadata().nodes[leader] : undefined;
      throw unavailable(
        `leader of ${input.topic}/${partition} moved while the publish was forwarded; retry`,
        {
          retrySafe: true,
          ...(known
            ? { leader: { nodeId: known.id, region: known.region, clientAddress: known.clientAddress } }
            : {}),
        },
      );
    }
    const res = await forwardUntilReached(
      ctx,
      () => this.forwardTarget(placement, handle),
      () => handle?.runner.leader,
      call,
      (target) =>
        ctx.forwarder.publish(target.clientAddress, call, {
          $typeName: "geobroker.v1.PublishRequest",
          topic: input.topic,
          key: message.key,
          body: message.body,
          headers: message.headers,
          messageId: message.messageId,
          partition,
        }),
      // A message id makes a resend safe (the partition stores it once); without one, tell the
      // client at once that the outcome is unknown rather than hold it until its deadline.
      message.messageId ? "resend" : "fail",
    );
    const offset = Number(res.offset);
    // Read-your-writes: a publisher that subscribes here next sees its own message.
    if (handle)
      await this.reader.waitForOwnWrite(
        handle,
        messageId(input.topic, partition, offset),
        offset,
        call.signal,
      );
    return {
      topic: input.topic,
      partition,
      offset,
      timestampMicros: Number(res.timestampMicros),
      duplicate: res.duplicate,
    };
  }

  private forwardTarget(placement: PartitionPlacement, handle: PartitionHandle | undefined): NodeInfo {
    const nodes = this.ctx.metadata().nodes;
    const leader = handle?.runner.leader;
    if (leader && nodes[leader]) return nodes[leader];
    // Not a replica here: ask the nearest replica, which forwards once more if it does not lead.
    const near = nearestFirst(nodes, placement.replicas, this.ctx.region)[0];
    if (!near) throw unavailable("no replica of the partition is known");
    return near;
  }

  private choosePartition(topic: TopicRecord, input: PublishInput): number {
    const count = topic.partitions.length;
    if (input.partition !== undefined) {
      if (input.partition >= count) {
        throw invalidArgument(
          `partition ${input.partition} does not exist: topic ${topic.spec.name} has ${count}`,
        );
      }
      return input.partition;
    }
    if (count === 1) return 0;
    if (input.key && input.key.byteLength > 0) return partitionFor(input.key, count);
    return this.roundRobin++ % count;
  }

  private async topicForPublish(name: string, call: CallContext): Promise<TopicRecord> {
    const existing = this.ctx.metadata().topics[name];
    if (existing) return existing;
    if (!this.ctx.config.autoCreateTopics) {
      throw notFound(`topic ${name} does not exist and autoCreateTopics is off: create it first`);
    }
    if (call.mayCreateTopic && !call.mayCreateTopic(name))
      throw permissionDenied(
        `topic ${name} does not exist, and creating it on publish needs the create permission on it`,
      );
    return this.topics.createTopicRecord({ name }, call, true);
  }
}
