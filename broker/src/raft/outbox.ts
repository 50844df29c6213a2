import type { GroupId, Message, MessageType, NodeId } from "./types.js";

export interface ReadState {
  index: number;
  context: Uint8Array;
}

/** A message before the outbox stamps it with group, sender and term. */
export type Outgoing = Partial<Message> & { type: MessageType; to: NodeId };

/**
 * What the core has produced since the last Ready: messages to send and reads that are confirmed.
 * The core's parts write here; the raw node (raft-node.ts) empties it into each Ready.
 */
export class Outbox {
  private msgs: Message[] = [];
  private readStates: ReadState[] = [];

  constructor(
    private readonly from: NodeId,
    private readonly groupId: GroupId,
    /** The sender's current term, read as each message is written. */
    private readonly term: () => number,
  ) {}

  send(m: Outgoing): void {
    this.msgs.push({
      groupId: this.groupId,
      from: this.from,
      term: this.term(),
      logTerm: 0,
      index: 0,
      entries: [],
      commit: 0,
      reject: false,
      rejectHint: 0,
      ...m,
    });
  }

  /** A read of this node's own is confirmed: the reader may serve it once `index` is applied. */
  addReadState(rs: ReadState): void {
    this.readStates.push(rs);
  }

  isEmpty(): boolean {
    return this.msgs.length === 0 && this.readStates.length === 0;
  }

  takeMessages(): Message[] {
    const msgs = this.msgs;
    this.msgs = [];
    return msgs;
  }

  takeReadStates(): ReadState[] {
    const readStates = this.readStates;
    this.readStates = [];
    return readStates;
  }
}
