import { type Message, MessageType } from "../../src/raft/types.js";

/** A heartbeat of group 1 from `from` to `to`, told apart by `index`: what transport tests send. */
export function heartbeat(from: string, to: string, index: number): Message {
  return {
    groupId: 1,
    type: MessageType.Heartbeat,
    from,
    to,
    term: 1,
    logTerm: 0,
    index,
    entries: [],
    commit: 0,
    reject: false,
    rejectHint: 0,
  };
}
