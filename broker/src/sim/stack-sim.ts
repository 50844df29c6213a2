import { retentionProposal } from "../cluster/housekeeping/housekeeping.js";
import { encodeRetentionEntry } from "../cluster/state/commands.js";
import type { NodeAddress } from "../cluster/state/metadata-state.js";
import { seededRandom } from "../raft/sim/prng.js";
import type { GroupId, Message, NodeId } from "../raft/types.js";
import type { Clock } from "../util/clock.js";
import { SimPublishers } from "./clients.js";
import { MembershipFaults } from "./membership-faults.js";
import { SimNetwork } from "./network.js";
import { StackChecks, StackViolation } from "./stack-checks.js";
import { StackNode } from "./stack-node.js";
import { StackSubscriber } from "./stack-subscriber.js";
import { VirtualTime } from "./virtual-time.js";

/**
 * The full-stack simulation: nodes built from the production parts (stack-node.ts) on virtual
 * time, a network that drops, delays, duplicates and partitions, power losses that keep only what
 * a crash-faithful disk keeps (a crash can land between any two awaits of the stack, since every
 * await of it is a disk operation, a timer or a message of this simulation), restarts, membership
 * changes through the metadata group (membership-faults.ts: a spare added, replicas moved away and
 * back, carried out by the leaders' production maintenance), disk loss (amnesia: the node resolves a
 * new incarnation and is re-admitted), skewed and jumping clocks, compaction at a small log,
 * retention, and clients that publish with message ids and retry with the same id. stack-checks.ts
 * holds the invariants, checked after every step.
 */
export interface StackSimOptions {
  seed: number;
  /** Initial members (every topic partition is replicated on all of them). */
  nodes?: number;
  /** Nodes that start empty and are added to groups by the membership nemesis. */
  spares?: number;
  partitions?: number;
  /** Virtual ms of faults, then the healing phase. */
  faultMs?: number;
  keepLogEntries?: number;
  /** Wipe a node's disk now and then (on by default: the node must be re-admitted as a new incarnation). */
  amnesia?: boolean;
  verbose?: boolean;
}

export interface StackSimResult {
  seed: number;
  virtualMs: number;
  steps: number;
  crashes: number;
  /** Crashes that lost writes the disk had not synced. */
  lostWrites: number;
  wipes: number;
  snapshots: number;
  confChanges: number;
  /** Members added to a group again after they had been removed from it. */
  readded: number;
  /** Members whose admitted incarnation changed (re-admitted after losing their disk). */
  readmitted: number;
  /** Replica moves the metadata accepted. */
  moves: number;
  retentionEntries: number;
  published: number;
  acked: number;
  retried: number;
  duplicatesAcked: number;
  /** Messages the subscribers got (through the production read path). */
  delivered: number;
}

export type StackTotals = Omit<StackSimResult, "seed">;

/** Totals of nothing yet, to add seeds' results to. */
export function emptyTotals(): StackTotals {
  return {
    virtualMs: 0,
    steps: 0,
    crashes: 0,
    lostWrites: 0,
    wipes: 0,
    snapshots: 0,
    confChanges: 0,
    readded: 0,
    readmitted: 0,
    moves: 0,
    retentionEntries: 0,
    published: 0,
    acked: 0,
    retried: 0,
    duplicatesAcked: 0,
    delivered: 0,
  };
}

export function addTotals(totals: StackTotals, r: StackSimResult): void {
  for (const k of Object.keys(totals) as (keyof StackTotals)[]) totals[k] += r[k];
}

const tickMs = 10;
const topic = "sim";

export class StackSimulation {
  private readonly time = new VirtualTime();
  private readonly rand: () => number;
  private readonly nodes: StackNode[] = [];
  private readonly checks: StackChecks;
  private readonly o: Required<StackSimOptions>;
  private readonly network: SimNetwork;
  private faults = true;
  private readonly log: string[] = [];
  private readonly publishers: SimPublishers;
  private readonly membership: MembershipFaults;
  private subscribers: StackSubscriber[] = [];
  private readonly stats: StackSimResult;
  /** The first violation found inside a callback of the code under test; the step loop throws it. */
  private failure: Error | undefined;

