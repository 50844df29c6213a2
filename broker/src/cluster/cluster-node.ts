import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { ConsumeRequestSchema } from "../../../gen/geobroker/v1/consume_pb.js";
import { commandToWire, consumerConfigToWire, eventFromWire } from "../api/consume-convert.js";
import { messageFromWire, startToWire, statusFromWire } from "../api/convert.js";
import type {
  BrokerEngine,
  CallContext,
  ConsumeCommand,
  ConsumeEvent,
  ConsumerConfigInput,
  ConsumerInfo,
  DeliveredMessage,
  NodeIdentity,
  PartitionState,
  PublishInput,
  PublishOutcome,
  RetentionSpec,
  StartSpec,
  SubscribeInput,
  TopicSpec,
  TopicState,
} from "../api/engine.js";
import { messageId } from "../api/engine.js";
import { invalidArgument, metadataError, notFound, permissionDenied, unavailable } from "../api/errors.js";
import type { NodeConfig } from "../config/config.js";
import type { Logger } from "../observability/logger.js";
import { admitted } from "../raft/incarnation.js";
import type { ConfState, GroupId, Message, NodeId, RaftStorage } from "../raft/types.js";
import { mergeAsyncIterables } from "../util/merge.js";
import { encodeRetentionEntry, type PublishedMessage } from "./commands.js";
import { ConsumerHub, type ConsumerHubPort } from "./consumer-hub.js";
import { Forwarder, neverReachedTarget } from "./forwarder.js";
import type { GroupIo, GroupRunner, RaftCore } from "./group-runner.js";
import { compactIfDue, retentionProposal } from "./housekeeping.js";
import {
  ControlError,
  decodeInternal,
  encodeInternal,
  type GroupView,
  type InternalReply,
  type InternalRequest,
  leaderHintOf,
  type NodeView,
} from "./internal-requests.js";
import type { LogFeed } from "./log-feed.js";
import { GroupMaintenance } from "./maintenance.js";
import { MetadataGroup } from "./metadata-group.js";
import {
  findPartition,
  type MetadataCommand,
  type MetadataResult,
  type MetadataState,
  metadataGroupId,
  type NodeAddress,
  type NodeInfo,
  type PartitionPlacement,
  type TopicRecord,
} from "./metadata-state.js";
import type { MetadataStateMachine } from "./metadata-state-machine.js";
import { bootstrapLength, isFormed, type NodeIncarnation } from "./node-identity.js";
import { PartitionGroup, ProposalNotAccepted } from "./partition-group.js";
import { PartitionReader, type ReadOptions } from "./partition-reader.js";
import { partitionFor } from "./partitioner.js";
import type { LogStorePort, MetadataStorePort, PartitionLogPort, PeerTransportPort } from "./ports.js";
import type { PublishBatcher } from "./publish-batcher.js";
import { checkTopicQuota } from "./quotas.js";
import type { SecurityState } from "./users-state.js";
import { ChangeSignal, nowMicros } from "./waiters.js";

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
}

export interface EngineObserver {
  published(bytes: number, seconds: number): void;
  delivered(lagSeconds: number): void;
  /** Retention removed messages from a partition replica here. */
  removed(messages: number, bytes: number): void;
}

interface PartitionHandle {
  topic: string;
  partition: number;
  runner: GroupRunner;
  feed: LogFeed;
  batcher: PublishBatcher;
}

const proposalTimeoutMs = 10_000;
const leaderWaitMs = 5_000;
// Client -> any node -> a replica -> the leader, plus one more for a leadership that moved meanwhile.
const maxForwardHops = 3;
/** How often (in ticks) leaders reconcile group membership and leadership placement. */
const maintenanceTicks = 10;

/**
 * One broker node: the metadata group, the data groups this node replicates, and the engine the
 * client API calls. Publishes go to the partition's leader (here, or forwarded); reads are served
 * from this node's own replica.
 */
export class ClusterNode implements BrokerEngine {
  readonly identity: NodeIdentity;
  private readonly groups = new Map<GroupId, GroupRunner>();
  private readonly partitions = new Map<GroupId, PartitionHandle>();
  private readonly changes = new ChangeSignal();
  private readonly forwarder: Forwarder;
  private metadataHome!: MetadataGroup;
  private metadataRunner!: GroupRunner;
  private metadata!: MetadataStateMachine;
  private ticker: NodeJS.Timeout | undefined;
  private maintenance!: GroupMaintenance;
  private consumerHub!: ConsumerHub;
  private roundRobin = 0;
  private stopped = false;
  private readonly reader: PartitionReader;

