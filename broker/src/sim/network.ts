import { type Message, MessageType } from "../raft/types.js";
import type { StackNode } from "./stack-node.js";
import type { VirtualTime } from "./virtual-time.js";

/**
 * The simulated network between nodes: each message dropped (at `dropRate`, or on a blocked link),
 * delayed 1 to 8 ms (so reordered) or, rarely, duplicated; snapshot transfers report how they ended
 * to the sending leader, as the peer transport does.
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
}
