import { MemoryStorage } from "../memory-storage.js";
import { type ConfState, type Message, MessageType, type NodeId } from "../types.js";
import { SafetyChecker, SafetyViolation } from "./checker.js";
import { SimNetwork } from "./network.js";
import { seededRandom } from "./prng.js";
import { type SimEnv, SimNode } from "./sim-node.js";

export { SafetyViolation } from "./checker.js";

/**
 * A seeded, deterministic cluster: virtual time, a network that drops, delays, duplicates and
 * reorders (network.ts), partitions, crashes and restarts, membership changes and transfers while
 * clients propose. Raft's safety properties are checked as it runs (checker.ts); a violation throws
 * SafetyViolation. This file is the driver: the clock, the faults, the clients and the final checks;
 * each node's disk, state machine and Ready loop are in sim-node.ts.
 */

export interface SimOptions {
  seed: number;
  voters?: number;
  /** Virtual milliseconds with faults, then a healing phase. */
  faultMs?: number;
  dropRate?: number;
  duplicateRate?: number;
  maxDelayMs?: number;
  membershipChanges?: boolean;
  /** Client proposals per virtual second while faults run. */
  proposalsPerSecond?: number;
  /**
   * Longest virtual fsync in ms. While a Ready is being persisted the node keeps stepping messages
   * and ticking, as the real I/O loop (cluster/group-runner.ts) does; a crash loses that Ready.
   */
  maxDiskMs?: number;
  verbose?: boolean;
}

export interface SimResult {
  seed: number;
  virtualMs: number;
  committed: number;
  proposed: number;
  leaderElections: number;
  crashes: number;
  partitions: number;
  confChanges: number;
  transfers: number;
  snapshotsSent: number;
  /** Proposals whose index ended holding another entry (their leader lost office): clients retry. */
  proposalsLost: number;
  /** Crashes that lost a Ready still being written. */
  crashesMidWrite: number;
}

const tickMs = 10;
const electionTicks = 10;
const encoder = new TextEncoder();

export class Simulation {
  private readonly rand: () => number;
  private readonly nodes = new Map<NodeId, SimNode>();
  private readonly network: SimNetwork;
  private readonly checker: SafetyChecker;
  private readonly env: SimEnv;
  private now = 0;
  private nextNodeNumber: number;
  private readonly log: string[] = [];
  private readonly o: Required<SimOptions>;
  private readonly stats: SimResult;

  constructor(options: SimOptions) {
    this.o = {
      voters: 3,
      faultMs: 4000,
      dropRate: 0.05,
      duplicateRate: 0.02,
      maxDelayMs: 15,
      membershipChanges: true,
      proposalsPerSecond: 200,
      maxDiskMs: 4,
      verbose: false,
      ...options,
    };
    this.rand = seededRandom(options.seed);
    this.network = new SimNetwork(this.rand, this.o);
    this.checker = new SafetyChecker((id, term) => {
      this.stats.leaderElections++;
      this.trace(`${id} is leader of term ${term}`);
    });
    // Flow control varies by seed: one entry per Append and a window of one reach paths big batches
    // hide. [bytes per Append, Appends in flight]; one-entry Appends with a window of one (50
    // entries/s here) could not keep up with the offered load, and no deployment would run them.
    const [maxSizePerMsg, maxInflightMsgs] = this.pick<[number, number]>([
      [1, 256],
      [64, 2],
      [64, 8],
      [4096, 1],
      [4096, 8],
      [4096, 256],
    ])!;
    this.trace(`flow control: ${maxSizePerMsg} bytes per Append, ${maxInflightMsgs} in flight`);
    this.env = {
      rand: this.rand,
      now: () => this.now,
      send: (messages) => this.send(messages),
      trace: (line) => this.trace(line),
      checker: this.checker,
      electionTicks,
      maxSizePerMsg,
      maxInflightMsgs,
      maxDiskMs: this.o.maxDiskMs,
    };
    this.stats = {
      seed: options.seed,
      virtualMs: 0,
      committed: 0,
      proposed: 0,
      leaderElections: 0,
      crashes: 0,
      partitions: 0,
      confChanges: 0,
      transfers: 0,
      snapshotsSent: 0,
      proposalsLost: 0,
      crashesMidWrite: 0,
    };
    const ids = Array.from({ length: this.o.voters }, (_, i) => `n${i + 1}`);
    this.nextNodeNumber = ids.length + 1;
    const conf: ConfState = { voters: ids, learners: [], votersOutgoing: [] };
    for (const id of ids) this.addNode(id, MemoryStorage.bootstrap(conf));
  }

  private trace(line: string): void {
    const text = `[${this.now}ms] ${line}`;
    this.log.push(text);
    if (this.log.length > 400) this.log.shift();
    if (this.o.verbose) console.log(text);
  }

  /** The last lines of the run, for a failure report. */
  recentTrace(): string {
    return this.log.slice(-60).join("\n");
  }

