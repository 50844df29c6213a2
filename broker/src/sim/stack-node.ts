import type { GroupIo, GroupRunner } from "../cluster/groups/group-runner.js";
import { MetadataGroup } from "../cluster/groups/metadata-group.js";
import { PartitionGroup } from "../cluster/groups/partition-group.js";
import { compactIfDue } from "../cluster/housekeeping/housekeeping.js";
import type { MetadataState, NodeAddress, PartitionPlacement } from "../cluster/state/metadata-state.js";
import type { PartitionSettingsView } from "../cluster/state/partition-state-machine.js";
import { RaftNode } from "../raft/raft-node.js";
import type { ConfState, GroupId, Message, NodeId, RaftStorage } from "../raft/types.js";
import { CrashDb } from "../storage/crash-db.js";
import { PartitionStore } from "../storage/partition-store.js";
import { RaftLogStore } from "../storage/raft-log-store.js";
import { ProcessClock, type VirtualTime } from "./virtual-time.js";

/** What a simulated node needs from the world it runs in. */
export interface NodeWorld {
  time: VirtualTime;
  random: () => number;
  initialNodes: NodeAddress[];
  send(messages: Message[]): void;
  keepLogEntries: number;
  maxDiskMs: number;
  tickMs: number;
  settings: PartitionSettingsView;
  proposalTimeoutMs: number;
  trace(line: string): void;
  /** A group could not go on (a failed write): a violation in a run without disk faults. */
  fatal(node: NodeId, err: Error): void;
  /** Called when a process finished starting, for the restart checks. */
  booted(node: StackNode): void;
}

/** One process of a node: what a crash throws away. */
export interface NodeProcess {
  clock: ProcessClock;
  logStore: RaftLogStore;
  store: PartitionStore;
  meta: MetadataGroup;
  partitions: Map<GroupId, PartitionGroup>;
  cores: Map<GroupId, RaftNode>;
  io: GroupIo;
  createCore(o: { groupId: GroupId; storage: RaftStorage }): RaftNode;
}

const confOf = (voters: NodeId[]): ConfState => ({ voters: [...voters], learners: [], votersOutgoing: [] });

/**
 * A node of the full-stack simulation: its disk (a CrashDb that outlives processes) and, while it
 * runs, one process built from the production parts: RaftLogStore and PartitionStore over the disk,
 * the metadata group and the partition groups as cluster/metadata-group.ts and
 * cluster/partition-group.ts assemble them, their runners on a clock of virtual time.
 */
export class StackNode {
  readonly disk: CrashDb;
  /** This node's clock offset from true time (skew), in microseconds. */
  skewMicros = 0;
  process: NodeProcess | undefined;
  /**
   * Groups this node was asked to join as a new member (not in the topic's placement), with what it
   * needs to start them: it is in no metadata group, so its own metadata state never names them.
   */
  readonly joined = new Map<GroupId, { name: string; placement: PartitionPlacement }>();
  private starting = 0;
  private booting = false;

  constructor(
    readonly id: NodeId,
    private readonly world: NodeWorld,
    private readonly initialMember: boolean,
  ) {
    this.disk = new CrashDb({
      schedule: (complete) => world.time.after(Math.floor(world.random() * (world.maxDiskMs + 1)), complete),
      clearChunk: 1 + Math.floor(world.random() * 8),
    });
  }

  get running(): boolean {
    return this.process !== undefined;
  }

