import type { GroupId } from "../raft/types.js";
import type { Ack } from "./stack-checks.js";
import type { StackNode } from "./stack-node.js";
import type { VirtualTime } from "./virtual-time.js";

const text = new TextEncoder();

interface ClientMessage {
  id: string;
  groupId: GroupId;
  attempts: number;
  acked: boolean;
}

/**
 * Publishing clients of the full-stack simulation: each message has an id and goes to a node that
 * believes it leads the partition (perhaps a stale one), through the production publish path (the
 * group's batcher, tracker and runner); after a failure, or no answer within 2.5 s (its node died),
 * the same id is sent again, to whichever node leads then. Dedup must make every acknowledgement of
 * one id name one offset.
 */
export class SimPublishers {
  readonly pending = new Set<ClientMessage>();
  private messageNumber = 0;
  published = 0;
  retried = 0;
  duplicatesAcked = 0;

  constructor(
    private readonly time: VirtualTime,
    private readonly pick: <T>(items: T[]) => T | undefined,
    private readonly rand: () => number,
    private readonly nodes: () => StackNode[],
    private readonly acked: (ack: Ack) => void,
  ) {}

  publish(groupId: GroupId): void {
    const message: ClientMessage = { id: `m${++this.messageNumber}`, groupId, attempts: 0, acked: false };
    this.published++;
    this.pending.add(message);
    this.attempt(message);
  }

  private attempt(message: ClientMessage): void {
    message.attempts++;
    if (message.attempts > 1) this.retried++;
    const leaders = this.nodes().filter((n) => n.process?.groups.partition(message.groupId)?.runner.isLeader);
    const node = this.pick(leaders);
    const retry = () => {
      if (message.acked) return;
      this.time.after(20 + Math.floor(this.rand() * 80), () => this.attempt(message));
    };
    if (!node) {
      retry();
      return;
    }
    const group = node.process!.groups.partition(message.groupId)!;
    let answered = false;
    this.time.after(2500, () => {
      if (answered) return;
      answered = true;
      retry();
    });
    group.batcher
      .add({
        key: new Uint8Array(),
        body: text.encode(`body of ${message.id}`),
        headers: {},
        messageId: message.id,
      })
      .then(
        (r) => {
          if (answered) return;
          answered = true;
          this.acked({ id: message.id, groupId: message.groupId, offset: r.offset });
          if (r.duplicate) this.duplicatesAcked++;
          message.acked = true;
          this.pending.delete(message);
        },
        () => {
          if (answered) return;
          answered = true;
          retry();
        },
      );
  }
}
