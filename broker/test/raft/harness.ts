import { MemoryStorage } from "../../src/raft/memory-storage.js";
import { type RaftConfig, RaftNode, type ReadState } from "../../src/raft/raft-node.js";
import { handleReady } from "../../src/raft/ready-loop.js";
import { seededRandom } from "../../src/raft/sim/prng.js";
import { type Entry, EntryType, type Message, type MessageType, type NodeId } from "../../src/raft/types.js";

/**
 * A small synchronous cluster for scenario tests: messages are delivered in order, instantly,
 * unless a link is cut or a filter holds them back. Each node runs the Ready contract with
 * MemoryStorage as its disk.
 */
export class TestCluster {
  readonly nodes = new Map<
    NodeId,
    { raft: RaftNode; storage: MemoryStorage; applied: Entry[]; readStates: ReadState[] }
  >();
  private queue: Message[] = [];
  readonly cut = new Set<string>();
  /** Messages that matched a filter are recorded and dropped. */
  filter: ((m: Message) => boolean) | undefined;
  readonly sent: Message[] = [];
  private readonly rand = seededRandom(7);

  constructor(voters: NodeId[], config: Partial<RaftConfig> = {}, learners: NodeId[] = []) {
    for (const id of [...voters, ...learners]) {
      this.add(id, MemoryStorage.bootstrap({ voters, learners, votersOutgoing: [] }), config);
    }
  }

  add(id: NodeId, storage: MemoryStorage, config: Partial<RaftConfig> = {}): RaftNode {
    const raft = new RaftNode(
      { id, groupId: 1, electionTicks: 10, heartbeatTicks: 1, random: this.rand, ...config },
      storage,
    );
    this.nodes.set(id, { raft, storage, applied: [], readStates: [] });
    return raft;
  }

  raft(id: NodeId): RaftNode {
    return this.nodes.get(id)!.raft;
  }

  /** Runs every node's Ready loop and delivers messages until the cluster is quiet. */
  settle(maxRounds = 1000): void {
    for (let round = 0; round < maxRounds; round++) {
      let busy = false;
      for (const [, n] of this.nodes) {
        while (n.raft.hasReady()) {
          busy = true;
          const rd = n.raft.ready();
          // The shared Ready loop, with MemoryStorage as a disk that is durable at once.
          handleReady(n.raft, rd, {
            restore: () => undefined,
            persist: (u) => {
              if (u.snapshot) n.storage.applySnapshot(u.snapshot);
              n.storage.append(u.entries);
              if (u.hardState) n.storage.setHardState(u.hardState);
            },
            send: (messages) => this.queue.push(...messages),
            apply: (entries) => {
              n.applied.push(...entries);
            },
            onConfChange: (_conf, _cc, entry) => {
              n.applied.push(entry);
            },
            onReadStates: (readStates) => {
              n.readStates.push(...readStates);
            },
          });
        }
      }
      const batch = this.queue;
      this.queue = [];
      for (const m of batch) {
        this.sent.push(m);
        if (this.cut.has(`${m.from}>${m.to}`)) continue;
        if (this.filter?.(m)) continue;
        this.nodes.get(m.to)?.raft.step(m);
        busy = true;
      }
      if (!busy) return;
    }
    throw new Error("cluster did not settle");
  }

  tick(id: NodeId, times = 1): void {
    for (let i = 0; i < times; i++) {
      this.raft(id).tick();
      this.settle();
    }
  }

  tickAll(times = 1): void {
    for (let i = 0; i < times; i++) {
      for (const n of this.nodes.values()) n.raft.tick();
      this.settle();
    }
  }

  isolate(id: NodeId): void {
    for (const other of this.nodes.keys()) {
      if (other === id) continue;
      this.cut.add(`${id}>${other}`);
      this.cut.add(`${other}>${id}`);
    }
  }

  heal(): void {
    this.cut.clear();
  }

  /** Makes `id` leader now: a forced election (as a leadership transfer runs it: no pre-vote, no lease). */
  elect(id: NodeId): void {
    this.settle();
    this.raft(id).campaign("transfer");
    this.settle();
    if (this.raft(id).role !== "leader") throw new Error(`${id} did not win the election`);
  }

  leaders(): NodeId[] {
    return [...this.nodes].filter(([, n]) => n.raft.role === "leader").map(([id]) => id);
  }

  /** Normal entries (data as text) a node applied, in order. */
  appliedData(id: NodeId): string[] {
    return this.nodes
      .get(id)!
      .applied.filter((e) => e.type === EntryType.Normal && e.data.byteLength > 0)
      .map((e) => new TextDecoder().decode(e.data));
  }

  sentOfType(type: MessageType): Message[] {
    return this.sent.filter((m) => m.type === type);
  }
}

export const data = (s: string) => new TextEncoder().encode(s);