  private constructor(private readonly deps: ClusterNodeDeps) {
    this.identity = { nodeId: deps.config.nodeId, region: deps.config.region };
    this.forwarder = deps.forwarder ?? new Forwarder(deps.config.tls.client, deps.config.tls.peer);
    this.reader = new PartitionReader({
      store: deps.partitions,
      local: (groupId) => this.partitions.get(groupId),
      staleAfterMs: deps.config.raft.electionTicks * deps.config.raft.tickMs,
      ...(deps.observer ? { delivered: (lag: number) => deps.observer?.delivered(lag) } : {}),
    });
  }

  static async start(deps: ClusterNodeDeps): Promise<ClusterNode> {
    const node = new ClusterNode(deps);
    await node.init();
    return node;
  }

  private get self(): NodeId {
    return this.deps.config.nodeId;
  }

  private async init(): Promise<void> {
    const { config } = this.deps;
    const initialNodes: NodeAddress[] = config.peers.map((p) => ({
      id: p.id,
      region: p.region,
      zone: p.zone ?? "",
      peerAddress: p.peerAddress,
      clientAddress: p.clientAddress,
    }));
    // An initial voter writes the first configuration; a node that joins later starts empty and
    // waits to be added (ClusterService.AddNode), then learns everything from the leader.
    const initialVoter = initialNodes.some((n) => n.id === this.self);
    this.metadataHome = await MetadataGroup.open({
      self: this.self,
      initialNodes,
      bootstrap: confOf(initialVoter ? initialNodes.map((n) => n.id) : []),
      logStore: this.deps.logStore,
      metadataStore: this.deps.metadataStore,
      createCore: this.deps.createCore,
      io: this.io,
      proposalTimeoutMs,
      onChange: (state) => {
        this.syncPeers(state);
        this.reconcileGroups(state);
      },
      onLeaderChange: (leader) => this.onLeaderChange(metadataGroupId, leader),
      onFatal: (err) => this.fatal(err),
    });
    this.metadata = this.metadataHome.sm;
    this.metadataRunner = this.metadataHome.runner;
    this.groups.set(metadataGroupId, this.metadataRunner);
    this.syncPeers(this.metadata.state);
    this.reconcileGroups(this.metadata.state);
    this.deps.transport.onMessages((messages) => this.receive(messages));
    this.deps.transport.onControl((request) => this.handleInternal(request));
    this.maintenance = new GroupMaintenance(this);
    this.consumerHub = new ConsumerHub(this.consumerPort(), {
      ...config.consumers,
      maxConsumersPerTopic: config.limits.quotas.maxConsumersPerTopic,
    });
    let ticks = 0;
    this.ticker = setInterval(() => {
      for (const runner of this.groups.values()) runner.tick();
      ticks++;
      if (ticks % 10 === 0) void this.compactLogs();
      if (ticks % Math.max(1, Math.round(config.partitions.retentionCheckMs / config.raft.tickMs)) === 0)
        void this.proposeRetention().catch((err: Error) =>
          this.deps.logger.warn("retention check failed", { err: err.message }),
        );
      if (ticks % maintenanceTicks === 0) {
        this.reconcileGroups(this.metadata.state);
        void this.maintenance
          .run(ticks)
          .catch((err: Error) => this.deps.logger.warn("group maintenance failed", { err: err.message }));
      }
    }, config.raft.tickMs);
    this.metadataRunner.schedule();
  }

  private readonly io: GroupIo = {
    persist: (groupId, update) => this.deps.logStore.persist(groupId, update),
    send: (messages) => this.deps.transport.send(messages),
  };

  private receive(messages: Message[]): void {
    for (const m of messages) {
      // A message for a group this node does not run yet (its topic is not applied here yet) is
      // dropped: Raft retries, and the group exists once the metadata entry applies.
      this.groups.get(m.groupId)?.step(m);
    }
  }

  private fatal(err: Error): void {
    this.deps.logger.error("raft group stopped: storage failure", { err: err.message });
    this.deps.onFatal(err);
  }

  /**
   * Keeps each group's Raft log bounded: applied entries beyond `raft.keepLogEntries` are dropped
   * (a follower further behind gets a snapshot of the state machine instead).
   */
  private async compactLogs(): Promise<void> {
    for (const [groupId, runner] of this.groups) {
      try {
        await compactIfDue(this.deps.logStore, groupId, runner.core, this.deps.config.raft.keepLogEntries);
      } catch (err) {
        this.deps.logger.warn("log compaction failed", { group: groupId, err: (err as Error).message });
      }
    }
  }

