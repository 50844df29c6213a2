import type { NodeConfig } from "../config/config.js";
import type {
  BrokerEngine,
  CallContext,
  ConsumeCommand,
  ConsumeEvent,
  ConsumerConfigInput,
  ConsumerInfo,
  DeliveredMessage,
  EngineObserver,
  NodeIdentity,
  PublishInput,
  PublishOutcome,
  RetentionSpec,
  SubscribeInput,
  TopicSpec,
  TopicState,
} from "../engine/engine.js";
import type {
  LogStorePort,
  MetadataStorePort,
  PartitionLogPort,
  PeerTransportPort,
} from "../engine/ports.js";
import type { Logger } from "../observability/logger.js";
import type { GroupId, NodeId, RaftStorage } from "../raft/types.js";
import { type Clock, every, systemClock } from "../util/clock.js";
import { ConsumerHub } from "./consumers/consumer-hub.js";
import { consumerPort } from "./consumers/consumer-port.js";
import { Forwarder } from "./forwarding/forwarder.js";
import { wanDelayTo } from "./forwarding/wan-delay.js";
import { confOf, GroupRegistry } from "./groups/group-registry.js";
import type { GroupRunner, RaftCore } from "./groups/group-runner.js";
import { MetadataGroup } from "./groups/metadata-group.js";
import { ChangeSignal } from "./groups/waiters.js";
import { compactLogs, proposeRetention } from "./housekeeping/housekeeping.js";
import { drainLeadership } from "./membership/leadership-drain.js";
import { GroupMaintenance } from "./membership/maintenance.js";
import type { NodeIncarnation } from "./membership/node-identity.js";
import { type NodeContext, proposalTimeoutMs } from "./node-context.js";
import type { InternalReply, InternalRequest, NodeView } from "./peers/internal-requests.js";
import { PeerRequests } from "./peers/peer-requests.js";
import { Publisher } from "./publish/publisher.js";
import { PartitionReader } from "./read/partition-reader.js";
import { ReadRouter } from "./read/read-router.js";
import {
  type MetadataCommand,
  type MetadataResult,
  type MetadataState,
  metadataGroupId,
} from "./state/metadata-state.js";
import type { SecurityState } from "./state/users-state.js";
import { TopicAdmin } from "./topics/topic-admin.js";

export interface ClusterNodeDeps {
  config: NodeConfig;
  logger: Logger;
  logStore: LogStorePort;
  partitions: PartitionLogPort;
  metadataStore: MetadataStorePort;
  transport: PeerTransportPort;
  /** A Raft core for a group over its storage (it replays from the snapshot point: see RaftConfig.applied). */
  createCore(o: { groupId: GroupId; storage: RaftStorage }): RaftCore;
  /** Called when a group cannot go on (failed fsync): the process must stop. */
  onFatal(err: Error): void;
  forwarder?: Forwarder;
  /** Counts what the node serves (Prometheus); optional for tests. */
  observer?: EngineObserver;
  /** This node's incarnation (node-identity.ts); absent: the original one, as before incarnations. */
  incarnation?: NodeIncarnation;
  /** Time and timers for every part of the node; absent: the system's (tests pass a virtual one). */
  clock?: Clock;
}

/** How often (in ticks) leaders reconcile group membership and leadership placement. */
const maintenanceTicks = 10;
/** How often (in ticks) group logs are checked for compaction. */
const compactionTicks = 10;

/**
 * One broker node, assembled: the metadata group, the data groups this node replicates, and the
 * engine the client API calls. Each concern is its own part (publisher.ts, read-router.ts,
 * topic-admin.ts, peer-requests.ts, consumer-hub.ts, group-registry.ts, housekeeping.ts,
 * maintenance.ts); this class wires them and is the one surface the API and the operator's calls use.
 */
export class ClusterNode implements BrokerEngine {
  readonly identity: NodeIdentity;
  /** The node's time and timers (the system's, or a test's virtual clock). */
  readonly clock: Clock;
  private readonly changes: ChangeSignal;
  private readonly registry: GroupRegistry;
  private readonly ctx: NodeContext;
  private readonly reader: PartitionReader;
  private metadataHome!: MetadataGroup;
  private topics!: TopicAdmin;
  private publisher!: Publisher;
  private readRouter!: ReadRouter;
  private peers!: PeerRequests;
  private maintenance!: GroupMaintenance;
  private consumerHub!: ConsumerHub;
  private stopTicker: (() => void) | undefined;
  private stopped = false;

