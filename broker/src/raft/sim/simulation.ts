import { MemoryStorage } from "../memory-storage.js";
import { RaftNode } from "../raft-node.js";
import { handleReady } from "../ready-loop.js";
import {
  type ConfChange,
  type ConfState,
  type Entry,
  EntryType,
  type HardState,
  type Message,
  MessageType,
  type NodeId,
  type Snapshot,
} from "../types.js";
import { seededRandom } from "./prng.js";

/**
 * A seeded, deterministic cluster: virtual time, a network that drops, delays, duplicates and
 * reorders, partitions, crashes and restarts, membership changes and transfers while clients propose.
 * Raft's safety properties are checked as it runs; a violation throws SafetyViolation.
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

export class SafetyViolation extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SafetyViolation";
  }
}

interface SimNode {
  id: NodeId;
  storage: MemoryStorage;
  raft: RaftNode | undefined;
  /** The state machine: applied normal entries by index (durable, like a partition store). */
  applied: Map<number, string>;
  appliedIndex: number;
  conf: ConfState;
  removed: boolean;
  /** A Ready's write handed to the "disk" and not yet durable: it completes (and the Ready goes on) at doneAt. */
  writing:
    | {
        update: { entries: Entry[]; hardState?: HardState; snapshot?: Snapshot };
        doneAt: number;
        complete: () => void;
      }
    | undefined;
  /** Commit index up to which this incarnation's log was checked against every other commit. */
  checkedCommit: number;
}

/** A client proposal and where the leader put it: it must end committed there, or be overwritten. */
interface Proposal {
  index: number;
  term: number;
}

interface InFlight {
  at: number;
  seq: number;
  msg: Message;
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
const decoder = new TextDecoder();
const encoder = new TextEncoder();

export class Simulation {
  private readonly rand: () => number;
  private readonly nodes = new Map<NodeId, SimNode>();
  private network: InFlight[] = [];
  private seq = 0;
  private now = 0;
  private blocked = new Set<string>();
  private readonly leaderOfTerm = new Map<number, NodeId>();
  /** index -> "term:type:data" of every entry any node applied: all nodes must agree. */
  private readonly appliedAt = new Map<number, string>();
  /** index -> term of every entry any node has seen committed (committed entries never change). */
  private readonly committedTerm: number[] = [];
  private maxCommitted = 0;
  /**
   * "index/term" -> the entry's type and data and the term before it, for every entry ever persisted
   * anywhere. One value per key is, by induction, the log matching property: same index and term,
   * same entry and same history.
   */
  private readonly persistedEntries = new Map<string, { prev: number | undefined; body: string }>();
  private readonly proposals = new Map<string, Proposal>();
  private nextNodeNumber: number;
  private readonly log: string[] = [];
  private readonly o: Required<SimOptions>;
  private readonly stats: SimResult;
  /** Flow control varies by seed: one entry per Append and a window of one reach paths big batches hide. */
  private readonly maxSizePerMsg: number;
  private readonly maxInflightMsgs: number;

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
    // [bytes per Append, Appends in flight]; one-entry Appends with a window of one (50 entries/s
    // here) could not keep up with the offered load, and no deployment would run them.
    [this.maxSizePerMsg, this.maxInflightMsgs] = this.pick<[number, number]>([
      [1, 256],
      [64, 2],
      [64, 8],
      [4096, 1],
      [4096, 8],
      [4096, 256],
    ])!;
    this.trace(`flow control: ${this.maxSizePerMsg} bytes per Append, ${this.maxInflightMsgs} in flight`);
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
    const node: SimNode = {
      id,
      storage,
      raft: undefined,
      applied: new Map(),
      appliedIndex: 0,
      conf: storage.initialState().confState,
      removed: false,
      writing: undefined,
      checkedCommit: 0,
    };
    this.nodes.set(id, node);
    this.boot(node);
    return node;
  }

