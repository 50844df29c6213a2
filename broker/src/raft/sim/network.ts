import type { Message, NodeId } from "../types.js";

/** How the simulated network misbehaves. */
export interface NetworkFaults {
  dropRate: number;
  duplicateRate: number;
  /** Each copy of a message arrives 1 to maxDelayMs virtual ms after it is sent. */
  maxDelayMs: number;
}

interface InFlight {
  at: number;
  /** Send order, so that messages due at the same ms arrive in a reproducible order. */
  seq: number;
  msg: Message;
}

/**
 * The simulation's network: it drops, duplicates, delays and so reorders messages, and partitions
 * links (one way or both). Every random choice comes from the simulation's one seeded source, in
 * send order, so that a seed replays exactly.
 */
export class SimNetwork {
  private inFlight: InFlight[] = [];
  private seq = 0;
  /** Cut links, as "from>to". */
  private readonly blocked = new Set<string>();

  constructor(
    private readonly rand: () => number,
    private readonly faults: NetworkFaults,
  ) {}

  /** Puts a message on the wire; false when it is lost (a cut link, or a drop). */
  send(m: Message, now: number): boolean {
    if (this.blocked.has(`${m.from}>${m.to}`) || this.rand() < this.faults.dropRate) return false;
    const copies = this.rand() < this.faults.duplicateRate ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      this.inFlight.push({
        at: now + 1 + Math.floor(this.rand() * this.faults.maxDelayMs),
        seq: this.seq++,
        msg: m,
      });
    }
    return true;
  }

  /** Takes the messages due by `now` off the wire, in arrival order. */
  takeDue(now: number): Message[] {
    if (this.inFlight.length === 0) return [];
    const due: InFlight[] = [];
    const later: InFlight[] = [];
    for (const f of this.inFlight) (f.at <= now ? due : later).push(f);
    this.inFlight = later;
    due.sort((a, b) => a.at - b.at || a.seq - b.seq);
    return due.map((f) => f.msg);
  }

  cut(from: NodeId, to: NodeId): void {
    this.blocked.add(`${from}>${to}`);
  }

  /** Restores every link; false when none was cut. */
  heal(): boolean {
    const wasCut = this.blocked.size > 0;
    this.blocked.clear();
    return wasCut;
  }
}
