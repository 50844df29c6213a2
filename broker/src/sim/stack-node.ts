import { confOf, GroupRegistry } from "../cluster/groups/group-registry.js";
import type { GroupRunner } from "../cluster/groups/group-runner.js";
import { MetadataGroup } from "../cluster/groups/metadata-group.js";
import { ChangeSignal } from "../cluster/groups/waiters.js";
import { compactIfDue } from "../cluster/housekeeping/housekeeping.js";
import { formedOnDisk } from "../cluster/membership/identity-startup.js";
import { GroupMaintenance } from "../cluster/membership/maintenance.js";
import { type NodeIncarnation, resolveIdentity } from "../cluster/membership/node-identity.js";
import {
  type MetadataCommand,
  type MetadataResult,
  metadataGroupId,
  type NodeAddress,
} from "../cluster/state/metadata-state.js";
import type { NodeConfig } from "../config/config.js";
import { defaultConfig } from "../config/defaults.js";
import { unavailable } from "../engine/errors.js";
import { sendOnlyPeerPort } from "../engine/ports.js";
import { silentLogger } from "../observability/logger.js";
import { RaftNode } from "../raft/raft-node.js";
import type { GroupId, Message, NodeId, RaftStorage } from "../raft/types.js";
import { CrashDb } from "../storage/crash-db.js";
import type { Db } from "../storage/db.js";
import { hasRaftState, loadIdentity, saveIdentity } from "../storage/identity-store.js";
import { PartitionStore } from "../storage/partition-store.js";
import { RaftLogStore } from "../storage/raft-log-store.js";
import type { Clock } from "../util/clock.js";
import { ProcessClock, type VirtualTime } from "./virtual-time.js";

/** What a simulated node needs from the world it runs in. */
export interface NodeWorld {
  time: VirtualTime;
  random: () => number;
  clusterId: string;
  initialNodes: NodeAddress[];
  send(messages: Message[]): void;
  /** A request to another node over the simulated network (network.ts `call`). */
  call<T>(from: NodeId, to: NodeId, clock: Clock, handle: (node: StackNode) => T | Promise<T>): Promise<T>;
  keepLogEntries: number;
  maxDiskMs: number;
  tickMs: number;
  settings: { dedupWindowMs: number; dedupMaxIds: number };
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
  /** The incarnation this process resolved at start (node-identity.ts). */
  identity: NodeIncarnation;
  logStore: RaftLogStore;
  store: PartitionStore;
  meta: MetadataGroup;
  /** The groups that run here, as the node runs them (group-registry.ts). */
  groups: GroupRegistry;
  /** Every Raft core this process created, by group (a stopped group's core stays until replaced). */
  cores: Map<GroupId, RaftNode>;
}

/** How often (in ticks) the node reconciles its groups, maintains them and compacts, as cluster-node.ts. */
const maintenanceTicks = 10;

/**
 * A node of the full-stack simulation: its disk (a CrashDb that outlives processes) and, while it
 * runs, one process built from the production parts: its identity resolved as a starting node does
 * (identity-startup.ts: the record on disk, or the initial peers asked whether the cluster formed),
 * RaftLogStore and PartitionStore over the disk, the metadata group (metadata-group.ts), the data
 * groups the metadata places here (group-registry.ts), and the leaders' background work
 * (maintenance.ts: membership steps towards the placement, re-admission of a node that lost its
 * disk, leadership placement, replica moves), all on a clock of virtual time.
 */
export class StackNode {
  readonly disk: CrashDb;
  /** This node's clock offset from true time (skew), in microseconds. */
  skewMicros = 0;
  process: NodeProcess | undefined;
  /** The incarnation on this disk, once a process resolved it (kept across crashes, gone with the disk). */
  identity: NodeIncarnation | undefined;
  /** While a process is starting or runs: its answer to another node's formation check. */
  formation: (() => boolean) | undefined;
  private starting = 0;
  private bootClock: ProcessClock | undefined;