  private constructor(private readonly deps: ClusterNodeDeps) {
    const { config } = deps;
    this.identity = { nodeId: config.nodeId, region: config.region };
    this.clock = deps.clock ?? systemClock;
    this.changes = new ChangeSignal(this.clock);
    this.registry = new GroupRegistry({
      self: config.nodeId,
      config,
      logger: deps.logger,
      logStore: deps.logStore,
      partitions: deps.partitions,
      transport: deps.transport,
      createCore: deps.createCore,
      changes: this.changes,
      clock: this.clock,
      ...(deps.observer ? { observer: deps.observer } : {}),
      proposalTimeoutMs,
      onFatal: (err) => this.fatal(err),
    });
    this.ctx = {
      self: config.nodeId,
      region: config.region,
      config,
      logger: deps.logger,
      changes: this.changes,
      clock: this.clock,
      forwarder:
        deps.forwarder ?? new Forwarder(config.tls.client, config.tls.peer, this.clock, wanDelayTo(config)),
      groups: this.registry,
      store: deps.partitions,
      ...(deps.observer ? { observer: deps.observer } : {}),
      metadata: () => this.metadataHome.sm.state,
    };
    this.reader = new PartitionReader({
      store: deps.partitions,
      local: (groupId) => this.registry.partition(groupId),
      staleAfterMs: config.raft.electionTicks * config.raft.tickMs,
      clock: this.clock,
      ...(deps.observer ? { delivered: (lag: number) => deps.observer?.delivered(lag) } : {}),
    });
  }

  static async start(deps: ClusterNodeDeps): Promise<ClusterNode> {
    const node = new ClusterNode(deps);
    await node.init();
    return node;
  }

  private async init(): Promise<void> {
    const { config } = this.deps;
    const self = config.nodeId;
    const initialNodes = config.peers.map((p) => ({
      id: p.id,
      region: p.region,
      zone: p.zone ?? "",
      peerAddress: p.peerAddress,
      clientAddress: p.clientAddress,
    }));
    // An initial voter writes the first configuration; a node that joins later starts empty and
    // waits to be added (ClusterService.AddNode), then learns everything from the leader.
    const initialVoter = initialNodes.some((n) => n.id === self);
    this.metadataHome = await MetadataGroup.open({
      self,
      initialNodes,
      bootstrap: confOf(initialVoter ? initialNodes.map((n) => n.id) : []),
      logStore: this.deps.logStore,
      metadataStore: this.deps.metadataStore,
      createCore: this.deps.createCore,
      io: this.registry.io,
      clock: this.clock,
      proposalTimeoutMs,
      onChange: (state) => this.onMetadataChange(state),
      onLeaderChange: (leader) => this.registry.onLeaderChange(metadataGroupId, leader),
      onFatal: (err) => this.fatal(err),
    });
    this.registry.addMetadata(metadataGroupId, this.metadataHome.runner);
    this.onMetadataChange(this.metadataHome.sm.state);
    // this.peers is made below; GetTopic asks it only once the node serves calls.
    this.topics = new TopicAdmin(this.ctx, this.metadataHome, (groups) =>
      this.peers.leadersElsewhere(groups),
    );
    this.publisher = new Publisher(this.ctx, this.reader, this.topics);
    this.readRouter = new ReadRouter(this.ctx, this.reader);
    this.deps.transport.onMessages((messages) => this.registry.receive(messages));
    this.peers = new PeerRequests(this.ctx, this.metadataHome, this.deps.transport, this.deps.incarnation);
    this.maintenance = new GroupMaintenance(this);
    this.consumerHub = new ConsumerHub(consumerPort(this.ctx, this), {
      ...config.consumers,
      quotas: config.limits.quotas,
    });
    this.startTicker();
    this.metadataHome.runner.schedule();
  }

  /** Ticks every group, and on their own schedules compacts logs, checks retention, maintains groups. */
  private startTicker(): void {
    const { config, logger } = this.deps;
    const retentionTicks = Math.max(1, Math.round(config.partitions.retentionCheckMs / config.raft.tickMs));
    let ticks = 0;
    this.stopTicker = every(this.clock, config.raft.tickMs, () => {
      this.registry.tick();
      ticks++;
      if (ticks % compactionTicks === 0) void compactLogs(this.ctx, this.deps.logStore);
      if (ticks % retentionTicks === 0)
        void proposeRetention(this.ctx, this.clock.nowMicros()).catch((err: Error) =>
          logger.warn("retention check failed", { err: err.message }),
        );
      if (ticks % maintenanceTicks === 0) {
        this.registry.reconcile(this.metadataHome.sm.state);
        void this.maintenance
          .run(ticks)
          .catch((err: Error) => logger.warn("group maintenance failed", { err: err.message }));
      }
    });
  }

  private onMetadataChange(state: MetadataState): void {
    // Dials every node the metadata knows (a node-local peerDialAddresses entry wins).
    const dial = this.deps.config.peerDialAddresses;
    for (const n of Object.values(state.nodes))
      if (n.id !== this.nodeId) this.deps.transport.setPeer(n.id, dial[n.id] ?? n.peerAddress);
    this.registry.reconcile(state);
  }

  private fatal(err: Error): void {
    this.deps.logger.error("raft group stopped: storage failure", { err: err.message });
    this.deps.onFatal(err);
  }

  // ---- BrokerEngine ----

  publish(input: PublishInput, call: CallContext): Promise<PublishOutcome> {
    return this.publisher.publish(input, call);
  }

  subscribe(input: SubscribeInput, call: CallContext): AsyncIterable<DeliveredMessage> {
    return this.readRouter.subscribe(input, call);
  }

