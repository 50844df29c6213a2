import type { ConfChange, ConfState } from "../raft/types.js";
import type { MetadataCommand, MetadataResult } from "./metadata-state.js";

// Requests nodes make of each other on the peer port (mutual TLS between nodes when configured),
// never on the client port: they act for the cluster, not for a user, so they carry no user
// credentials. JSON: they are rare and small.

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
  | { type: "formation" };

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
  | { type: "formation"; formed: boolean };

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeInternal(value: InternalRequest | InternalReply): Uint8Array {
  return encoder.encode(JSON.stringify(value));
}

export function decodeInternal<T extends InternalRequest | InternalReply>(bytes: Uint8Array): T {
  return JSON.parse(decoder.decode(bytes)) as T;
}
