import { Code, ConnectError } from "@connectrpc/connect";
import type {
  CallContext,
  PartitionState,
  RetentionSpec,
  TopicSpec,
  TopicState,
} from "../../engine/engine.js";
import { metadataError, notFound, unavailable } from "../../engine/errors.js";
import type { GroupId, NodeId } from "../../raft/types.js";
import { forwardUntilReached } from "../forwarding/forward-retry.js";
import { Forwarder } from "../forwarding/forwarder.js";
import type { MetadataGroup } from "../groups/metadata-group.js";
import { leaderWaitMs, maxForwardHops, type NodeContext, proposalTimeoutMs } from "../node-context.js";
import type {
  MetadataCommand,
  MetadataResult,
  PartitionPlacement,
  TopicRecord,
} from "../state/metadata-state.js";
import { checkTopicQuota } from "../state/quotas.js";

// Topics as the client API manages them: every change is a metadata command, proposed here when this
// node leads the metadata group, else forwarded to the leader's client port; answers wait until this
// node has applied the change, so the caller's next call here sees it.

/** Leaders of groups this node does not run, as the nodes holding their replicas see them. */
export type LeadersElsewhere = (
  groups: { groupId: GroupId; replicas: NodeId[] }[],
) => Promise<Map<GroupId, NodeId>>;

export class TopicAdmin {
  constructor(
    private readonly ctx: NodeContext,
    private readonly metadataGroup: MetadataGroup,
    private readonly leadersElsewhere: LeadersElsewhere = async () => new Map(),
  ) {}

  async createTopic(spec: Partial<TopicSpec> & { name: string }, call: CallContext): Promise<TopicState> {
    return (await this.topicStates([await this.createTopicRecord(spec, call, false)]))[0]!;
  }

  /** Creates a topic (`ifAbsent`: one that exists already is success, for a publish's auto-create). */
  async createTopicRecord(
    spec: Partial<TopicSpec> & { name: string },
    call: CallContext,
    ifAbsent: boolean,
  ): Promise<TopicRecord> {
    const { ctx } = this;
    const defaults = ctx.config.topicDefaults;
    const state = ctx.metadata();
    const nodes = Object.keys(state.nodes).length;
    const full: TopicSpec = {
      name: spec.name,
      partitions: spec.partitions ?? defaults.partitions,
      // An explicit factor must fit; the default shrinks to the cluster (a 1-node dev cluster works).
      replicationFactor: spec.replicationFactor ?? Math.min(defaults.replicationFactor, nodes),
      retention: spec.retention ?? defaults.retention,
      homeRegion: spec.homeRegion ?? "",
    };
    checkTopicQuota(state, full, ctx.config.limits.quotas, call.principal);
    const result = await this.proposeMetadata(
      {
        type: "createTopic",
        spec: full,
        atMicros: this.ctx.clock.nowMicros(),
        ifAbsent,
        ...(call.principal ? { owner: call.principal } : {}),
      },
      call,
      (c) =>
        c.topics
          .createTopic(
            {
              topic: {
                name: full.name,
                partitions: full.partitions,
                replicationFactor: full.replicationFactor,
                homeRegion: full.homeRegion,
                retention: retentionWire(full.retention),
              },
            },
            Forwarder.options(call),
          )
          .catch((err: unknown) => {
            // The forwarded CreateTopic has no "if absent": for a publish's auto-create, another
            // publish that created the topic first is success (concurrent first publishes to a new
            // topic through a node that does not lead the metadata group all failed ALREADY_EXISTS).
            if (ifAbsent && err instanceof ConnectError && err.code === Code.AlreadyExists) return undefined;
            throw err;
          }),
    );
    if (!result.ok) throw metadataError(result.error);
    return ctx.changes.until(
      () => ctx.metadata().topics[full.name],
      proposalTimeoutMs,
      call.signal,
      `topic ${full.name} to apply`,
    );
  }

  async deleteTopic(name: string, call: CallContext): Promise<void> {
    const result = await this.proposeMetadata({ type: "deleteTopic", name }, call, (c) =>
      c.topics.deleteTopic({ name }, Forwarder.options(call)),
    );
    if (!result.ok) throw metadataError(result.error);
    await this.ctx.changes.until(
      () => !this.ctx.metadata().topics[name],
      proposalTimeoutMs,
      call.signal,
      `deletion of ${name} to apply`,
    );
  }