  constructor(options: StackSimOptions) {
    this.o = {
      nodes: 3,
      spares: 1,
      partitions: 2,
      faultMs: 3000,
      keepLogEntries: 6,
      amnesia: true,
      verbose: false,
      ...options,
    };
    this.rand = seededRandom(options.seed);
    this.stats = { seed: options.seed, ...emptyTotals() };
    const address = (id: string, i: number): NodeAddress => ({
      id,
      region: ["eu", "us", "ap"][i % 3]!,
      zone: "",
      peerAddress: `${id}:7100`,
      clientAddress: `${id}:7000`,
    });
    const initial = Array.from({ length: this.o.nodes }, (_, i) => address(`n${i + 1}`, i));
    const world = {
      time: this.time,
      random: this.rand,
      clusterId: "sim",
      initialNodes: initial,
      send: (messages: Message[]) => {
        try {
          this.checks.sent(messages);
        } catch (err) {
          this.fail(err as Error);
        }
        this.network.send(messages);
      },
      call: <T>(from: NodeId, to: NodeId, clock: Clock, handle: (node: StackNode) => T | Promise<T>) =>
        this.network.call(from, to, clock, handle),
      keepLogEntries: this.o.keepLogEntries,
      maxDiskMs: 3,
      tickMs,
      // A window longer than the run: every retry of an id must find it (the checks rely on it).
      settings: { dedupWindowMs: 3_600_000, dedupMaxIds: 100_000 },
      proposalTimeoutMs: 1500,
      trace: (line: string) => this.trace(line),
      fatal: (node: NodeId, err: Error) =>
        this.fail(new StackViolation(`${node} stopped on a storage failure: ${err.message}`)),
      booted: (n: StackNode) => {
        this.trace(`${n.id} started`);
        try {
          this.checks.restarted(n);
        } catch (err) {
          this.fail(err as Error);
        }
      },
    };
    for (const n of initial) this.nodes.push(new StackNode(n.id, n, world));
    for (let i = 0; i < this.o.spares; i++)
      this.nodes.push(new StackNode(`s${i + 1}`, address(`s${i + 1}`, i), world));
    this.checks = new StackChecks(() => this.nodes);
    this.membership = new MembershipFaults({
      nodes: () => this.nodes,
      initial: initial.map((n) => n.id),
      groupIds: () => this.groupIds(),
      pick: (items) => this.pick(items),
      trace: (line) => this.trace(line),
    });
    this.publishers = new SimPublishers(
      this.time,
      (items) => this.pick(items),
      this.rand,
      () => this.nodes,
      (ack) => {
        try {
          this.checks.ack(ack);
        } catch (err) {
          this.fail(err as Error);
        }
      },
    );
    this.network = new SimNetwork(
      this.time,
      this.rand,
      () => this.nodes,
      (to, m) => {
        this.trace(`${to} receives a snapshot of group ${m.groupId} at ${m.snapshot?.metadata.index}`);
        this.checks.forget(to);
      },
    );
  }

  /** After every step of virtual time: a failure found in a callback, then the invariants. */
  private readonly afterStep = (): void => {
    if (this.failure) throw this.failure;
    this.checks.step();
  };

  private fail(err: Error): void {
    this.failure ??= err;
  }

  /** Starts a node's process; whatever goes wrong while it starts is a finding, not a crash of the run. */
  private start(n: StackNode): void {
    n.start().catch((err: Error) => this.fail(err));
  }

  private trace(line: string): void {
    const entry = `[${this.time.now}ms #${this.time.steps}] ${line}`;
    this.log.push(entry);
    if (this.log.length > 120) this.log.shift();
    if (this.o.verbose) console.log(entry);
  }

  recentTrace(): string {
    return this.log.slice(-60).join("\n");
  }

  private pick<T>(items: T[]): T | undefined {
    return items.length === 0 ? undefined : items[Math.floor(this.rand() * items.length)];
  }

  async run(): Promise<StackSimResult> {
    for (const n of this.nodes) this.start(n);
    await this.createTopic();
    this.subscribers = this.groupIds().map((g) => new StackSubscriber(g, (err) => this.fail(err)));
    const keepSubscribed = () => {
      for (const s of this.subscribers) s.maintain(this.nodes, (items) => this.pick(items));
      this.time.after(100, keepSubscribed);
    };
    keepSubscribed();
    this.every(3, () => {
      const groupId = this.pick(this.groupIds());
      if (groupId !== undefined) this.publishers.publish(groupId);
    });
    this.every(15, () => this.nemesis());
    this.every(200, () => this.retention());
    this.every(200, () => this.membership.addSpares());
    await this.time.runUntil(this.o.faultMs, this.afterStep);
    this.heal();
    await this.settle();
    this.stats.snapshots = this.network.snapshots;
    this.stats.published = this.publishers.published;
    this.stats.retried = this.publishers.retried;
    this.stats.duplicatesAcked = this.publishers.duplicatesAcked;
    this.stats.virtualMs = this.time.now;
    this.stats.steps = this.time.steps;
    this.stats.acked = this.checks.acks.size;
    this.stats.confChanges = this.checks.membership.changes;
    this.stats.readded = this.checks.membership.readded;
    this.stats.readmitted = this.checks.membership.readmitted;
    this.stats.moves = this.membership.movesAccepted;
    return this.stats;
  }