  private addNode(id: NodeId, storage: MemoryStorage): SimNode {
    const node = new SimNode(id, storage, this.env);
    this.nodes.set(id, node);
    node.boot();
    return node;
  }

  run(): SimResult {
    const end = this.o.faultMs;
    while (this.now < end) this.stepMs(true);
    this.heal();
    this.awaitLiveness();
    this.awaitProposalOutcomes();
    this.checker.checkLogMatching(this.alive());
    this.stats.virtualMs = this.now;
    this.stats.committed = this.checker.appliedCount;
    return this.stats;
  }

  private alive(): SimNode[] {
    return [...this.nodes.values()].filter((n) => n.raft && !n.removed);
  }

  private leaders(): SimNode[] {
    return this.alive().filter((n) => n.raft!.role === "leader");
  }

  private stepMs(faults: boolean): void {
    this.now++;
    this.deliver();
    if (this.now % tickMs === 0) for (const n of this.alive()) n.raft!.tick();
    if (faults) this.injectFaults();
    this.maybePropose(faults);
    for (const n of this.alive()) n.processReady();
    this.checker.checkStep(this.alive());
  }

  private deliver(): void {
    for (const msg of this.network.takeDue(this.now)) {
      const to = this.nodes.get(msg.to);
      const delivered = to?.raft !== undefined && !to.removed;
      if (delivered) to.raft!.step(msg);
      // The transport tells the leader how a snapshot transfer ended, as the real one does.
      if (msg.type === MessageType.Snapshot)
        this.nodes.get(msg.from)?.raft?.reportSnapshot(msg.to, delivered);
    }
  }

  private send(messages: Message[]): void {
    for (const m of messages) {
      const isSnapshot = m.type === MessageType.Snapshot;
      if (isSnapshot) this.stats.snapshotsSent++;
      if (!this.network.send(m, this.now) && isSnapshot)
        this.nodes.get(m.from)?.raft?.reportSnapshot(m.to, false);
    }
  }

  /** A client proposal to the current leader; returns false when it was refused (the client retries). */
  private propose(payload: string): boolean {
    const leader = this.leaders()[0];
    if (!leader) return false;
    const raft = leader.raft!;
    try {
      raft.propose(encoder.encode(payload));
    } catch {
      return false; // Dropped (transfer or limits): a client would retry elsewhere.
    }
    this.checker.recordProposal(payload, raft.log.lastIndex(), raft.term);
    this.stats.proposed++;
    return true;
  }

  private maybePropose(faults: boolean): void {
    const perMs = this.o.proposalsPerSecond / 1000;
    if (!faults || this.rand() >= perMs) return;
    this.propose(`p${this.stats.proposed}`);
  }

  private injectFaults(): void {
    const r = this.rand();
    const members = this.alive();
    if (r < 0.0015) {
      // Crash a node: its RaftNode (memory) is lost, storage (disk) and state machine stay.
      const victim = this.pick([...this.nodes.values()].filter((n) => n.raft && !n.removed));
      if (victim) {
        if (victim.crash()) this.stats.crashesMidWrite++;
        this.stats.crashes++;
        this.trace(`crash ${victim.id}`);
      }
    } else if (r < 0.004) {
      const down = this.pick([...this.nodes.values()].filter((n) => !n.raft && !n.removed));
      if (down) {
        down.boot();
        this.trace(`restart ${down.id}`);
      }
    } else if (r < 0.0052) {
      const a = this.pick(members);
      const b = this.pick(members.filter((n) => n !== a));
      if (a && b) {
        const oneWay = this.rand() < 0.3;
        this.network.cut(a.id, b.id);
        if (!oneWay) this.network.cut(b.id, a.id);
        this.stats.partitions++;
        this.trace(`partition ${a.id} ${oneWay ? "->" : "<->"} ${b.id}`);
      }
    } else if (r < 0.0062) {
      // Isolate a leader entirely.
      const leader = this.leaders()[0];
      if (leader) {
        for (const other of this.nodes.keys()) {
          if (other === leader.id) continue;
          this.network.cut(leader.id, other);
          this.network.cut(other, leader.id);
        }
        this.stats.partitions++;
        this.trace(`isolate leader ${leader.id}`);
      }
    } else if (r < 0.0085) {
      if (this.network.heal()) this.trace("heal partitions");
    } else if (r < 0.0095 && this.o.membershipChanges) {
      this.changeMembership();
    } else if (r < 0.0105) {
      const leader = this.leaders()[0];
      const target = leader && this.pick(leader.raft!.confState().voters.filter((v) => v !== leader.id));
      if (leader && target) {
        try {
          leader.raft!.transferLeadership(target);
          this.stats.transfers++;
          this.trace(`transfer ${leader.id} -> ${target}`);
        } catch {
          // Not possible now.
        }
      }
    }
  }
  private changeMembership(): void {
    const leader = this.leaders()[0];
    if (!leader) return;
    const conf = leader.raft!.confState();
    try {
      if (conf.learners.length > 0) {
        leader.raft!.proposeConfChange({ type: "promote", nodeId: conf.learners[0]! });
        this.trace(`propose promote ${conf.learners[0]}`);
      } else if (conf.voters.length < 5 && this.rand() < 0.6) {
        const id = `n${this.nextNodeNumber}`;
        leader.raft!.proposeConfChange({ type: "addLearner", nodeId: id });
        // A new node starts empty, knowing nothing of the group until the leader reaches it.
        this.nextNodeNumber++;
        this.addNode(id, new MemoryStorage());
        this.trace(`propose addLearner ${id}`);
      } else if (conf.voters.length > 3) {
        const victim = this.pick(conf.voters)!;
        leader.raft!.proposeConfChange({ type: "remove", nodeId: victim });
        this.trace(`propose remove ${victim}`);
      } else {
        return;
      }
      this.stats.confChanges++;
    } catch {
      // A change is pending: try later.
    }
  }

