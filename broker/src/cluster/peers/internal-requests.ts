import { create, fromBinary, type MessageInitShape, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  ControlErrorReason,
  type ControlRequest,
  ControlRequestSchema,
  type ControlResponse,
  ControlResponseSchema,
  type NodeViewSchema,
  ConfChangeType as WireConfChangeType,
  type NodeView as WireNodeView,
} from "../../../../gen/geobroker/raft/v1/raft_pb.js";
import { errorDetailsOf } from "../../engine/errors.js";
import type { NodeMetricsSnapshot } from "../../engine/node-metrics.js";
import type { ConfChange, ConfChangeType, ConfState } from "../../raft/types.js";
import { nodeMetricsFromWire, nodeMetricsToWire } from "../../wire/node-metrics.js";
import type { MetadataCommand, MetadataResult } from "../state/metadata-state.js";

// Requests nodes make of each other on the peer port (mutual TLS between nodes when configured),
// never on the client port: they act for the cluster, not for a user, so they carry no user
// credentials. On the wire: the Control rpc of proto/geobroker/raft/v1/raft.proto; builds before
// docs/decisions/0026 spoke JSON on it, which the transport still speaks to them (toLegacyJson,
// fromLegacyJson below; transport/peer-transport.ts decides).

export type InternalRequest =
  /** Propose a metadata command; only the metadata leader accepts. */
  | { type: "propose"; command: MetadataCommand }
  /** This node's view of the groups it runs. */
  | { type: "view" }
  /** Hand leadership of a group this node leads to another voter. */
  | { type: "transferLeadership"; groupId: number; to: string }
  /** Propose a membership change to a group this node leads. */
  | { type: "confChange"; groupId: number; change: ConfChange }
  /** Whether this node's metadata group has formed (node-identity.ts); answered before its groups start. */
  | { type: "formation" }
  /** This node's own counters and latency histograms (GetClusterMetrics). */
  | { type: "metrics" };

export interface MemberView {
  nodeId: string;
  learner: boolean;
  match: number;
}

/** One group as one node sees it; the leader's view has every member's progress. */
export interface GroupView {
  groupId: number;
  leader: string;
  term: number;
  commit: number;
  applied: number;
  lastIndex: number;
  conf: ConfState;
  /** Empty unless this node leads the group. */
  members: MemberView[];
}

export interface NodeView {
  nodeId: string;
  groups: GroupView[];
  /** Peers this node currently has a live connection to. */
  connected: string[];
  /** This node's incarnation (node-identity.ts), when known. */
  incarnation?: string;
  /** Its state was lost: it waits to be re-admitted to the metadata group under this incarnation. */
  rejoining?: boolean;
}

export type InternalReply =
  | { type: "proposed"; result: MetadataResult }
  | { type: "view"; view: NodeView }
  | { type: "transferred"; leader: string }
  | { type: "confChanged" }
  | { type: "formation"; formed: boolean }
  | { type: "metrics"; metrics: NodeMetricsSnapshot };

/**
 * A Control call's outcome decided by the callee instead of a reply (ControlError in raft.proto):
 * thrown by decodeInternal on the caller, and by the request handlers on the callee. `leaderHint`:
 * for `notLeader`, the leader the callee knows (undefined when it knows none).
 */
export class ControlError extends Error {
  constructor(
    message: string,
    readonly reason: "notLeader" | "failed",
    readonly leaderHint?: string,
    /** The gRPC status code of the failure, when it had one (a refused metadata command). */
    readonly code?: Code,
  ) {
    super(message);
    this.name = "ControlError";
  }
}

/** The leader hint a failed internal request carries, on the error or any error it was the cause of. */
export function leaderHintOf(err: unknown): string | undefined {
  for (let e = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++)
    if (e instanceof ControlError) return e.leaderHint;
  return undefined;
}

const confChangeTypes: Record<ConfChangeType, WireConfChangeType> = {
  addVoter: WireConfChangeType.ADD_VOTER,
  addLearner: WireConfChangeType.ADD_LEARNER,
  promote: WireConfChangeType.PROMOTE,
  remove: WireConfChangeType.REMOVE,
};

const u64 = (n: number) => BigInt(n);

function requestToWire(r: InternalRequest): MessageInitShape<typeof ControlRequestSchema>["request"] {
  switch (r.type) {
    case "propose":
      return { case: "propose", value: { commandJson: JSON.stringify(r.command) } };
    case "view":
      return { case: "view", value: {} };
    case "transferLeadership":
      return { case: "transferLeadership", value: { groupId: u64(r.groupId), to: r.to } };
    case "confChange":
      return {
        case: "confChange",
        value: {
          groupId: u64(r.groupId),
          change: {
            type: confChangeTypes[r.change.type],
            nodeId: r.change.nodeId,
            ...(r.change.incarnation === undefined ? {} : { incarnation: r.change.incarnation }),
          },
        },
      };
    case "formation":
      return { case: "formation", value: {} };
    case "metrics":
      return { case: "metrics", value: {} };
  }
}