  private every(ms: number, action: () => void): void {
    const loop = () => {
      if (!this.faults) return;
      action();
      this.time.after(Math.max(1, Math.floor(ms * (0.5 + this.rand()))), loop);
    };
    this.time.after(ms, loop);
  }

  /** The topic every partition group belongs to, created through the metadata group. */
  private async createTopic(): Promise<void> {
    const deadline = 5000;
    for (;;) {
      await this.time.runUntil(this.time.now + 20, this.afterStep);
      const leader = this.nodes.find((n) => n.process?.meta.runner.isLeader);
      if (leader) {
        const result = await Promise.race([
          leader.process!.meta.propose({
            type: "createTopic",
            spec: {
              name: topic,
              partitions: this.o.partitions,
              replicationFactor: this.o.nodes,
              retention: { maxAgeMs: 0, maxBytes: 0, maxMessages: 24, keepUnacknowledged: false },
              homeRegion: "",
            },
            atMicros: leader.process!.clock.nowMicros(),
            ifAbsent: true,
          }),
          this.time.runUntil(this.time.now + 500, this.afterStep).then(() => undefined),
        ]);
        if (result?.ok) return;
      }
      if (this.time.now > deadline) throw new StackViolation("no metadata leader created the topic in time");
    }
  }

  private groupIds(): GroupId[] {
    for (const n of this.nodes) {
      const t = n.process?.meta.state.topics[topic];
      if (t) return t.partitions.map((p) => p.groupId);
    }
    return [];
  }

  // ---- faults ----

  private nemesis(): void {
    const r = this.rand();
    const up = this.nodes.filter((n) => n.running);
    const down = this.nodes.filter((n) => !n.running);
    if (r < 0.05) {
      const victim = this.pick(up);
      if (!victim) return;
      this.checks.crashing(victim);
      const { lostUnsynced } = victim.crash();
      this.stats.crashes++;
      if (lostUnsynced > 0) this.stats.lostWrites++;
      this.trace(`power loss on ${victim.id} (${lostUnsynced} unsynced writes lost)`);
      this.time.after(50 + Math.floor(this.rand() * 400), () => this.start(victim));
    } else if (r < 0.08 && down.length === 0) {
      const victim = this.pick(up);
      if (!victim) return;
      if (this.o.amnesia && this.membership.mayWipe()) {
        const formed = this.nodes.some((n) => n !== victim && n.formation?.() === true);
        victim.wipe();
        this.checks.wiped(victim, formed);
        this.stats.wipes++;
        this.trace(`${victim.id} lost its disk`);
        this.time.after(100 + Math.floor(this.rand() * 400), () => this.start(victim));
      }
    } else if (r < 0.12) {
      const [a, b] = [this.pick(this.nodes), this.pick(this.nodes)];
      if (!a || !b || a === b) return;
      this.network.blocked.add(`${a.id}>${b.id}`);
      if (this.rand() < 0.7) this.network.blocked.add(`${b.id}>${a.id}`);
      this.trace(`partition ${a.id} / ${b.id}`);
    } else if (r < 0.16) {
      this.network.blocked.clear();
      this.trace("heal partitions");
    } else if (r < 0.19) {
      const n = this.pick(this.nodes)!;
      n.skewMicros = Math.floor((this.rand() - 0.5) * 4_000_000);
      this.trace(`${n.id} clock now ${n.skewMicros / 1000} ms off`);
    } else if (r < 0.22) {
      this.membership.moveReplica();
    } else if (r < 0.24) {
      this.network.dropRate = this.rand() * 0.1;
    }
  }

  /** Leaders propose retention entries as the node does (housekeeping.ts), on their own clocks. */
  private retention(): void {
    for (const n of this.nodes) {
      const p = n.process;
      if (!p) continue;
      for (const [groupId, group] of p.groups.partitionEntries()) {
        if (!group.runner.isLeader) continue;
        void retentionProposal({
          state: p.meta.state,
          topic,
          partition:
            p.meta.state.topics[topic]?.partitions.find((x) => x.groupId === groupId)?.partition ?? 0,
          groupId,
          store: p.store,
          nowMicros: p.clock.nowMicros(),
        }).then((entry) => {
          if (!entry || !group.runner.isLeader) return;
          try {
            group.runner.propose(encodeRetentionEntry(entry));
            this.stats.retentionEntries++;
          } catch {
            // leadership moved meanwhile
          }
        });
      }
    }
  }