  private boot(node: SimNode): void {
    node.writing = undefined;
    node.checkedCommit = 0;
    node.raft = new RaftNode(
      {
        id: node.id,
        groupId: 1,
        electionTicks,
        heartbeatTicks: 2,
        random: this.rand,
        maxSizePerMsg: this.maxSizePerMsg,
        maxInflightMsgs: this.maxInflightMsgs,
      },
      node.storage,
    );
  }

  run(): SimResult {
    const end = this.o.faultMs;
    while (this.now < end) this.stepMs(true);
    this.heal();
    this.awaitLiveness();
    this.awaitProposalOutcomes();
    this.checkLogMatching();
    this.stats.virtualMs = this.now;
    this.stats.committed = this.appliedAt.size;
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
    for (const n of this.alive()) this.processReady(n);
    this.checkStep();
  }

  private deliver(): void {
    if (this.network.length === 0) return;
    const due: InFlight[] = [];
    const later: InFlight[] = [];
    for (const f of this.network) (f.at <= this.now ? due : later).push(f);
    this.network = later;
    due.sort((a, b) => a.at - b.at || a.seq - b.seq);
    for (const f of due) {
      const to = this.nodes.get(f.msg.to);
      const delivered = to?.raft !== undefined && !to.removed;
      if (delivered) to.raft!.step(f.msg);
      // The transport tells the leader how a snapshot transfer ended, as the real one does.
      if (f.msg.type === MessageType.Snapshot)
        this.nodes.get(f.msg.from)?.raft?.reportSnapshot(f.msg.to, delivered);
    }
  }

  private send(messages: Message[]): void {
    for (const m of messages) {
      const isSnapshot = m.type === MessageType.Snapshot;
      if (isSnapshot) this.stats.snapshotsSent++;
      if (this.blocked.has(`${m.from}>${m.to}`) || this.rand() < this.o.dropRate) {
        if (isSnapshot) this.nodes.get(m.from)?.raft?.reportSnapshot(m.to, false);
        continue;
      }
      const copies = this.rand() < this.o.duplicateRate ? 2 : 1;
      for (let i = 0; i < copies; i++) {
        this.network.push({
          at: this.now + 1 + Math.floor(this.rand() * this.o.maxDelayMs),
          seq: this.seq++,
          msg: m,
        });
      }
    }
  }

  /**
   * The I/O loop of the Ready contract, with MemoryStorage as the disk. A Ready with something to
   * persist may take a few virtual ms to become durable; meanwhile the node goes on stepping and
   * ticking (but gets no new Ready), exactly as group-runner.ts awaits its fsync.
   */
  private processReady(n: SimNode): void {
    const raft = n.raft!;
    if (n.writing) {
      if (this.now < n.writing.doneAt) return;
      const { complete } = n.writing;
      n.writing = undefined;
      complete();
      if (n.raft !== raft || n.removed) return;
    }
    while (raft.hasReady()) {
      const rd = raft.ready();
      let deferred = false;
      // The shared Ready loop; the virtual disk may take a few ms, during which the Ready waits.
      handleReady(raft, rd, {
        restore: (snapshot) => this.installSnapshot(n, snapshot),
        persist: (update) => {
          if (this.o.maxDiskMs > 0 && this.rand() < 0.5) {
            deferred = true;
            const doneAt = this.now + 1 + Math.floor(this.rand() * this.o.maxDiskMs);
            return {
              // biome-ignore lint/suspicious/noThenProperty: the virtual disk's completion is a thenable on purpose (ready-loop.ts)
              then: (next: () => void) => {
                n.writing = {
                  update,
                  doneAt,
                  complete: () => {
                    this.persist(n, update);
                    next();
                    this.maybeCompact(n);
                  },
                };
              },
            } as PromiseLike<void>;
          }
          this.persist(n, update);
        },
        send: (messages) => this.send(messages),
        apply: (entries) => {
          for (const e of entries) this.apply(n, e);
        },
        onConfChange: (conf, cc, e) => this.confChanged(n, conf, cc, e),
      });
      if (deferred) return;
      this.maybeCompact(n);
      if (n.removed) return;
    }
  }

