import { type Message, MessageType, type NodeId } from "../raft/types.js";
import type { Clock } from "../util/clock.js";
import type { StackNode } from "./stack-node.js";
import type { VirtualTime } from "./virtual-time.js";

/**
 * The simulated network between nodes: each message dropped (at `dropRate`, or on a blocked link),
 * delayed 1 to 8 ms (so reordered) or, rarely, duplicated; snapshot transfers report how they ended
 * to the sending leader, as the peer transport does. Requests between nodes (`call`: formation
 * checks, proposals forwarded to the metadata leader) cross the same links.
 */
export class SimNetwork {
  /** "from>to" links that carry nothing. */
  readonly blocked = new Set<string>();
  dropRate = 0.02;
  snapshots = 0;

  constructor(
    private readonly time: VirtualTime,
    private readonly rand: () => number,
    private readonly nodes: () => StackNode[],
    private readonly onSnapshot: (to: string, m: Message) => void,
  ) {}

  send(messages: Message[]): void {
    for (const m of messages) {
      const isSnapshot = m.type === MessageType.Snapshot;
      if (this.blocked.has(`${m.from}>${m.to}`) || this.rand() < this.dropRate) {
        if (isSnapshot) this.reportSnapshot(m, false);
        continue;
      }
      const copies = this.rand() < 0.01 ? 2 : 1;
      for (let c = 0; c < copies; c++) {
        this.time.after(1 + Math.floor(this.rand() * 8), () => {
          const runner = this.nodes()
            .find((n) => n.id === m.to)
            ?.runner(m.groupId);
          if (!runner || this.blocked.has(`${m.from}>${m.to}`)) {
            if (isSnapshot) this.reportSnapshot(m, false);
            return;
          }
          if (isSnapshot) {
            this.snapshots++;
            this.onSnapshot(m.to, m);
          }
          runner.step(m);
          if (isSnapshot) this.reportSnapshot(m, true);
        });
      }
    }
  }

  private reportSnapshot(m: Message, ok: boolean): void {
    const runner = this.nodes()
      .find((n) => n.id === m.from)
      ?.runner(m.groupId);
    if (!runner) return;
    runner.core.reportSnapshot(m.to, ok);
    runner.schedule();
  }

  /**
   * A request from one node to another, answered by `handle` on the receiving node: the answer
   * arrives on the caller's clock (never, once that process is gone), or the call fails after
   * `timeoutMs` when the request or its answer is lost.
   */
  call<T>(
    from: NodeId,
    to: NodeId,
    clock: Clock,
    handle: (node: StackNode) => T | Promise<T>,
    timeoutMs = 500,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const settle = (done: () => void) => {
        if (settled) return;
        settled = true;
        done();
      };
      clock.after(timeoutMs, () => settle(() => reject(new Error(`${to} did not answer ${from} in time`))));
      const lost = (a: NodeId, b: NodeId) => this.blocked.has(`${a}>${b}`) || this.rand() < this.dropRate;
      const hop = () => 1 + Math.floor(this.rand() * 8);
      if (lost(from, to)) return;
      this.time.after(hop(), () => {
        const node = this.nodes().find((n) => n.id === to);
        if (!node || this.blocked.has(`${from}>${to}`)) return;
        const answer = (done: () => void) => {
          if (lost(to, from)) return;
          clock.after(hop(), () => settle(done));
        };
        Promise.resolve()
          .then(() => handle(node))
          .then(
            (value) => answer(() => resolve(value)),
            (err: Error) => answer(() => reject(err)),
          );
      });
    });
  }
}