  constructor(
    readonly id: NodeId,
    readonly address: NodeAddress,
    private readonly world: NodeWorld,
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
    if (this.process || this.bootClock) return;
    const attempt = ++this.starting;
    const w = this.world;
    const clock = new ProcessClock(w.time, () => this.skewMicros);
    this.bootClock = clock;
    const db = this.disk.open();
    const logStore = await RaftLogStore.open(db);
    const store = await PartitionStore.open(db);
    const initialPeers = w.initialNodes.map((n) => n.id);
    this.formation = () => formedOnDisk(this.id, initialPeers, logStore);
    const identity = await this.resolveIdentity(db, clock, initialPeers);
    this.identity = identity;
    w.trace(`${this.id} is incarnation ${identity.incarnation}${identity.original ? " (original)" : ""}`);
    const config = this.config();
    const cores = new Map<GroupId, RaftNode>();
    const createCore = ({ groupId, storage }: { groupId: GroupId; storage: RaftStorage }) => {
      const core = new RaftNode(
        {
          id: this.id,
          groupId,
          electionTicks: 10,
          heartbeatTicks: 2,
          random: w.random,
          incarnation: identity.incarnation,
          original: identity.original,
        },
        storage,
      );
      cores.set(groupId, core);
      return core;
    };
    const groups = new GroupRegistry({
      self: this.id,
      config,
      logger: silentLogger(),
      logStore,
      partitions: store,
      // Requests between nodes go through world.call (proposeSystem, formation checks).
      transport: sendOnlyPeerPort((messages) => w.send(messages)),
      createCore,
      changes: new ChangeSignal(clock),
      proposalTimeoutMs: w.proposalTimeoutMs,
      onFatal: (err) => w.fatal(this.id, err),
      clock,
    });
    const meta = await MetadataGroup.open({
      self: this.id,
      initialNodes: w.initialNodes,
      bootstrap: confOf(initialPeers.includes(this.id) ? initialPeers : []),
      logStore,
      metadataStore: store,
      createCore,
      io: groups.io,
      proposalTimeoutMs: w.proposalTimeoutMs,
      onChange: (state) => groups.reconcile(state),
      onLeaderChange: () => undefined,
      onFatal: (err) => w.fatal(this.id, err),
      clock,
    });
    if (attempt !== this.starting) return;
    this.bootClock = undefined;
    groups.addMetadata(metadataGroupId, meta.runner);
    groups.reconcile(meta.state);
    const process: NodeProcess = { clock, identity, logStore, store, meta, groups, cores };
    this.process = process;
    const maintenance = new GroupMaintenance({
      nodeId: this.id,
      config,
      logger: silentLogger(),
      incarnation: identity,
      metadataState: () => meta.state,
      metadataGroup: () => meta.runner,
      dataGroups: () => groups.dataGroups(),
      proposeSystem: (command) => this.proposeSystem(process, command),
    });
    meta.runner.schedule();
    let ticks = 0;
    const tick = () => {
      groups.tick();
      if (++ticks % maintenanceTicks === 0) {
        void this.compact(process);
        groups.reconcile(meta.state);
        void maintenance.run(ticks).catch((err: Error) => w.trace(`${this.id} maintenance: ${err.message}`));
      }
      clock.after(w.tickMs, tick);
    };
    clock.after(w.tickMs, tick);
    w.booted(this);
  }

  /** As identity-startup.ts does, over this disk and the simulated network, on the process's clock. */
  private resolveIdentity(db: Db, clock: ProcessClock, initialPeers: NodeId[]): Promise<NodeIncarnation> {
    const w = this.world;
    return resolveIdentity(
      { clusterId: w.clusterId, nodeId: this.id, initialPeers, retryMs: 100, progressMs: 1000 },
      {
        load: () => loadIdentity(db),
        save: (id) => saveIdentity(db, id),
        hasRaftState: () => hasRaftState(db),
        askFormed: (peer) =>
          w.call(this.id, peer, clock, (node) => {
            if (!node.formation) throw new Error(`${peer} is not running`);
            return node.formation();
          }),
        sleep: (ms) => new Promise((resolve) => clock.after(ms, resolve)),
        info: (message) => w.trace(`${this.id}: ${message}`),
        warn: (message) => w.trace(`${this.id}: ${message}`),
        // Seeded, so a run replays; 64 bits as in production.
        newIncarnation: () =>
          [0, 1]
            .map(() =>
              Math.floor(w.random() * 2 ** 32)
                .toString(16)
                .padStart(8, "0"),
            )
            .join(""),
      },
    );
  }

  /** The node's configuration: the defaults, with this simulation's members and partition settings. */
  private config(): NodeConfig {
    return {
      ...defaultConfig,
      nodeId: this.id,
      region: this.address.region,
      peers: this.world.initialNodes.map((n) => ({ ...n })),
      partitions: { ...defaultConfig.partitions, ...this.world.settings },
    };
  }

  /** As peer-requests.ts `proposeSystem`: here when this node leads, else through the known leader. */
  private proposeSystem(process: NodeProcess, command: MetadataCommand): Promise<MetadataResult> {
    const leader = process.meta.runner.leader;
    if (!leader) return Promise.reject(unavailable("no metadata leader known yet"));
    if (leader === this.id) return process.meta.propose(command);
    return this.world.call(this.id, leader, process.clock, (node) => {
      const there = node.process;
      if (!there?.meta.runner.isLeader) throw unavailable(`${leader} does not lead the metadata group`);
      return there.meta.propose(command);
    });
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
    this.identity = undefined;
  }

  private stopProcess(): void {
    if (this.bootClock) this.bootClock.alive = false;
    if (this.process) this.process.clock.alive = false;
    this.bootClock = undefined;
    this.process = undefined;
    this.formation = undefined;
    this.starting++;
  }

  runners(): GroupRunner[] {
    const p = this.process;
    return p ? [...p.groups.runners().values()] : [];
  }

  runner(groupId: GroupId): GroupRunner | undefined {
    return this.process?.groups.runner(groupId);
  }

  /** The cores of the groups running now (not those of groups stopped here). */
  liveCores(): [GroupId, RaftNode][] {
    const p = this.process;
    if (!p) return [];
    return [...p.cores].filter(([groupId, core]) => p.groups.runner(groupId)?.core === core);
  }

  private async compact(process: NodeProcess): Promise<void> {
    for (const runner of process.groups.runners().values()) {
      if (await compactIfDue(process.logStore, runner.groupId, runner.core, this.world.keepLogEntries))
        this.world.trace(`${this.id} compacted group ${runner.groupId} at ${runner.core.status().applied}`);
    }
  }
}