  private persist(
    n: SimNode,
    update: { entries: Entry[]; hardState?: HardState; snapshot?: Snapshot },
  ): void {
    if (update.snapshot) n.storage.applySnapshot(update.snapshot);
    if (update.entries.length > 0) {
      n.storage.append(update.entries);
      this.recordPersisted(n, update.entries);
    }
    if (update.hardState) n.storage.setHardState(update.hardState);
  }

  /** Log matching, checked as entries reach a disk (see persistedEntries). */
  private recordPersisted(n: SimNode, entries: Entry[]): void {
    let prev: number | undefined;
    try {
      prev = n.storage.term(entries[0]!.index - 1);
    } catch {
      prev = undefined; // Compacted below the batch: nothing to compare with.
    }
    for (const e of entries) {
      const key = `${e.index}/${e.term}`;
      const body = `${e.type}/${decoder.decode(e.data)}`;
      const seen = this.persistedEntries.get(key);
      if (seen === undefined) this.persistedEntries.set(key, { prev, body });
      else if (seen.body !== body || (seen.prev !== undefined && prev !== undefined && seen.prev !== prev)) {
        throw new SafetyViolation(
          `log matching: ${n.id} persisted entry ${key} after term ${prev} as "${body}", another node after term ${seen.prev} as "${seen.body}"`,
        );
      } else if (seen.prev === undefined) seen.prev = prev;
      prev = e.term;
    }
  }

  /** The invariants that must hold after every step. */
  private checkStep(): void {
    for (const n of this.alive()) {
      const raft = n.raft!;
      if (raft.role === "leader") this.checkLeader(n);
      // Committed entries never change: every commit index any node reaches agrees with all others.
      const committed = raft.log.committed;
      if (committed > n.checkedCommit) {
        for (let i = Math.max(n.checkedCommit + 1, raft.log.firstIndex()); i <= committed; i++) {
          const term = raft.log.term(i);
          const known = this.committedTerm[i];
          if (known === undefined) this.committedTerm[i] = term;
          else if (known !== term) {
            throw new SafetyViolation(
              `committed entry lost: ${n.id} committed index ${i} at term ${term}, another node at term ${known}`,
            );
          }
        }
        n.checkedCommit = committed;
        if (committed > this.maxCommitted) this.maxCommitted = committed;
      }
    }
  }

  /** At most one leader per term, and it holds every entry committed so far (leader completeness). */
  private checkLeader(n: SimNode): void {
    const raft = n.raft!;
    const previous = this.leaderOfTerm.get(raft.term);
    if (previous === n.id) return;
    if (previous !== undefined) {
      throw new SafetyViolation(`two leaders in term ${raft.term}: ${previous} and ${n.id}`);
    }
    this.leaderOfTerm.set(raft.term, n.id);
    this.stats.leaderElections++;
    this.trace(`${n.id} is leader of term ${raft.term}`);
    if (raft.log.lastIndex() < this.maxCommitted) {
      throw new SafetyViolation(
        `leader ${n.id} (term ${raft.term}) ends at ${raft.log.lastIndex()}, before the committed ${this.maxCommitted}`,
      );
    }
    for (let i = raft.log.firstIndex(); i <= this.maxCommitted; i++) {
      const term = this.committedTerm[i];
      if (term !== undefined && raft.log.term(i) !== term) {
        throw new SafetyViolation(
          `leader ${n.id} (term ${raft.term}) lacks committed entry ${i} of term ${term}`,
        );
      }
    }
  }