  async getTopic(name: string): Promise<TopicState> {
    const t = this.ctx.metadata().topics[name];
    if (!t) throw notFound(`topic ${name} does not exist`);
    return (await this.topicStates([t]))[0]!;
  }

  async listTopics(prefix: string): Promise<TopicState[]> {
    return this.topicStates(
      Object.values(this.ctx.metadata().topics)
        .filter((t) => t.spec.name.startsWith(prefix))
        .sort((a, b) => a.spec.name.localeCompare(b.spec.name)),
    );
  }

  async updateTopic(
    name: string,
    change: { retention?: RetentionSpec; homeRegion?: string },
    call: CallContext,
  ): Promise<TopicState> {
    const result = await this.proposeMetadata({ type: "updateTopic", name, ...change }, call, (c) =>
      c.topics.updateTopic(
        {
          name,
          ...(change.retention ? { retention: retentionWire(change.retention) } : {}),
          ...(change.homeRegion !== undefined ? { homeRegion: change.homeRegion } : {}),
        },
        Forwarder.options(call),
      ),
    );
    if (!result.ok) throw metadataError(result.error);
    return this.getTopic(name);
  }

  /**
   * Runs a metadata command through the metadata group: proposed here when this node leads it,
   * else forwarded to the leader's client port (which proposes it there).
   */
  private async proposeMetadata(
    command: MetadataCommand,
    call: CallContext,
    forward: (clients: ReturnType<Forwarder["to"]>) => Promise<unknown>,
  ): Promise<MetadataResult> {
    const { ctx } = this;
    const runner = this.metadataGroup.runner;
    const leader = await ctx.changes.until(
      () => runner.leader || undefined,
      leaderWaitMs,
      call.signal,
      "a metadata leader",
    );
    if (leader === ctx.self) return this.metadataGroup.propose(command);
    if (call.hops >= maxForwardHops)
      throw unavailable("metadata leader moved while the call was forwarded; retry");
    try {
      await forwardUntilReached(
        ctx,
        () => {
          const now = runner.leader || leader;
          const target = ctx.metadata().nodes[now];
          if (!target) throw unavailable(`metadata leader ${now} is not a known node yet; retry`);
          return target;
        },
        () => runner.leader || undefined,
        call,
        (target) => forward(ctx.forwarder.to(target.clientAddress)),
      );
      return { ok: true };
    } catch (err) {
      if (err instanceof Error && "code" in err) throw err;
      throw unavailable(`metadata leader ${leader} unreachable: ${(err as Error).message}`);
    }
  }

  /**
   * Topics as this node sees them. A partition with no replica here has no group here, so its leader
   * comes from the nodes that hold its replicas (one round of questions for all such partitions);
   * empty when none of them answered in time: unknown. Offsets and sizes are a replica's: 0 here.
   */
  private async topicStates(ts: TopicRecord[]): Promise<TopicState[]> {
    const elsewhere = ts.flatMap((t) => t.partitions).filter((p) => !this.ctx.groups.partition(p.groupId));
    const remote = elsewhere.length > 0 ? await this.leadersElsewhere(elsewhere) : new Map<GroupId, NodeId>();
    return ts.map((t) => this.topicState(t, remote));
  }

  private topicState(t: TopicRecord, remote: ReadonlyMap<GroupId, NodeId>): TopicState {
    const { ctx } = this;
    const nodes = ctx.metadata().nodes;
    const partitionStates: PartitionState[] = t.partitions.map((p: PartitionPlacement) => {
      const handle = ctx.groups.partition(p.groupId);
      const leader = (handle ? handle.runner.leader : remote.get(p.groupId)) ?? "";
      return {
        partition: p.partition,
        groupId: p.groupId,
        leaderNodeId: leader,
        leaderRegion: leader ? (nodes[leader]?.region ?? "") : "",
        replicaNodeIds: p.replicas,
        firstOffset: handle ? ctx.store.firstOffset(p.groupId) : 0,
        nextOffset: handle ? ctx.store.nextOffset(p.groupId) : 0,
        retainedBytes: handle ? ctx.store.retainedBytes(p.groupId) : 0,
      };
    });
    return { ...t.spec, createdAtMicros: t.createdAtMicros, partitionStates };
  }
}

function retentionWire(r: RetentionSpec) {
  return {
    maxAgeMs: BigInt(r.maxAgeMs),
    maxBytes: BigInt(r.maxBytes),
    maxMessages: BigInt(r.maxMessages),
    keepUnacknowledged: r.keepUnacknowledged,
  };
}