  /** Each partition this node leads gets a retention entry when its policy would remove something. */
  private async proposeRetention(): Promise<void> {
    for (const [groupId, handle] of this.partitions) {
      if (!handle.runner.isLeader) continue;
      const entry = await retentionProposal({
        state: this.metadata.state,
        topic: handle.topic,
        partition: handle.partition,
        groupId,
        store: this.deps.partitions,
        nowMicros: nowMicros(),
      });
      if (!entry) continue;
      try {
        handle.runner.propose(encodeRetentionEntry(entry));
      } catch {
        // leadership moved; the new leader checks on its own schedule
      }
    }
  }

  /** Messages and body bytes retained in the partition replicas on this node. */
  retainedTotals(): { messages: number; bytes: number } {
    let messages = 0;
    let bytes = 0;
    for (const groupId of this.partitions.keys()) {
      messages += this.deps.partitions.nextOffset(groupId) - this.deps.partitions.firstOffset(groupId);
      bytes += this.deps.partitions.retainedBytes(groupId);
    }
    return { messages, bytes };
  }

  private onLeaderChange(groupId: GroupId, leader: NodeId | ""): void {
    this.deps.logger.info("leader changed", { group: groupId, leader });
    this.changes.poke();
  }

  /** Dials every node the metadata knows (a node-local peerDialAddresses entry wins). */
  private syncPeers(state: MetadataState): void {
    const dial = this.deps.config.peerDialAddresses;
    for (const n of Object.values(state.nodes))
      if (n.id !== this.self) this.deps.transport.setPeer(n.id, dial[n.id] ?? n.peerAddress);
  }

  /**
   * Starts the data groups this node should replicate and stops those it no longer should: a
   * replica moving away keeps running until its group's leader has removed it from the group.
   */
  private reconcileGroups(state: MetadataState): void {
    const wanted = new Map<GroupId, { topic: string; placement: PartitionPlacement }>();
    for (const [name, topic] of Object.entries(state.topics)) {
      for (const p of topic.partitions)
        if (p.replicas.includes(this.self)) wanted.set(p.groupId, { topic: name, placement: p });
    }
    for (const [groupId, w] of wanted)
      if (!this.partitions.has(groupId)) this.startPartition(groupId, w.topic, w.placement);
    for (const [groupId, handle] of this.partitions) {
      if (wanted.has(groupId)) continue;
      const conf = handle.runner.core.confState();
      const member = conf.voters.includes(this.self) || conf.learners.includes(this.self);
      if (member && findPartition(state, groupId)) continue;
      handle.runner.stop();
      handle.feed.wakeAll();
      this.partitions.delete(groupId);
      this.groups.delete(groupId);
    }
    this.changes.poke();
  }

  private startPartition(groupId: GroupId, topic: string, placement: PartitionPlacement): void {
    const initial = placement.initial ?? placement.replicas;
    const group = new PartitionGroup({
      self: this.self,
      groupId,
      name: `${topic}/${placement.partition}`,
      bootstrap: confOf(initial.includes(this.self) ? initial : []),
      logStore: this.deps.logStore,
      partitions: this.deps.partitions,
      createCore: this.deps.createCore,
      io: this.io,
      settings: this.deps.config.partitions,
      ...(this.deps.observer ? { observer: this.deps.observer } : {}),
      proposalTimeoutMs,
      onLeaderChange: (leader) => this.onLeaderChange(groupId, leader),
      onFatal: (err) => this.fatal(err),
    });
    const { runner, feed, batcher } = group;
    this.partitions.set(groupId, { topic, partition: placement.partition, runner, feed, batcher });
    this.groups.set(groupId, runner);
    // The preferred replica (first in placement, in the home region when there is one) stands for
    // election at once, so a new topic takes writes without waiting an election timeout.
    if (group.fresh && initial[0] === this.self) runner.core.campaign();
    runner.schedule();
  }

  // ---- BrokerEngine ----

  async publish(input: PublishInput, call: CallContext): Promise<PublishOutcome> {
    const started = performance.now();
    const outcome = await this.publishOnce(input, call);
    // Counted where the client called, not again on the leader it was forwarded to.
    if (call.hops === 0)
      this.deps.observer?.published(input.body.byteLength, (performance.now() - started) / 1000);
    return outcome;
  }