  /** A configuration entry the shared loop applied through the core (it skips what the core replayed at start). */
  private confChanged(n: SimNode, conf: ConfState, cc: ConfChange, e: Entry): void {
    n.conf = conf;
    if (e.index <= n.appliedIndex) return; // replayed after a restart: the state machine has it
    this.checkApplied(n, e);
    this.trace(
      `${n.id} applied ${cc.type} ${cc.nodeId} at ${e.index}: voters ${conf.voters.join(",")} learners ${conf.learners.join(",")}`,
    );
    if (cc.type === "remove" && cc.nodeId === n.id) n.removed = true;
    n.appliedIndex = e.index;
  }

  /** State machine safety: every node applies the same entry at an index. */
  private checkApplied(n: SimNode, e: Entry): void {
    const value = `${e.term}:${e.type}:${decoder.decode(e.data)}`;
    const seen = this.appliedAt.get(e.index);
    if (seen !== undefined && seen !== value) {
      throw new SafetyViolation(
        `state machine safety: ${n.id} applied "${value}" at ${e.index}, another node applied "${seen}"`,
      );
    }
    this.appliedAt.set(e.index, value);
  }

  private apply(n: SimNode, e: Entry): void {
    if (e.index <= n.appliedIndex) return;
    this.checkApplied(n, e);
    if (e.type === EntryType.Normal) {
      const payload = decoder.decode(e.data);
      const proposal = this.proposals.get(payload);
      if (proposal && (proposal.index !== e.index || proposal.term !== e.term)) {
        throw new SafetyViolation(
          `proposal ${payload} was placed at ${proposal.index} (term ${proposal.term}) but applied at ${e.index} (term ${e.term})`,
        );
      }
      n.applied.set(e.index, payload);
    }
    n.appliedIndex = e.index;
  }

  private maybeCompact(n: SimNode): void {
    const keep = 20;
    if (n.appliedIndex - n.storage.firstIndex() < 60) return;
    const index = n.appliedIndex - keep;
    const image = encoder.encode(JSON.stringify({ index: n.appliedIndex, applied: [...n.applied] }));
    // Snapshot at the applied index (the image is the state machine there), then drop old entries.
    n.storage.createSnapshot(n.appliedIndex, n.conf, image);
    n.storage.compact(index);
  }

  private installSnapshot(n: SimNode, snapshot: Snapshot): void {
    const index = snapshot.metadata.index;
    const image = JSON.parse(decoder.decode(snapshot.data)) as { index: number; applied: [number, string][] };
    n.applied = new Map(image.applied);
    n.appliedIndex = index;
    n.conf = snapshot.metadata.confState;
    this.trace(`${n.id} installed a snapshot at ${index}`);
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
    this.proposals.set(payload, { index: raft.log.lastIndex(), term: raft.term });
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
      // Crash a node: its RaftNode (memory) is lost, storage (disk) and state machine stay. A Ready
      // being written is lost, or (the write reached the disk just before the crash) only persisted.
      const victim = this.pick([...this.nodes.values()].filter((n) => n.raft && !n.removed));
      if (victim) {
        if (victim.writing) {
          this.stats.crashesMidWrite++;
          if (this.rand() < 0.5) this.persist(victim, victim.writing.update);
        }
        victim.raft = undefined;
        victim.writing = undefined;
        this.stats.crashes++;
        this.trace(`crash ${victim.id}`);
      }
    } else if (r < 0.004) {
      const down = this.pick([...this.nodes.values()].filter((n) => !n.raft && !n.removed));
      if (down) {
        this.boot(down);
        this.trace(`restart ${down.id}`);
      }
    } else if (r < 0.0052) {
      const a = this.pick(members);
      const b = this.pick(members.filter((n) => n !== a));
      if (a && b) {
        const oneWay = this.rand() < 0.3;
        this.blocked.add(`${a.id}>${b.id}`);
        if (!oneWay) this.blocked.add(`${b.id}>${a.id}`);
        this.stats.partitions++;
        this.trace(`partition ${a.id} ${oneWay ? "->" : "<->"} ${b.id}`);
      }
    } else if (r < 0.0062) {
      // Isolate a leader entirely.
      const leader = this.leaders()[0];
      if (leader) {
        for (const other of this.nodes.keys()) {
          if (other === leader.id) continue;
          this.blocked.add(`${leader.id}>${other}`);
          this.blocked.add(`${other}>${leader.id}`);
        }
        this.stats.partitions++;
        this.trace(`isolate leader ${leader.id}`);
      }
    } else if (r < 0.0085) {
      if (this.blocked.size > 0) this.trace("heal partitions");
      this.blocked.clear();
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
    this.blocked.clear();
    for (const n of this.nodes.values()) if (!n.raft && !n.removed) this.boot(n);
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
            const at = this.proposals.get(payload)!.index;
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
    for (const p of this.proposals.values()) highest = Math.max(highest, p.index);
    const deadline = this.now + this.livenessBudgetMs;
    let filler = 0;
    while (this.maxCommitted < highest || !this.allApplied(highest)) {
      if (this.now >= deadline) {
        throw new SafetyViolation(
          `liveness: commit index ${this.maxCommitted} did not reach the last proposal's index ${highest} within ${this.livenessBudgetMs} ms\n${this.describe()}`,
        );
      }
      const leader = this.leaders()[0];
      for (let i = 0; i < 16 && leader && leader.raft!.log.lastIndex() < highest; i++) {
        if (!this.propose(`filler${filler}`)) break;
        filler++;
      }
      this.stepMs(false);
    }
    for (const [payload, p] of this.proposals) {
      const applied = this.appliedAt.get(p.index);
      if (applied === undefined) {
        throw new SafetyViolation(`proposal ${payload} at ${p.index} is undecided: nothing applied there`);
      }
      if (applied !== `${p.term}:${EntryType.Normal}:${payload}`) this.stats.proposalsLost++;
    }
  }