  consume(
    config: ConsumerConfigInput,
    commands: AsyncIterable<ConsumeCommand>,
    call: CallContext,
  ): AsyncIterable<ConsumeEvent> {
    return this.consumerHub.consume(config, commands, call);
  }

  createConsumer(config: ConsumerConfigInput, call: CallContext): Promise<ConsumerInfo> {
    return this.consumerHub.createConsumer(config, call);
  }

  deleteConsumer(topic: string, name: string, call: CallContext): Promise<void> {
    return this.consumerHub.deleteConsumer(topic, name, call);
  }

  getConsumer(topic: string, name: string): Promise<ConsumerInfo> {
    return this.consumerHub.getConsumer(topic, name);
  }

  listConsumers(topic: string): Promise<ConsumerInfo[]> {
    return this.consumerHub.listConsumers(topic);
  }

  createTopic(spec: Partial<TopicSpec> & { name: string }, call: CallContext): Promise<TopicState> {
    return this.topics.createTopic(spec, call);
  }

  deleteTopic(name: string, call: CallContext): Promise<void> {
    return this.topics.deleteTopic(name, call);
  }

  getTopic(name: string): Promise<TopicState> {
    return this.topics.getTopic(name);
  }

  listTopics(prefix: string): Promise<TopicState[]> {
    return this.topics.listTopics(prefix);
  }

  updateTopic(
    name: string,
    change: { retention?: RetentionSpec; homeRegion?: string },
    call: CallContext,
  ): Promise<TopicState> {
    return this.topics.updateTopic(name, change, call);
  }

  // ---- the node as cluster administration and group maintenance see it ----

  get nodeId(): NodeId {
    return this.deps.config.nodeId;
  }

  get config(): NodeConfig {
    return this.deps.config;
  }

  get logger(): Logger {
    return this.deps.logger;
  }

  get incarnation(): NodeIncarnation | undefined {
    return this.deps.incarnation;
  }

  metadataGroup(): GroupRunner {
    return this.metadataHome.runner;
  }

  /** The data groups this node runs, with their topic and partition. */
  dataGroups(): { groupId: GroupId; topic: string; partition: number; runner: GroupRunner }[] {
    return this.registry.dataGroups();
  }

  groupRunners(): ReadonlyMap<GroupId, GroupRunner> {
    return this.registry.runners();
  }

  metadataState(): MetadataState {
    return this.metadataHome.sm.state;
  }

  /** Users and grants as the metadata group last applied them (users-state.ts); undefined before any. */
  securityState(): SecurityState | undefined {
    return this.metadataHome.sm.state.security;
  }

  /** True while this node leads the metadata group (it feeds the security sources into it). */
  leadsMetadata(): boolean {
    return this.metadataHome.runner.isLeader;
  }

  waitFor<T>(
    check: () => T | undefined | false,
    timeoutMs: number,
    signal: AbortSignal,
    what: string,
  ): Promise<T> {
    return this.changes.until(check, timeoutMs, signal, what);
  }

  /** This node's view of every group it runs. */
  localView(): NodeView {
    return this.peers.localView();
  }

  /** Sends an internal request to another node, or handles it here when `to` is this node. */
  internal(to: NodeId, request: InternalRequest, timeoutMs = 5000): Promise<InternalReply> {
    return this.peers.internal(to, request, timeoutMs);
  }

  /** A metadata command the cluster itself makes, proposed through the metadata leader. */
  proposeSystem(command: MetadataCommand): Promise<MetadataResult> {
    return this.peers.proposeSystem(command);
  }

  /** Asks a group's leader (found through the replicas when not known here) to act. */
  toGroupLeader(groupId: GroupId, request: InternalRequest): Promise<InternalReply> {
    return this.peers.toGroupLeader(groupId, request);
  }

  /** Hands every leadership held here to a caught-up voter and waits until none is left. */
  drainLeadership(timeoutMs = 10_000): Promise<{ done: boolean; detail: string }> {
    return drainLeadership(this.ctx, timeoutMs);
  }

  /** Messages and body bytes retained in the partition replicas on this node. */
  retainedTotals(): { messages: number; bytes: number } {
    const store = this.deps.partitions;
    let messages = 0;
    let bytes = 0;
    for (const [groupId] of this.registry.partitionEntries()) {
      messages += store.nextOffset(groupId) - store.firstOffset(groupId);
      bytes += store.retainedBytes(groupId);
    }
    return { messages, bytes };
  }

  /** Ready when the metadata group has a leader and every local data group knows its leader. */
  readiness(): { ready: boolean; reason: string } {
    if (this.stopped) return { ready: false, reason: "stopping" };
    if (!this.metadataHome.runner.leader) return { ready: false, reason: "no metadata leader yet" };
    for (const [groupId, h] of this.registry.partitionEntries()) {
      if (!h.runner.leader)
        return { ready: false, reason: `group ${groupId} (${h.topic}/${h.partition}) has no leader` };
    }
    return { ready: true, reason: "" };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.consumerHub.stop().catch(() => undefined);
    this.stopTicker?.();
    this.registry.stop();
    this.changes.poke();
  }
}