function requestFromWire(w: ControlRequest["request"]): InternalRequest {
  switch (w.case) {
    case "propose":
      return { type: "propose", command: JSON.parse(w.value.commandJson) as MetadataCommand };
    case "view":
      return { type: "view" };
    case "transferLeadership":
      return { type: "transferLeadership", groupId: Number(w.value.groupId), to: w.value.to };
    case "confChange": {
      const c = w.value.change;
      const type = (Object.keys(confChangeTypes) as ConfChangeType[]).find(
        (t) => confChangeTypes[t] === c?.type,
      );
      if (!c || !type)
        throw new ConnectError("conf change request without a known change", Code.InvalidArgument);
      const change: ConfChange = { type, nodeId: c.nodeId };
      if (c.incarnation !== undefined) change.incarnation = c.incarnation;
      return { type: "confChange", groupId: Number(w.value.groupId), change };
    }
    case "formation":
      return { type: "formation" };
    case "metrics":
      return { type: "metrics" };
    default:
      throw new ConnectError("internal request of a kind this build does not know", Code.Unimplemented);
  }
}

function viewToWire(v: NodeView): MessageInitShape<typeof NodeViewSchema> {
  return {
    nodeId: v.nodeId,
    groups: v.groups.map((g) => ({
      groupId: u64(g.groupId),
      leader: g.leader,
      term: u64(g.term),
      commit: u64(g.commit),
      applied: u64(g.applied),
      lastIndex: u64(g.lastIndex),
      conf: {
        voters: g.conf.voters,
        learners: g.conf.learners,
        votersOutgoing: g.conf.votersOutgoing,
        incarnations: g.conf.incarnations ?? {},
      },
      members: g.members.map((m) => ({
        $typeName: "geobroker.raft.v1.MemberView",
        ...m,
        match: u64(m.match),
      })),
    })),
    connected: v.connected,
    ...(v.incarnation === undefined ? {} : { incarnation: v.incarnation }),
    ...(v.rejoining === undefined ? {} : { rejoining: v.rejoining }),
  };
}

function viewFromWire(w: WireNodeView | undefined): NodeView {
  const view: NodeView = {
    nodeId: w?.nodeId ?? "",
    groups: (w?.groups ?? []).map((g) => {
      const conf: ConfState = {
        voters: g.conf?.voters ?? [],
        learners: g.conf?.learners ?? [],
        votersOutgoing: g.conf?.votersOutgoing ?? [],
      };
      if (g.conf && Object.keys(g.conf.incarnations).length > 0)
        conf.incarnations = { ...g.conf.incarnations };
      return {
        groupId: Number(g.groupId),
        leader: g.leader,
        term: Number(g.term),
        commit: Number(g.commit),
        applied: Number(g.applied),
        lastIndex: Number(g.lastIndex),
        conf,
        members: g.members.map((m) => ({ nodeId: m.nodeId, learner: m.learner, match: Number(m.match) })),
      };
    }),
    connected: w?.connected ?? [],
  };
  if (w?.incarnation !== undefined) view.incarnation = w.incarnation;
  if (w?.rejoining !== undefined) view.rejoining = w.rejoining;
  return view;
}

function replyToWire(r: InternalReply): MessageInitShape<typeof ControlResponseSchema>["reply"] {
  switch (r.type) {
    case "proposed":
      return { case: "propose", value: { resultJson: JSON.stringify(r.result) } };
    case "view":
      return { case: "view", value: { view: viewToWire(r.view) } };
    case "transferred":
      return { case: "transferLeadership", value: { leader: r.leader } };
    case "confChanged":
      return { case: "confChange", value: {} };
    case "formation":
      return { case: "formation", value: { formed: r.formed } };
    case "metrics":
      return { case: "metrics", value: { metrics: nodeMetricsToWire(r.metrics) } };
  }
}

function replyFromWire(w: ControlResponse["reply"]): InternalReply {
  switch (w.case) {
    case "propose":
      return { type: "proposed", result: JSON.parse(w.value.resultJson) as MetadataResult };
    case "view":
      return { type: "view", view: viewFromWire(w.value.view) };
    case "transferLeadership":
      return { type: "transferred", leader: w.value.leader };
    case "confChange":
      return { type: "confChanged" };
    case "formation":
      return { type: "formation", formed: w.value.formed };
    case "metrics":
      return { type: "metrics", metrics: nodeMetricsFromWire(w.value.metrics) };
    case "error":
      throw new ControlError(
        w.value.message,
        w.value.reason === ControlErrorReason.NOT_LEADER ? "notLeader" : "failed",
        w.value.leaderHint || undefined,
        w.value.code === 0 ? undefined : (w.value.code as Code),
      );
    default:
      throw new ConnectError("internal reply of a kind this build does not know", Code.Unimplemented);
  }
}