  /** Some node applied this proposal. */
  private isApplied(payload: string): boolean {
    const p = this.proposals.get(payload);
    return p !== undefined && this.appliedAt.get(p.index) === `${p.term}:${EntryType.Normal}:${payload}`;
  }

  /** Some node applied every index up to `index`. */
  private allApplied(index: number): boolean {
    for (const n of this.alive()) if (n.appliedIndex >= index) return true;
    return false;
  }

  /** Every node's Raft status, for failure reports. */
  describe(): string {
    return [...this.nodes.values()]
      .map((n) => {
        if (!n.raft) return `${n.id}: down${n.removed ? " (removed)" : ""}`;
        const s = n.raft.status();
        const progress = [...s.progress]
          .map(([id, p]) => `${id}:${p.state}/${p.match}/${p.next}${p.recentActive ? "" : "!"}`)
          .join(" ");
        return `${n.id}: ${s.role} term ${s.term} lead ${s.leader || "-"} commit ${s.commit} applied ${s.applied} last ${s.lastIndex} first ${n.raft.log.firstIndex()} voters ${s.confState.voters.join(",")} learners ${s.confState.learners.join(",")}${n.removed ? " (removed)" : ""} ${progress}`;
      })
      .join("\n");
  }

  /** Log matching across whole logs at the end: where two logs agree on an entry, all before it agree. */
  private checkLogMatching(): void {
    const live = this.alive();
    for (let i = 0; i < live.length; i++) {
      for (let j = i + 1; j < live.length; j++) {
        const a = live[i]!.raft!.log;
        const b = live[j]!.raft!.log;
        const lo = Math.max(a.firstIndex(), b.firstIndex());
        const hi = Math.min(a.lastIndex(), b.lastIndex());
        let matched = false;
        for (let k = hi; k >= lo; k--) {
          const same = a.term(k) === b.term(k);
          if (matched && !same) {
            throw new SafetyViolation(
              `log matching: ${live[i]!.id} and ${live[j]!.id} agree at a later index but differ at ${k}`,
            );
          }
          if (same) matched = true;
        }
      }
    }
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
