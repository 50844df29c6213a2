import type { Ready } from "../../raft/raft-node.js";
import { handleReady, type PersistUpdate, type ReadyIo } from "../../raft/ready-loop.js";
import type { ConfChange, ConfState, Entry, GroupId, Message, NodeId, Snapshot } from "../../raft/types.js";
import { type Clock, nowMs, systemClock } from "../../util/clock.js";
import { ReadIndexTracker } from "../read/read-index.js";

/** The part of the Raft core a runner drives (etcd's RawNode shape). */
export interface RaftCore {
  tick(): void;
  step(m: Message): void;
  propose(data: Uint8Array): void;
  proposeConfChange(cc: ConfChange): void;
  applyConfChange(cc: ConfChange, index?: number): ConfState;
  transferLeadership(to: NodeId): void;
  campaign(): void;
  /** A linearizable read: the answer comes back as a ReadState in a later Ready. */
  readIndex(context: Uint8Array): void;
  reportSnapshot(id: NodeId, ok: boolean): void;
  reportUnreachable(id: NodeId): void;
  confState(): ConfState;
  status(): {
    applied: number;
    commit: number;
    term: number;
    lastIndex: number;
    /** On the leader: the index a member must hold to know its configuration (raft-node.ts). */
    confIndex?: number;
    /** Per member, as the leader sees it (empty on followers). */
    progress: ReadonlyMap<NodeId, { match: number; recentActive: boolean }>;
  };
  hasReady(): boolean;
  ready(): Ready;
  advance(rd: Ready): void;
}

/** What a group's state machine does with committed entries. */
export interface GroupStateMachine {
  /** Applies normal entries in order (conf changes are handled by the runner). Must be durable before the next call returns or be replayable from the Raft log. */
  apply(entries: Entry[]): Promise<void>;
  /**
   * Replaces the state with a snapshot's image. Runs before Raft persists the snapshot record
   * (raft/ready-loop.ts), so it must be one atomic write: the image, and the snapshot's index as
   * the applied index, together.
   */
  restore(snapshot: Snapshot): Promise<void>;
  onLeaderChange?(leader: NodeId | ""): void;
  onConfChange?(conf: ConfState): void;
}

export interface GroupIo {
  persist(groupId: GroupId, update: PersistUpdate): Promise<void>;
  send(messages: Message[]): void;
}

/**
 * Drives one Raft group: the I/O loop of the Ready contract (raft/ready-loop.ts: restore a
 * snapshot, persist, send, apply, advance). One Ready is in flight at a
 * time; everything that arrives meanwhile joins the next one, which is where batching comes from.
 */
export class GroupRunner {
  private running = false;
  private again = false;
  private stopped = false;
  leader: NodeId | "" = "";
  role = "follower";
  private failure: Error | undefined;
  /** When this node last got a message from the group's leader (nowMs of the clock); 0: never. */
  heardFromLeaderAt = 0;
  private readonly reads: ReadIndexTracker;

  constructor(
    readonly groupId: GroupId,
    readonly core: RaftCore,
    private readonly io: GroupIo,
    private readonly sm: GroupStateMachine,
    private readonly onFatal: (err: Error) => void,
    /** Time and the turn of the loop where the next Ready round runs (a simulation's own clock). */
    private readonly clock: Clock = systemClock,
  ) {
    this.reads = new ReadIndexTracker(
      {
        readIndex: (context) => this.core.readIndex(context),
        applied: () => this.core.status().applied,
        schedule: () => this.schedule(),
      },
      clock,
    );
  }

  tick(): void {
    if (this.stopped) return;
    this.core.tick();
    this.schedule();
  }

  step(m: Message): void {
    if (this.stopped) return;
    if (m.from === this.leader && m.from !== "") this.heardFromLeaderAt = nowMs(this.clock);
    this.core.step(m);
    this.schedule();
  }

  /** Proposes data; throws the core's error when this node cannot take proposals. */
  propose(data: Uint8Array): void {
    if (this.failure) throw this.failure;
    this.core.propose(data);
    this.schedule();
  }

  proposeConfChange(cc: ConfChange): void {
    this.core.proposeConfChange(cc);
    this.schedule();
  }

  /**
   * Resolves with a read index once this replica has applied it (ReadIndex, docs/raft.md): a read
   * served after that sees every write committed before the call. UNAVAILABLE when no leader confirms.
   */
  readIndex(signal: AbortSignal, timeoutMs: number): Promise<number> {
    return this.reads.read(signal, timeoutMs);
  }

  stop(): void {
    this.stopped = true;
  }

  get isLeader(): boolean {
    return this.role === "leader";
  }

  schedule(): void {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    this.clock.defer(() => void this.drive());
  }

  private async drive(): Promise<void> {
    try {
      do {
        this.again = false;
        while (!this.stopped && this.core.hasReady()) await this.handle(this.core.ready());
      } while (this.again && !this.stopped);
    } catch (err) {
      // A failed fsync or apply leaves memory and disk out of step: the node must stop rather than
      // acknowledge anything more (the same choice etcd and PostgreSQL make on fsync failure).
      this.failure = err as Error;
      this.stopped = true;
      this.onFatal(err as Error);
    } finally {
      this.running = false;
    }
  }

  /** The Ready contract's order lives in raft/ready-loop.ts, shared with the simulations. */
  private readonly readyIo: ReadyIo = {
    onSoftState: (soft) => {
      this.role = soft.role;
      if (soft.leader !== this.leader) {
        this.leader = soft.leader;
        this.sm.onLeaderChange?.(this.leader);
      }
    },
    restore: (snapshot) => this.sm.restore(snapshot),
    persist: (update) => this.io.persist(this.groupId, update),
    send: (messages) => this.io.send(messages),
    apply: (entries) => this.sm.apply(entries),
    onConfChange: (conf) => this.sm.onConfChange?.(conf),
  };

  private async handle(rd: Ready): Promise<void> {
    await handleReady(this.core, rd, this.readyIo);
    // Read-index answers are settled once this Ready's entries are applied (read-index.ts).
    this.reads.settle(rd.readStates);
  }
}