/** A request and a reply share type names ("view", "formation"); a reply carries its answer. */
function isReply(value: InternalRequest | InternalReply): value is InternalReply {
  switch (value.type) {
    case "view":
      return "view" in value;
    case "formation":
      return "formed" in value;
    case "metrics":
      return "metrics" in value;
    default:
      return value.type === "proposed" || value.type === "transferred" || value.type === "confChanged";
  }
}

/** A ControlRequest or a ControlResponse (raft.proto), whichever `value` is. */
export function encodeInternal(value: InternalRequest | InternalReply): Uint8Array {
  return isReply(value)
    ? toBinary(ControlResponseSchema, create(ControlResponseSchema, { reply: replyToWire(value) }))
    : toBinary(ControlRequestSchema, create(ControlRequestSchema, { request: requestToWire(value) }));
}

/**
 * A ControlRequest or a ControlResponse: their field numbers are disjoint, so the bytes say which.
 * A response carrying an error throws it as a ControlError.
 */
export function decodeInternal<T extends InternalRequest | InternalReply>(bytes: Uint8Array): T {
  const request = fromBinary(ControlRequestSchema, bytes).request;
  if (request.case !== undefined) return requestFromWire(request) as T;
  return replyFromWire(fromBinary(ControlResponseSchema, bytes).reply) as T;
}

/** The ControlResponse a handler's failure becomes (the callee side). */
export function encodeControlError(err: unknown): Uint8Array {
  const e = err instanceof Error ? err : new Error(String(err));
  const code = e instanceof ControlError ? e.code : e instanceof ConnectError ? e.code : undefined;
  // A BrokerError refusal names its leader as a typed detail (api/errors.ts notLeader).
  const hint = e instanceof ControlError ? e.leaderHint : errorDetailsOf(e).leader?.nodeId;
  return toBinary(
    ControlResponseSchema,
    create(ControlResponseSchema, {
      reply: {
        case: "error",
        value: {
          reason:
            (e instanceof ControlError && e.reason === "notLeader") || hint
              ? ControlErrorReason.NOT_LEADER
              : ControlErrorReason.UNSPECIFIED,
          message: e instanceof ConnectError ? e.rawMessage : e.message,
          leaderHint: hint ?? "",
          code: code ?? 0,
        },
      },
    }),
  );
}

// The JSON of builds before decision 0026: a request or reply object, JSON-encoded; a failure is a
// non-zero grpc-status whose message is the error's text.

/** A JSON payload, never a Control message: JSON objects start with "{" (0x7B), which as a protobuf
 * tag would be field 15 with the long-gone group wire type; ControlRequest has no field 15. */
export function isLegacyJson(bytes: Uint8Array): boolean {
  return bytes[0] === 0x7b;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A Control message as the JSON older builds send and answer (a ControlError: its ControlError). */
export function toLegacyJson(bytes: Uint8Array): Uint8Array {
  return encoder.encode(JSON.stringify(decodeInternal(bytes)));
}

/** JSON from an older build as the Control message it means. */
export function fromLegacyJson(bytes: Uint8Array): Uint8Array {
  return encodeInternal(JSON.parse(decoder.decode(bytes)) as InternalRequest | InternalReply);
}

/**
 * An older build's failure text as a ControlResponse: it names the leader it knows as
 * "(leader: <id>)" (the text engine/errors.ts notLeader still writes, for them). Only for their
 * replies: a current build's refusal carries the hint as a field.
 */
export function legacyFailure(message: string): Uint8Array {
  const hint = /\(leader: ([^)]+)\)/.exec(message)?.[1];
  return encodeControlError(
    hint !== undefined
      ? new ControlError(message, "notLeader", hint === "unknown" ? undefined : hint)
      : new Error(message),
  );
}

/** A failure's text without the "[code]" prefix ConnectError.message adds: what an older build shows and parses. */
export function legacyFailureText(err: unknown): string {
  return err instanceof ConnectError ? err.rawMessage : err instanceof Error ? err.message : String(err);
}

/** The Control payload rules the peer transport applies (transport/peer-transport.ts ControlCodec). */
export const controlCodec = {
  encodeError: encodeControlError,
  isLegacy: isLegacyJson,
  toLegacy: toLegacyJson,
  fromLegacy: fromLegacyJson,
  legacyFailure,
  legacyFailureText,
};