  // ---- the end ----

  private heal(): void {
    this.faults = false;
    this.network.blocked.clear();
    this.network.dropRate = 0;
    for (const n of this.nodes) if (!n.running) this.start(n);
    this.trace("heal everything; clients retry what is not acknowledged");
  }

  /** Runs until every publish is acknowledged and every member of every group caught up, or fails. */
  private async settle(): Promise<void> {
    const budget = this.time.now + 30_000;
    while (this.time.now < budget) {
      await this.time.runUntil(this.time.now + 100, this.afterStep);
      if (this.publishers.pending.size > 0) continue;
      if (!this.caughtUp()) continue;
      if (this.subscriberBehind()) continue;
      this.checks.final((groupId) => this.members(groupId));
      for (const sub of this.subscribers) {
        sub.verify((g, offset) => this.checks.storedAt(g, offset));
        this.stats.delivered += sub.delivered;
      }
      return;
    }
    throw new StackViolation(
      `liveness: 30 s after healing, ${this.publishers.pending.size} publishes still unacknowledged (${[
        ...this.publishers.pending,
      ]
        .slice(0, 3)
        .map((m) => m.id)
        .join(
          ", ",
        )}), members not caught up or ${this.subscriberBehind() ?? "no subscriber behind"}:\n${this.describe()}`,
    );
  }

  /** Every group as every node sees it, for a failure report. */
  private describe(): string {
    const lines: string[] = [];
    for (const groupId of [0, ...this.groupIds()]) {
      for (const n of this.nodes) {
        const runner = n.runner(groupId);
        if (!runner) continue;
        const s = runner.core.status();
        const conf = runner.core.confState();
        const stored =
          groupId === 0 ? n.process!.meta.sm.appliedIndex : n.process!.store.appliedIndex(groupId);
        lines.push(
          `  group ${groupId} on ${n.id}: ${runner.role} (leader ${runner.leader || "-"}) term ${s.term} commit ${s.commit} applied ${s.applied} stored ${stored} last ${s.lastIndex} voters ${conf.voters.join(",")} learners ${conf.learners.join(",")}`,
        );
      }
    }
    return lines.join("\n");
  }

  /** A live subscriber that has not got every message the partition holds (what defect 8 of issue 17 was), if any. */
  private subscriberBehind(): string | undefined {
    for (const sub of this.subscribers) {
      const leader = this.nodes.find((n) => n.runner(sub.groupId)?.isLeader);
      const end = leader?.process?.store.nextOffset(sub.groupId);
      if (end === undefined) return `group ${sub.groupId} has no leader`;
      if (sub.position < end)
        return `the subscriber of group ${sub.groupId} is at offset ${sub.position}, the partition ends at ${end}`;
    }
    return undefined;
  }

  private members(groupId: GroupId): NodeId[] {
    const leader = this.nodes.find((n) => n.runner(groupId)?.isLeader);
    const conf = leader?.runner(groupId)?.core.confState();
    return conf ? [...conf.voters, ...conf.learners] : [];
  }

  private caughtUp(): boolean {
    for (const groupId of this.groupIds()) {
      // The leader by its core, of the highest term: a runner's role is what its last Ready said, so
      // a node whose Ready loop is still busy (a long apply: retention clearing rows chunk by chunk)
      // may think it leads after it stepped down, and comparing with it would pass too early.
      let leader: StackNode | undefined;
      let term = -1;
      for (const n of this.nodes) {
        const core = n.liveCores().find(([g]) => g === groupId)?.[1];
        if (core?.role === "leader" && core.term > term) {
          leader = n;
          term = core.term;
        }
      }
      if (!leader) return false;
      const applied = leader.runner(groupId)!.core.status().applied;
      for (const id of this.members(groupId)) {
        const node = this.nodes.find((n) => n.id === id);
        const s = node?.runner(groupId)?.core.status();
        if (!s || s.applied < applied) return false;
        if (node!.process!.store.appliedIndex(groupId) < leader.process!.store.appliedIndex(groupId))
          return false;
      }
    }
    return true;
  }
}

/** Runs one seed; a violation comes back as an error naming the seed, the step and the trace. */
export async function runStackSeed(options: StackSimOptions): Promise<StackSimResult> {
  const sim = new StackSimulation(options);
  try {
    return await sim.run();
  } catch (err) {
    const e = err as Error;
    throw new StackViolation(
      `${e.message}\n  seed ${options.seed} failed; replay with: npm run sim -- --stack full --seed ${options.seed} --verbose\n  last steps:\n${sim.recentTrace()}${e instanceof StackViolation ? "" : `\n${e.stack}`}`,
    );
  }
}