  private async publishOnce(input: PublishInput, call: CallContext): Promise<PublishOutcome> {
    const topic = await this.topicForPublish(input.topic, call);
    const partition = this.choosePartition(topic, input);
    const placement = topic.partitions[partition]!;
    const handle = this.partitions.get(placement.groupId);
    const message: PublishedMessage = {
      key: input.key ?? new Uint8Array(),
      body: input.body,
      headers: input.headers ?? {},
      messageId: input.messageId ?? "",
    };
    const deadline = performance.now() + leaderWaitMs;
    while (handle) {
      const leader = await this.changes.until(
        () => handle.runner.leader || undefined,
        leaderWaitMs,
        call.signal,
        `a leader for ${input.topic}/${partition}`,
      );
      if (leader !== this.self) break;
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
        if (!(err instanceof ProposalNotAccepted) || performance.now() > deadline || call.signal.aborted)
          throw err;
        // Never appended (leadership is moving, or just moved): wait for the outcome, then go again.
        await this.changes
          .until(() => handle.runner.leader !== this.self || undefined, 100, call.signal, "a new leader")
          .catch(() => undefined);
      }
    }
    if (call.hops >= maxForwardHops) {
      throw unavailable(`leader of ${input.topic}/${partition} moved while the publish was forwarded; retry`);
    }
    const res = await this.forwardUntilReached(
      () => this.forwardTarget(placement, handle),
      () => handle?.runner.leader,
      call,
      (target) =>
        this.forwarder.publish(target.clientAddress, call, {
          $typeName: "geobroker.v1.PublishRequest",
          topic: input.topic,
          key: message.key,
          body: message.body,
          headers: message.headers,
          messageId: message.messageId,
          partition,
        }),
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

  /**
   * Sends a forwarded call, and when the target could not even be connected to (a leader that just
   * died), waits for the group to pick another leader and sends again, within leaderWaitMs. Only
   * calls that never reached a node are retried, so a message is never forwarded twice.
   */
  private async forwardUntilReached<T>(
    pickTarget: () => NodeInfo,
    currentLeader: () => string | undefined,
    call: CallContext,
    send: (target: NodeInfo) => Promise<T>,
  ): Promise<T> {
    const deadline = performance.now() + leaderWaitMs;
    for (;;) {
      const target = pickTarget();
      try {
        return await send(target);
      } catch (err) {
        const left = deadline - performance.now();
        if (!neverReachedTarget(err) || left <= 0 || call.signal.aborted) throw err;
        this.deps.logger.debug("forward target unreachable; waiting for another leader", {
          target: target.id,
        });
        // Wake on a leadership change; without one, try again shortly (the node may be restarting).
        await this.changes
          .until(
            () => currentLeader() !== target.id || undefined,
            Math.min(left, 250),
            call.signal,
            "a new leader",
          )
          .catch(() => undefined);
      }
    }
  }

  private forwardTarget(placement: PartitionPlacement, handle: PartitionHandle | undefined): NodeInfo {
    const nodes = this.metadata.state.nodes;
    const leader = handle?.runner.leader;
    if (leader && nodes[leader]) return nodes[leader];
    // Not a replica here: ask the nearest replica, which forwards once more if it does not lead.
    const replicas = placement.replicas.map((id) => nodes[id]).filter((n): n is NodeInfo => n !== undefined);
    const near = replicas.find((n) => n.region === this.identity.region) ?? replicas[0];
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
    const existing = this.metadata.state.topics[name];
    if (existing) return existing;
    if (!this.deps.config.autoCreateTopics) {
      throw notFound(`topic ${name} does not exist and autoCreateTopics is off: create it first`);
    }
    if (call.mayCreateTopic && !call.mayCreateTopic(name))
      throw permissionDenied(
        `topic ${name} does not exist, and creating it on publish needs the create permission on it`,
      );
    await this.createTopicRecord({ name }, call, true);
    return this.metadata.state.topics[name]!;
  }

  async *subscribe(input: SubscribeInput, call: CallContext): AsyncIterable<DeliveredMessage> {
    const signal = call.signal;
    let topic = this.metadata.state.topics[input.topic];
    while (!topic) {
      if (!input.waitForTopic) throw notFound(`topic ${input.topic} does not exist`);
      try {
        topic = await this.changes.until(
          () => this.metadata.state.topics[input.topic],
          3_600_000,
          signal,
          "the topic",
        );
      } catch {
        return;
      }
    }
    const count = topic.partitions.length;
    const wanted = input.partitions.length > 0 ? input.partitions : topic.partitions.map((p) => p.partition);
    for (const p of wanted) {
      if (p >= count)
        throw invalidArgument(`partition ${p} does not exist: topic ${input.topic} has ${count}`);
    }
    const options = {
      ...(input.linearizableStart ? { linearizableStart: true } : {}),
      ...(input.onStatus ? { onStatus: input.onStatus } : {}),
    };
    const streams = wanted.map((p) =>
      this.readAnywhere(input.topic, topic.partitions[p]!, input.start, call, options),
    );
    yield* streams.length === 1 ? streams[0]! : mergeAsyncIterables(streams);
  }

  /**
   * Reads a partition from this node's replica, or, when this node has none, through the nearest
   * node that has one (same region first), so a client never has to know where replicas live. When
   * the replica moves or its node fails, reading goes on elsewhere after the last delivered offset.
   */
  private async *readAnywhere(
    topic: string,
    placement: PartitionPlacement,
    start: StartSpec,
    call: CallContext,
    options: ReadOptions,
  ): AsyncGenerator<DeliveredMessage> {
    let next = start;
    for (let attempt = 0; !call.signal.aborted; attempt++) {
      const current = findPartition(this.metadata.state, placement.groupId)?.placement;
      if (!current) return; // topic deleted
      if (this.partitions.has(placement.groupId)) {
        for await (const m of this.reader.read(
          topic,
          current.groupId,
          current.partition,
          next,
          call.signal,
          options,
        )) {
          yield m;
          next = { kind: "offset", offset: m.offset + 1 };
        }
        continue; // the replica here stopped (moved away, or the topic was deleted)
      }
      if (call.hops >= maxForwardHops)
        throw unavailable(
          `${topic}/${placement.partition} moved while the subscription was forwarded; retry`,
        );
      const nodes = this.metadata.state.nodes;
      const replicas = current.replicas
        .map((id) => nodes[id])
        .filter((n): n is NodeInfo => n !== undefined)
        .sort(
          (a, b) => Number(b.region === this.identity.region) - Number(a.region === this.identity.region),
        );
      const target = replicas[attempt % Math.max(1, replicas.length)];
      if (!target) throw unavailable(`no replica of ${topic}/${placement.partition} is known`);
      try {
        for await (const res of this.forwarder.to(target.clientAddress).consume.subscribe(
          {
            topic,
            partitions: [placement.partition],
            start: startToWire(next),
            linearizableStart: options.linearizableStart === true,
            reportStatus: options.onStatus !== undefined,
          },
          { headers: Forwarder.options(call).headers, signal: call.signal },
        )) {
          if (res.status) options.onStatus?.(statusFromWire(res.status));
          const m = res.message;
          if (!m) continue;
          yield messageFromWire(m);
          next = { kind: "offset", offset: Number(m.offset) + 1 };
        }
        return;
      } catch (err) {
        if (call.signal.aborted) return;
        const code = err instanceof ConnectError ? err.code : Code.Unavailable;
        if (code !== Code.Unavailable && code !== Code.FailedPrecondition && code !== Code.Canceled)
          throw err;
        await new Promise((r) => setTimeout(r, Math.min(1000, 100 * (attempt + 1))));
      }
    }
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

  /**
   * Durable consumers through this node. A consumer is dispatched by the preferred leader of its
   * topic's partition 0, a node every node names alike from the metadata, so the clients of one
   * consumer share its messages wherever they connect; a forwarded stream is served where it lands.
   */
  private consumerPort(): ConsumerHubPort {
    return {
      consumers: () => this.metadata.state.consumers,
      partitionsOf: (topic) => this.metadata.state.topics[topic]?.partitions.map((p) => p.partition),
      nextOffsets: (topic) => {
        const out = new Map<number, number>();
        for (const p of this.metadata.state.topics[topic]?.partitions ?? [])
          if (this.partitions.has(p.groupId))
            out.set(p.partition, this.deps.partitions.nextOffset(p.groupId));
        return out;
      },
      propose: (command) => this.proposeSystem(command),
      subscribe: (input, call) => this.subscribe(input, call),
      publish: (input, call) => this.publish(input, call),
      remote: (config, commands, call) => {
        if (call.hops > 0) return undefined;
        const coordinator = this.metadata.state.topics[config.topic]?.partitions[0]?.replicas[0];
        const target = coordinator ? this.metadata.state.nodes[coordinator] : undefined;
        if (!target || target.id === this.self) return undefined;
        return this.forwardConsume(target, config, commands, call);
      },
      warn: (message, fields) => this.deps.logger.warn(message, fields),
    };
  }

  private async *forwardConsume(
    target: NodeInfo,
    config: ConsumerConfigInput,
    commands: AsyncIterable<ConsumeCommand>,
    call: CallContext,
  ): AsyncGenerator<ConsumeEvent> {
    async function* requests() {
      yield create(ConsumeRequestSchema, { request: { case: "start", value: consumerConfigToWire(config) } });
      for await (const c of commands) yield commandToWire(c);
    }
    const stream = this.forwarder
      .to(target.clientAddress)
      .consume.consume(requests(), { headers: Forwarder.options(call).headers, signal: call.signal });
    for await (const res of stream) {
      const event = eventFromWire(res);
      if (event) yield event;
    }
  }

  async createTopic(spec: Partial<TopicSpec> & { name: string }, call: CallContext): Promise<TopicState> {
    return this.topicState(await this.createTopicRecord(spec, call, false));
  }

  private async createTopicRecord(
    spec: Partial<TopicSpec> & { name: string },
    call: CallContext,
    ifAbsent: boolean,
  ): Promise<TopicRecord> {
    const defaults = this.deps.config.topicDefaults;
    const nodes = Object.keys(this.metadata.state.nodes).length;
    const full: TopicSpec = {
      name: spec.name,
      partitions: spec.partitions ?? defaults.partitions,
      // An explicit factor must fit; the default shrinks to the cluster (a 1-node dev cluster works).
      replicationFactor: spec.replicationFactor ?? Math.min(defaults.replicationFactor, nodes),
      retention: spec.retention ?? defaults.retention,
      homeRegion: spec.homeRegion ?? "",
    };
    checkTopicQuota(this.metadata.state, full, this.deps.config.limits.quotas, call.principal);
    const result = await this.proposeMetadata(
      {
        type: "createTopic",
        spec: full,
        atMicros: nowMicros(),
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
    // Wait until this node has applied it too, so the caller's next call here sees the topic.
    return this.changes.until(
      () => this.metadata.state.topics[full.name],
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
    await this.changes.until(
      () => !this.metadata.state.topics[name],
      proposalTimeoutMs,
      call.signal,
      `deletion of ${name} to apply`,
    );
  }

  async getTopic(name: string): Promise<TopicState> {
    const t = this.metadata.state.topics[name];
    if (!t) throw notFound(`topic ${name} does not exist`);
    return this.topicState(t);
  }

  async listTopics(prefix: string): Promise<TopicState[]> {
    return Object.values(this.metadata.state.topics)
      .filter((t) => t.spec.name.startsWith(prefix))
      .sort((a, b) => a.spec.name.localeCompare(b.spec.name))
      .map((t) => this.topicState(t));
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
    const leader = await this.changes.until(
      () => this.metadataRunner.leader || undefined,
      leaderWaitMs,
      call.signal,
      "a metadata leader",
    );
    if (leader === this.self) return this.proposeLocally(command);
    if (call.hops >= maxForwardHops)
      throw unavailable("metadata leader moved while the call was forwarded; retry");
    try {
      await this.forwardUntilReached(
        () => {
          const now = this.metadataRunner.leader || leader;
          const target = this.metadata.state.nodes[now];
          if (!target) throw unavailable(`metadata leader ${now} is not a known node yet; retry`);
          return target;
        },
        () => this.metadataRunner.leader || undefined,
        call,
        (target) => forward(this.forwarder.to(target.clientAddress)),
      );
      return { ok: true };
    } catch (err) {
      if (err instanceof Error && "code" in err) throw err;
      throw unavailable(`metadata leader ${leader} unreachable: ${(err as Error).message}`);
    }
  }

  private topicState(t: TopicRecord): TopicState {
    const nodes = this.metadata.state.nodes;
    const partitionStates: PartitionState[] = t.partitions.map((p) => {
      const handle = this.partitions.get(p.groupId);
      const leader = handle?.runner.leader ?? "";
      return {
        partition: p.partition,
        groupId: p.groupId,
        leaderNodeId: leader,
        leaderRegion: leader ? (nodes[leader]?.region ?? "") : "",
        replicaNodeIds: p.replicas,
        firstOffset: handle ? this.deps.partitions.firstOffset(p.groupId) : 0,
        nextOffset: handle ? this.deps.partitions.nextOffset(p.groupId) : 0,
        retainedBytes: handle ? this.deps.partitions.retainedBytes(p.groupId) : 0,
      };
    });
    return { ...t.spec, createdAtMicros: t.createdAtMicros, partitionStates };
  }

  // ---- internal requests between nodes (peer port) ----

  get nodeId(): NodeId {
    return this.self;
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
    return this.metadataRunner;
  }

  /** The data groups this node runs, with their topic and partition. */
  dataGroups(): { groupId: GroupId; topic: string; partition: number; runner: GroupRunner }[] {
    return [...this.partitions].map(([groupId, h]) => ({
      groupId,
      topic: h.topic,
      partition: h.partition,
      runner: h.runner,
    }));
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
    const groups: GroupView[] = [];
    for (const [groupId, runner] of this.groups) {
      const s = runner.core.status();
      groups.push({
        groupId,
        leader: runner.leader,
        term: s.term,
        commit: s.commit,
        applied: s.applied,
        lastIndex: s.lastIndex,
        conf: runner.core.confState(),
        members: runner.isLeader
          ? [...s.progress].map(([nodeId, p]) => ({
              nodeId,
              learner: runner.core.confState().learners.includes(nodeId),
              match: nodeId === this.self ? s.lastIndex : p.match,
            }))
          : [],
      });
    }
    const view: NodeView = { nodeId: this.self, groups, connected: this.deps.transport.connectedPeers() };
    const mine = this.deps.incarnation;
    if (mine) {
      view.incarnation = mine.incarnation;
      view.rejoining = !admitted(this.metadataRunner.core.confState().incarnations?.[this.self], mine);
    }
    return view;
  }

  /** Sends an internal request to another node, or handles it here when `to` is this node. */
  async internal(to: NodeId, request: InternalRequest, timeoutMs = 5000): Promise<InternalReply> {
    if (to === this.self) return this.serveInternal(request);
    try {
      const reply = await this.deps.transport.call(to, encodeInternal(request), timeoutMs);
      return decodeInternal<InternalReply>(reply);
    } catch (err) {
      throw unavailable(`node ${to}: ${(err as Error).message}`, err);
    }
  }

  private async handleInternal(request: Uint8Array): Promise<Uint8Array> {
    return encodeInternal(await this.serveInternal(decodeInternal<InternalRequest>(request)));
  }

  private async serveInternal(request: InternalRequest): Promise<InternalReply> {
    switch (request.type) {
      case "view":
        return { type: "view", view: this.localView() };
      case "formation": {
        const initial = this.deps.config.peers.map((p) => p.id);
        const formed = isFormed(this.metadataRunner.core.status(), bootstrapLength(this.self, initial));
        return { type: "formation", formed };
      }
      case "propose": {
        if (!this.metadataRunner.isLeader)
          throw ControlError.notLeader("not the metadata leader", this.metadataRunner.leader);
        return { type: "proposed", result: await this.proposeLocally(request.command) };
      }
      case "transferLeadership": {
        const runner = this.groups.get(request.groupId);
        if (!runner?.isLeader)
          throw ControlError.notLeader(`not the leader of group ${request.groupId}`, runner?.leader);
        if (runner.leader !== request.to) {
          runner.core.transferLeadership(request.to);
          runner.schedule();
          await this.changes
            .until(
              () => runner.leader === request.to || undefined,
              3000,
              AbortSignal.timeout(3000),
              "the transfer",
            )
            .catch(() => undefined);
        }
        return { type: "transferred", leader: runner.leader };
      }
      case "confChange": {
        const runner = this.groups.get(request.groupId);
        if (!runner?.isLeader)
          throw ControlError.notLeader(`not the leader of group ${request.groupId}`, runner?.leader);
        runner.proposeConfChange(request.change);
        return { type: "confChanged" };
      }
    }
  }

  private proposeLocally(command: MetadataCommand): Promise<MetadataResult> {
    return this.metadataHome.propose(command);
  }

  /**
   * A metadata command the cluster itself makes (a move settled, a node drained): proposed here
   * when this node leads the metadata group, else sent to the leader on the peer port.
   */
  /** Users and grants as the metadata group last applied them (users-state.ts); undefined before any. */
  securityState(): SecurityState | undefined {
    return this.metadata.state.security;
  }

  /** True while this node leads the metadata group (it feeds the security sources into it). */
  leadsMetadata(): boolean {
    return this.metadataRunner.isLeader;
  }

  async proposeSystem(command: MetadataCommand): Promise<MetadataResult> {
    const leader = await this.changes.until(
      () => this.metadataRunner.leader || undefined,
      leaderWaitMs,
      AbortSignal.timeout(leaderWaitMs),
      "a metadata leader",
    );
    if (leader === this.self) return this.proposeLocally(command);
    const reply = await this.internal(leader, { type: "propose", command }, proposalTimeoutMs);
    if (reply.type !== "proposed") throw unavailable(`unexpected reply from ${leader}`);
    return reply.result;
  }

  /** Asks a group's leader (found through the replicas when not known here) to act. */
  async toGroupLeader(groupId: GroupId, request: InternalRequest): Promise<InternalReply> {
    const known = this.groups.get(groupId)?.leader;
    const placement = findPartition(this.metadata.state, groupId)?.placement;
    const candidates = [
      ...(known ? [known] : []),
      ...(groupId === metadataGroupId && this.metadataRunner.leader ? [this.metadataRunner.leader] : []),
      ...(placement?.replicas ?? []),
    ];
    let lastError: Error = unavailable(`no leader known for group ${groupId}`);
    for (const candidate of [...new Set(candidates)]) {
      try {
        return await this.internal(candidate, request);
      } catch (err) {
        lastError = err as Error;
        const hinted = leaderHintOf(lastError);
        if (hinted && hinted !== "unknown" && !candidates.includes(hinted)) candidates.push(hinted);
      }
    }
    throw unavailable(`group ${groupId}: ${lastError.message}`);
  }

  /**
   * Hands every leadership this node holds to another caught-up voter (same region first) and waits
   * until it holds none, up to timeoutMs: before a planned restart.
   */
  async drainLeadership(timeoutMs = 10_000): Promise<{ done: boolean; detail: string }> {
    const nodes = this.metadata.state.nodes;
    const leading = () => [...this.groups.values()].filter((r) => r.isLeader);
    for (const runner of leading()) {
      const s = runner.core.status();
      const target = runner.core
        .confState()
        .voters.filter(
          (id) =>
            id !== this.self &&
            s.progress.get(id)?.recentActive === true &&
            s.lastIndex - (s.progress.get(id)?.match ?? 0) <= 16,
        )
        .sort(
          (a, b) =>
            Number(nodes[b]?.region === this.identity.region) -
              Number(nodes[a]?.region === this.identity.region) || a.localeCompare(b),
        )[0];
      if (!target) continue;
      try {
        runner.core.transferLeadership(target);
        runner.schedule();
      } catch {
        // not leader any more, or a transfer under way: the wait below tells
      }
    }
    try {
      await this.changes.until(
        () => leading().length === 0 || undefined,
        timeoutMs,
        AbortSignal.timeout(timeoutMs),
        "leaderships to move",
      );
      return { done: true, detail: "this node leads no group" };
    } catch {
      return {
        done: false,
        detail: `still leading group(s) ${leading()
          .map((r) => r.groupId)
          .join(", ")}`,
      };
    }
  }

  // ---- status ----

  /** Ready when the metadata group has a leader and every local data group knows its leader. */
  readiness(): { ready: boolean; reason: string } {
    if (this.stopped) return { ready: false, reason: "stopping" };
    if (!this.metadataRunner.leader) return { ready: false, reason: "no metadata leader yet" };
    for (const [groupId, h] of this.partitions) {
      if (!h.runner.leader)
        return { ready: false, reason: `group ${groupId} (${h.topic}/${h.partition}) has no leader` };
    }
    return { ready: true, reason: "" };
  }

  groupRunners(): ReadonlyMap<GroupId, GroupRunner> {
    return this.groups;
  }

  metadataState(): MetadataState {
    return this.metadata.state;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.consumerHub.stop().catch(() => undefined);
    if (this.ticker) clearInterval(this.ticker);
    for (const runner of this.groups.values()) runner.stop();
    for (const h of this.partitions.values()) h.feed.wakeAll();
    this.changes.poke();
  }
}

function confOf(voters: NodeId[]): ConfState {
  return { voters: [...voters], learners: [], votersOutgoing: [] };
}

function retentionWire(r: RetentionSpec) {
  return {
    maxAgeMs: BigInt(r.maxAgeMs),
    maxBytes: BigInt(r.maxBytes),
    maxMessages: BigInt(r.maxMessages),
    keepUnacknowledged: r.keepUnacknowledged,
  };
}
