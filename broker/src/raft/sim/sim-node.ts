import type { MemoryStorage } from "../memory-storage.js";
import { RaftNode } from "../raft-node.js";
import { handleReady } from "../ready-loop.js";
import {
  type ConfChange,
  type ConfState,
  type Entry,
  EntryType,
  type HardState,
  type Message,
  type NodeId,
  type Snapshot,
} from "../types.js";
import type { CheckedNode, SafetyChecker } from "./checker.js";

/** What a simulated node shares with the rest of the simulation. */
export interface SimEnv {
  /** The simulation's one seeded source: every random choice, in a fixed order. */
  rand: () => number;
  now(): number;
  send(messages: Message[]): void;
  trace(line: string): void;
  checker: SafetyChecker;
  electionTicks: number;
  maxSizePerMsg: number;
  maxInflightMsgs: number;
  /** Longest virtual fsync in ms (0: every write is durable at once). */
  maxDiskMs: number;
}

type Update = { entries: Entry[]; hardState?: HardState; snapshot?: Snapshot };

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/**
 * One simulated node: its Raft core (memory, lost in a crash), its MemoryStorage (the disk, which
 * survives), its state machine (applied normal entries by index, durable like a partition store),
 * and the I/O loop of the Ready contract between them.
 */
export class SimNode implements CheckedNode {
  raft: RaftNode | undefined = undefined;
  applied = new Map<number, string>();
  appliedIndex = 0;
  conf: ConfState;
  removed = false;
  /** A Ready's write handed to the "disk" and not yet durable: it completes (and the Ready goes on) at doneAt. */
  private writing: { update: Update; doneAt: number; complete: () => void } | undefined = undefined;
  checkedCommit = 0;

  constructor(
    readonly id: NodeId,
    readonly storage: MemoryStorage,
    private readonly env: SimEnv,
  ) {
    this.conf = storage.initialState().confState;
  }

  /** Starts (or restarts) the Raft core from what is on disk. */
  boot(): void {
    this.writing = undefined;
    this.checkedCommit = 0;
    this.raft = new RaftNode(
      {
        id: this.id,
        groupId: 1,
        electionTicks: this.env.electionTicks,
        heartbeatTicks: 2,
        random: this.env.rand,
        maxSizePerMsg: this.env.maxSizePerMsg,
        maxInflightMsgs: this.env.maxInflightMsgs,
      },
      this.storage,
    );
  }

  /**
   * Loses the Raft core; the disk and state machine stay. A Ready being written is lost, or (the
   * write reached the disk just before the crash) only persisted. True when a write was under way.
   */
  crash(): boolean {
    const midWrite = this.writing !== undefined;
    if (this.writing && this.env.rand() < 0.5) this.persist(this.writing.update);
    this.raft = undefined;
    this.writing = undefined;
    return midWrite;
  }

  /**
   * The I/O loop of the Ready contract, with MemoryStorage as the disk. A Ready with something to
   * persist may take a few virtual ms to become durable; meanwhile the node goes on stepping and
   * ticking (but gets no new Ready), exactly as group-runner.ts awaits its fsync.
   */
  processReady(): void {
    const raft = this.raft!;
    if (this.writing) {
      if (this.env.now() < this.writing.doneAt) return;
      const { complete } = this.writing;
      this.writing = undefined;
      complete();
      if (this.raft !== raft || this.removed) return;
    }
    while (raft.hasReady()) {
      const rd = raft.ready();
      let deferred = false;
      // The shared Ready loop; the virtual disk may take a few ms, during which the Ready waits.
      handleReady(raft, rd, {
        restore: (snapshot) => this.installSnapshot(snapshot),
        persist: (update) => {
          if (this.env.maxDiskMs > 0 && this.env.rand() < 0.5) {
            deferred = true;
            const doneAt = this.env.now() + 1 + Math.floor(this.env.rand() * this.env.maxDiskMs);
            return {
              // biome-ignore lint/suspicious/noThenProperty: the virtual disk's completion is a thenable on purpose (ready-loop.ts)
              then: (next: () => void) => {
                this.writing = {
                  update,
                  doneAt,
                  complete: () => {
                    this.persist(update);
                    next();
                    this.maybeCompact();
                  },
                };
              },
            } as PromiseLike<void>;
          }
          this.persist(update);
        },
        send: (messages) => this.env.send(messages),
        apply: (entries) => {
          for (const e of entries) this.apply(e);
        },
        onConfChange: (conf, cc, e) => this.confChanged(conf, cc, e),
      });
      if (deferred) return;
      this.maybeCompact();
      if (this.removed) return;
    }
  }

  private persist(update: Update): void {
    if (update.snapshot) this.storage.applySnapshot(update.snapshot);
    if (update.entries.length > 0) {
      this.storage.append(update.entries);
      this.env.checker.recordPersisted(this, update.entries);
    }
    if (update.hardState) this.storage.setHardState(update.hardState);
  }

  /** A configuration entry the shared loop applied through the core (it skips what the core replayed at start). */
  private confChanged(conf: ConfState, cc: ConfChange, e: Entry): void {
    this.conf = conf;
    if (e.index <= this.appliedIndex) return; // replayed after a restart: the state machine has it
    this.env.checker.checkApplied(this.id, e);
    this.env.trace(
      `${this.id} applied ${cc.type} ${cc.nodeId} at ${e.index}: voters ${conf.voters.join(",")} learners ${conf.learners.join(",")}`,
    );
    if (cc.type === "remove" && cc.nodeId === this.id) this.removed = true;
    this.appliedIndex = e.index;
  }

  private apply(e: Entry): void {
    if (e.index <= this.appliedIndex) return;
    const payload = this.env.checker.checkApplied(this.id, e);
    if (e.type === EntryType.Normal) this.applied.set(e.index, payload);
    this.appliedIndex = e.index;
  }

  private maybeCompact(): void {
    const keep = 20;
    if (this.appliedIndex - this.storage.firstIndex() < 60) return;
    const index = this.appliedIndex - keep;
    const image = encoder.encode(JSON.stringify({ index: this.appliedIndex, applied: [...this.applied] }));
    // Snapshot at the applied index (the image is the state machine there), then drop old entries.
    this.storage.createSnapshot(this.appliedIndex, this.conf, image);
    this.storage.compact(index);
  }

  private installSnapshot(snapshot: Snapshot): void {
    const index = snapshot.metadata.index;
    const image = JSON.parse(decoder.decode(snapshot.data)) as { index: number; applied: [number, string][] };
    this.applied = new Map(image.applied);
    this.appliedIndex = index;
    this.conf = snapshot.metadata.confState;
    this.env.trace(`${this.id} installed a snapshot at ${index}`);
  }

  /** The node's Raft status in one line, for failure reports. */
  describe(): string {
    if (!this.raft) return `${this.id}: down${this.removed ? " (removed)" : ""}`;
    const s = this.raft.status();
    const progress = [...s.progress]
      .map(([id, p]) => `${id}:${p.state}/${p.match}/${p.next}${p.recentActive ? "" : "!"}`)
      .join(" ");
    return `${this.id}: ${s.role} term ${s.term} lead ${s.leader || "-"} commit ${s.commit} applied ${s.applied} last ${s.lastIndex} first ${this.raft.log.firstIndex()} voters ${s.confState.voters.join(",")} learners ${s.confState.learners.join(",")}${this.removed ? " (removed)" : ""} ${progress}`;
  }
}