  private pick<T>(items: T[]): T | undefined {
    return items.length === 0 ? undefined : items[Math.floor(this.rand() * items.length)];
  }

  private heal(): void {
    this.network.heal();
    for (const n of this.nodes.values()) if (!n.raft && !n.removed) n.boot();
    this.trace("heal everything");
  }

  private get livenessBudgetMs(): number {
    return 60 * electionTicks * tickMs;
  }

  /** After healing: a leader within a bounded virtual time, and a new proposal applied by every voter. */
  private awaitLiveness(): void {
    const deadline = this.now + this.livenessBudgetMs;
    let attempt = 0;
    let payload = "";
    while (this.now < deadline) {
      this.stepMs(false);
      const leader = this.leaders()[0];
      if (payload !== "") {
        const voters = leader?.raft?.confState().voters ?? [];
        const done =
          voters.length > 0 &&
          voters.every((v) => {
            const n = this.nodes.get(v);
            const at = this.checker.proposal(payload)!.index;
            return n?.raft !== undefined && n.applied.get(at) === payload;
          });
        if (done) return;
      }
      // A client proposes, and again every few election timeouts while it sees no result (its
      // proposal may have been dropped with a leader that lost office).
      const retry = this.now % (electionTicks * tickMs * 5) === 0 && !this.isApplied(payload);
      if (leader && (payload === "" || retry)) {
        const next = `liveness${attempt}`;
        if (this.propose(next)) {
          payload = next;
          attempt++;
        }
      }
    }
    throw new SafetyViolation(
      `liveness: no leader committed a proposal to every voter within ${this.livenessBudgetMs} ms after healing\n${this.describe()}`,
    );
  }

  /**
   * Every proposal a leader accepted is decided: committed at the index it was given, or that index
   * now holds another entry (a client learns its proposal was lost and retries). Clients keep
   * writing until the commit index passes every proposal's index.
   */
  private awaitProposalOutcomes(): void {
    let highest = 0;
    for (const p of this.checker.allProposals().values()) highest = Math.max(highest, p.index);
    const deadline = this.now + this.livenessBudgetMs;
    let filler = 0;
    while (this.checker.maxCommitted < highest || !this.allApplied(highest)) {
      if (this.now >= deadline) {
        throw new SafetyViolation(
          `liveness: commit index ${this.checker.maxCommitted} did not reach the last proposal's index ${highest} within ${this.livenessBudgetMs} ms\n${this.describe()}`,
        );
      }
      const leader = this.leaders()[0];
      for (let i = 0; i < 16 && leader && leader.raft!.log.lastIndex() < highest; i++) {
        if (!this.propose(`filler${filler}`)) break;
        filler++;
      }
      this.stepMs(false);
    }
    for (const [payload, p] of this.checker.allProposals()) {
      if (!this.checker.hasApplied(p.index)) {
        throw new SafetyViolation(`proposal ${payload} at ${p.index} is undecided: nothing applied there`);
      }
      if (!this.checker.appliedAsProposed(payload, p)) this.stats.proposalsLost++;
    }
  }

  /** Some node applied this proposal. */
  private isApplied(payload: string): boolean {
    const p = this.checker.proposal(payload);
    return p !== undefined && this.checker.appliedAsProposed(payload, p);
  }

  /** Some node applied every index up to `index`. */
  private allApplied(index: number): boolean {
    for (const n of this.alive()) if (n.appliedIndex >= index) return true;
    return false;
  }

  /** Every node's Raft status, for failure reports. */
  describe(): string {
    return [...this.nodes.values()].map((n) => n.describe()).join("\n");
  }
}

/** Runs one seed; on a violation the error says how to replay it. */
export function runSeed(options: SimOptions): SimResult {
  const sim = new Simulation(options);
  try {
    return sim.run();
  } catch (err) {
    const e = err as Error;
    const voters = options.voters !== undefined && options.voters !== 3 ? ` --voters ${options.voters}` : "";
    e.message = `${e.message}\nseed ${options.seed} failed; replay with: npm run sim -- --seed ${options.seed}${voters} --verbose\nlast events:\n${sim.recentTrace()}`;
    throw e;
  }
}
