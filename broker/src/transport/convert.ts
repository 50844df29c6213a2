import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  MessageSchema,
  type StreamRequest,
  StreamRequestSchema,
  type EntryType as WireEntryType,
  type Message as WireMessage,
  type MessageType as WireMessageType,
} from "../../../gen/geobroker/raft/v1/raft_pb.js";
import type { Entry, Message, NodeId } from "../raft/types.js";

// Raft messages <-> the peer protocol (proto/geobroker/raft/v1/raft.proto).

const emptyBytes = new Uint8Array(0);

function toWire(m: Message): WireMessage {
  return create(MessageSchema, {
    groupId: BigInt(m.groupId),
    type: m.type as number as WireMessageType,
    from: m.from,
    to: m.to,
    term: BigInt(m.term),
    logTerm: BigInt(m.logTerm),
    index: BigInt(m.index),
    entries: m.entries.map((e) => ({
      term: BigInt(e.term),
      index: BigInt(e.index),
      type: e.type as number as WireEntryType,
      data: e.data,
    })),
    commit: BigInt(m.commit),
    reject: m.reject,
    rejectHint: BigInt(m.rejectHint),
    ...(m.snapshot
      ? {
          snapshot: {
            index: BigInt(m.snapshot.metadata.index),
            term: BigInt(m.snapshot.metadata.term),
            confState: m.snapshot.metadata.confState,
          },
          snapshotData: m.snapshot.data,
        }
      : {}),
    context: m.context ?? emptyBytes,
  });
}

function fromWire(w: WireMessage): Message {
  const m: Message = {
    groupId: Number(w.groupId),
    type: w.type as number,
    from: w.from,
    to: w.to,
    term: Number(w.term),
    logTerm: Number(w.logTerm),
    index: Number(w.index),
    entries: w.entries.map(
      (e): Entry => ({ term: Number(e.term), index: Number(e.index), type: e.type as number, data: e.data }),
    ),
    commit: Number(w.commit),
    reject: w.reject,
    rejectHint: Number(w.rejectHint),
  };
  if (w.snapshot) {
    const cs = w.snapshot.confState;
    m.snapshot = {
      metadata: {
        index: Number(w.snapshot.index),
        term: Number(w.snapshot.term),
        confState: {
          voters: cs?.voters ?? [],
          learners: cs?.learners ?? [],
          votersOutgoing: cs?.votersOutgoing ?? [],
          ...(cs && Object.keys(cs.incarnations).length > 0 ? { incarnations: { ...cs.incarnations } } : {}),
        },
      },
      data: w.snapshotData,
    };
  }
  if (w.context.byteLength > 0) m.context = w.context;
  return m;
}

export function encodeBatch(from: NodeId, messages: Message[]): Uint8Array {
  return toBinary(
    StreamRequestSchema,
    create(StreamRequestSchema, { fromNodeId: from, messages: messages.map(toWire) }),
  );
}

export function decodeBatch(bytes: Uint8Array): { from: NodeId; messages: Message[] } {
  const req: StreamRequest = fromBinary(StreamRequestSchema, bytes);
  return { from: req.fromNodeId, messages: req.messages.map(fromWire) };
}