  /** Starts a process over whatever the disk holds (resolves once it serves; never if it crashes first). */
  async start(): Promise<void> {
    // One process per disk: a start while one runs or boots is a no-op (two would share the disk).
    if (this.process || this.booting) return;
    this.booting = true;
    const attempt = ++this.starting;
    const w = this.world;
    const clock = new ProcessClock(w.time, () => this.skewMicros);
    const db = this.disk.open();
    const logStore = await RaftLogStore.open(db);
    const store = await PartitionStore.open(db);
    const cores = new Map<GroupId, RaftNode>();
    const io: GroupIo = {
      persist: (groupId, update) => logStore.persist(groupId, update),
      send: (messages) => w.send(messages),
    };
    const createCore = ({ groupId, storage }: { groupId: GroupId; storage: RaftStorage }) => {
      const core = new RaftNode(
        { id: this.id, groupId, electionTicks: 10, heartbeatTicks: 2, random: w.random },
        storage,
      );
      cores.set(groupId, core);
      return core;
    };
    const partitions = new Map<GroupId, PartitionGroup>();
    let process: NodeProcess | undefined;
    const meta = await MetadataGroup.open({
      self: this.id,
      initialNodes: w.initialNodes,
      bootstrap: confOf(this.initialMember ? w.initialNodes.map((n) => n.id) : []),
      logStore,
      metadataStore: store,
      createCore,
      io,
      proposalTimeoutMs: w.proposalTimeoutMs,
      onChange: (state) => {
        if (process) this.reconcile(process, state);
      },
      onLeaderChange: () => undefined,
      onFatal: (err) => w.fatal(this.id, err),
      clock,
    });
    if (attempt !== this.starting) return;
    this.booting = false;
    process = { clock, logStore, store, meta, partitions, cores, io, createCore };
    this.process = process;
    this.reconcile(process, meta.state);
    meta.runner.schedule();
    let ticks = 0;
    const tick = () => {
      for (const runner of this.runners(process!)) runner.tick();
      if (++ticks % 10 === 0) void this.compact(process!);
      clock.after(w.tickMs, tick);
    };
    clock.after(w.tickMs, tick);
    w.booted(this);
  }

  /** A power loss: the process is gone, the disk keeps what a crash keeps. */
  crash(): { keptUnsynced: number; lostUnsynced: number } {
    this.stopProcess();
    return this.disk.crash(this.world.random);
  }

  /** The disk is replaced: the node comes back with nothing (amnesia). */
  wipe(): void {
    this.stopProcess();
    this.disk.wipe();
    this.joined.clear();
  }

  private stopProcess(): void {
    this.booting = false;
    if (this.process) this.process.clock.alive = false;
    this.process = undefined;
    this.starting++;
  }

  runners(process: NodeProcess = this.process!): GroupRunner[] {
    return [process.meta.runner, ...[...process.partitions.values()].map((g) => g.runner)];
  }

  runner(groupId: GroupId): GroupRunner | undefined {
    const p = this.process;
    if (!p) return undefined;
    return groupId === p.meta.runner.groupId ? p.meta.runner : p.partitions.get(groupId)?.runner;
  }

  /** Starts the group here as a new, empty member (the simulation's membership driver adds it). */
  join(state: MetadataState, groupId: GroupId): void {
    for (const topic of Object.values(state.topics)) {
      const placement = topic.partitions.find((p) => p.groupId === groupId);
      if (placement)
        this.joined.set(groupId, { name: `${topic.spec.name}/${placement.partition}`, placement });
    }
    if (this.process) this.reconcile(this.process, state);
  }

  /** Starts the partition groups this node replicates (placement) or was asked to join. */
  private reconcile(process: NodeProcess, state: MetadataState): void {
    for (const topic of Object.values(state.topics)) {
      for (const p of topic.partitions) {
        if (process.partitions.has(p.groupId)) continue;
        if (p.replicas.includes(this.id))
          this.startPartition(process, `${topic.spec.name}/${p.partition}`, p);
      }
    }
    for (const [groupId, j] of this.joined)
      if (!process.partitions.has(groupId)) this.startPartition(process, j.name, j.placement);
  }

  private startPartition(process: NodeProcess, name: string, placement: PartitionPlacement): void {
    const w = this.world;
    const initial = placement.initial ?? placement.replicas;
    const group = new PartitionGroup({
      self: this.id,
      groupId: placement.groupId,
      name,
      bootstrap: confOf(initial.includes(this.id) ? initial : []),
      logStore: process.logStore,
      partitions: process.store,
      createCore: process.createCore,
      io: process.io,
      settings: w.settings,
      proposalTimeoutMs: w.proposalTimeoutMs,
      onLeaderChange: () => undefined,
      onFatal: (err) => w.fatal(this.id, err),
      clock: process.clock,
    });
    process.partitions.set(placement.groupId, group);
    if (group.fresh && initial[0] === this.id) group.runner.core.campaign();
    group.runner.schedule();
  }

  private async compact(process: NodeProcess): Promise<void> {
    for (const runner of this.runners(process)) {
      if (await compactIfDue(process.logStore, runner.groupId, runner.core, this.world.keepLogEntries))
        this.world.trace(`${this.id} compacted group ${runner.groupId} at ${runner.core.status().applied}`);
    }
  }
}
