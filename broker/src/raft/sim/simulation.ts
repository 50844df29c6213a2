import { MemoryStorage } from "../memory-storage.js";
import { decodeConfChange, RaftNode } from "../raft-node.js";
import { type ConfState, type Entry, EntryType, type Message, MessageType, type NodeId } from "../types.js";
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
  /** index -> "term:data" of every entry any node applied: all nodes must agree. */
  private readonly appliedAt = new Map<number, string>();
  private readonly proposals = new Set<string>();
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
      verbose: false,
      ...options,
    };
    this.rand = seededRandom(options.seed);
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
    };
    this.nodes.set(id, node);
    this.boot(node);
    return node;
  }

  private boot(node: SimNode): void {
    node.raft = new RaftNode(
      {
        id: node.id,
        groupId: 1,
        electionTicks,
        heartbeatTicks: 2,
        random: this.rand,
        maxSizePerMsg: 4096,
        maxInflightMsgs: 8,
      },
      node.storage,
    );
  }

  run(): SimResult {
    const end = this.o.faultMs;
    while (this.now < end) this.stepMs(true);
    this.heal();
    this.awaitLiveness();
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

  /** The I/O loop of the Ready contract, with MemoryStorage as the disk. */
  private processReady(n: SimNode): void {
    const raft = n.raft!;
    while (raft.hasReady()) {
      const rd = raft.ready();
      if (rd.snapshot) n.storage.applySnapshot(rd.snapshot);
      if (rd.entries.length > 0) n.storage.append(rd.entries);
      if (rd.hardState) n.storage.setHardState(rd.hardState);
      if (rd.softState?.role === "leader") this.onLeader(n);
      this.send(rd.messages);
      if (rd.snapshot) this.installSnapshot(n, rd.snapshot.data, rd.snapshot.metadata.index);
      for (const e of rd.committedEntries) this.apply(n, e);
      raft.advance(rd);
      this.maybeCompact(n);
    }
  }

  private onLeader(n: SimNode): void {
    const raft = n.raft!;
    this.stats.leaderElections++;
    const previous = this.leaderOfTerm.get(raft.term);
    if (previous && previous !== n.id) {
      throw new SafetyViolation(`two leaders in term ${raft.term}: ${previous} and ${n.id}`);
    }
    this.leaderOfTerm.set(raft.term, n.id);
    this.trace(`${n.id} is leader of term ${raft.term}`);
    // Leader completeness: every entry committed anywhere must be in the new leader's log.
    const first = raft.log.firstIndex();
    for (const [index, value] of this.appliedAt) {
      if (index < first) continue;
      const term = Number(value.slice(0, value.indexOf(":")));
      if (raft.log.term(index) !== term) {
        throw new SafetyViolation(
          `leader ${n.id} (term ${raft.term}) lacks committed entry ${index} of term ${term}`,
        );
      }
    }
  }

  private apply(n: SimNode, e: Entry): void {
    // After a restart Raft replays from the snapshot: configuration entries must reach Raft again
    // (applying them is idempotent), while the state machine skips what it already holds.
    if (e.type === EntryType.ConfChange && e.index <= n.appliedIndex) {
      n.conf = n.raft!.applyConfChange(decodeConfChange(e.data));
      return;
    }
    if (e.index <= n.appliedIndex) return;
    const value = `${e.term}:${e.type}:${decoder.decode(e.data)}`;
    const seen = this.appliedAt.get(e.index);
    if (seen !== undefined && seen !== value) {
      throw new SafetyViolation(
        `state machine safety: ${n.id} applied "${value}" at ${e.index}, another node applied "${seen}"`,
      );
    }
    this.appliedAt.set(e.index, value);
    if (e.type === EntryType.ConfChange) {
      const cc = decodeConfChange(e.data);
      n.conf = n.raft!.applyConfChange(cc);
      this.trace(
        `${n.id} applied ${cc.type} ${cc.nodeId} at ${e.index}: voters ${n.conf.voters.join(",")} learners ${n.conf.learners.join(",")}`,
      );
      if (cc.type === "remove" && cc.nodeId === n.id) n.removed = true;
    }
    if (e.type === EntryType.Normal) n.applied.set(e.index, decoder.decode(e.data));
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

  private installSnapshot(n: SimNode, data: Uint8Array, index: number): void {
    const image = JSON.parse(decoder.decode(data)) as { index: number; applied: [number, string][] };
    n.applied = new Map(image.applied);
    n.appliedIndex = index;
    n.conf = n.storage.initialState().confState;
    this.trace(`${n.id} installed a snapshot at ${index}`);
  }

  private maybePropose(faults: boolean): void {
    const perMs = this.o.proposalsPerSecond / 1000;
    if (!faults || this.rand() >= perMs) return;
    const leader = this.leaders()[0];
    if (!leader) return;
    const payload = `p${this.stats.proposed}`;
    try {
      leader.raft!.propose(encoder.encode(payload));
      this.proposals.add(payload);
      this.stats.proposed++;
    } catch {
      // Dropped (transfer or limits): a client would retry elsewhere.
    }
  }

  private injectFaults(): void {
    const r = this.rand();
    const members = this.alive();
    if (r < 0.0015) {
      // Crash a node: its RaftNode (memory) is lost, storage (disk) and state machine stay.
      const victim = this.pick([...this.nodes.values()].filter((n) => n.raft && !n.removed));
      if (victim) {
        victim.raft = undefined;
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
        const id = `n${this.nextNodeNumber++}`;
        // A new node starts empty, knowing nothing of the group until the leader reaches it.
        this.addNode(id, new MemoryStorage());
        leader.raft!.proposeConfChange({ type: "addLearner", nodeId: id });
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

  /** After healing: a leader within a bounded virtual time, and a new proposal applied by every voter. */
  private awaitLiveness(): void {
    const deadline = this.now + 60 * electionTicks * tickMs;
    const payload = "liveness";
    let proposed = false;
    while (this.now < deadline) {
      this.stepMs(false);
      const leader = this.leaders()[0];
      if (!proposed && leader) {
        try {
          leader.raft!.propose(encoder.encode(payload));
          proposed = true;
        } catch {
          // Try again on a later step.
        }
      }
      if (proposed) {
        const voters = leader?.raft?.confState().voters ?? [];
        const done =
          voters.length > 0 &&
          voters.every((v) => {
            const n = this.nodes.get(v);
            return n?.raft && [...n.applied.values()].includes(payload);
          });
        if (done) return;
        // A dropped proposal (its leader lost office) is proposed again, as a client would.
        if (!leader || ![...this.appliedAt.values()].some((v) => v.endsWith(`:${payload}`))) {
          if (this.now % (electionTicks * tickMs * 5) === 0) proposed = false;
        }
      }
    }
    throw new SafetyViolation(
      `liveness: no leader committed a proposal to every voter within ${60 * electionTicks * tickMs} ms after healing\n${this.describe()}`,
    );
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

  /** Log matching: where two logs hold an entry of the same index and term, all before it match. */
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
    e.message = `${e.message}\nseed ${options.seed} failed; replay with: npm run sim -- --seed ${options.seed} --verbose\nlast events:\n${sim.recentTrace()}`;
    throw e;
  }
}
