import type { PeerCertificate } from "node:tls";
import { certificateIdentities, identityMatches } from "./peer-identity.js";

// Which node a peer connection speaks for. The peer port accepts a certificate when it chains to the
// cluster CA and names an allowed node identity (peer-identity.ts); that alone says "some node".
// Binding says "node X": a certificate of one node (subject CN = its node id) may only carry Raft
// messages, snapshot chunks and Control requests from that node, so the holder of node A's key
// cannot vote, append or propose as node B. A certificate shared by every node (the operator's
// `<cluster>-peer`, until it issues per-node certificates) binds to no node, and is accepted only
// where `tls.peer.sharedIdentities` names it (docs/security.md, "Peer port").

export type PeerBinding =
  /** A per-node certificate: everything on the connection must come from `nodeId`. */
  | { kind: "node"; nodeId: string }
  /** A certificate shared by the cluster's nodes (configured): the sender is "a node". */
  | { kind: "shared"; identity: string };

type Cert = Pick<PeerCertificate, "subject" | "subjectaltname">;

/**
 * The binding of a chain-verified peer certificate that names an allowed identity, or why it has
 * none. Shared identities are tried first: the operator's shared certificate has a CN too.
 */
export function peerBinding(
  cert: Cert,
  sharedIdentities: readonly string[],
): PeerBinding | { problem: string } {
  const shared = certificateIdentities(cert).find((n) => sharedIdentities.some((p) => identityMatches(p, n)));
  if (shared !== undefined) return { kind: "shared", identity: shared };
  const cn = (cert.subject as Record<string, string | string[]> | undefined)?.CN;
  if (typeof cn === "string" && cn.length > 0) return { kind: "node", nodeId: cn };
  const shown = sharedIdentities.length > 0 ? sharedIdentities.join(", ") : "none configured";
  return {
    problem: `the peer certificate names no node id (one subject CN) and is not a shared peer certificate (tls.peer.sharedIdentities: ${shown})`,
  };
}

/** Why `claimed` may not send on a connection with this binding; undefined when it may (or without TLS). */
export function senderProblem(binding: PeerBinding | undefined, claimed: string): string | undefined {
  if (binding === undefined || binding.kind === "shared" || binding.nodeId === claimed) return undefined;
  return `the connection's certificate is node ${JSON.stringify(binding.nodeId)}'s, but the sender claims to be ${JSON.stringify(claimed)}`;
}

/** The dialling side: the server reached for node `expected` must be that node (or hold the shared certificate). */
export function serverBindingProblem(
  cert: Cert,
  expected: string,
  sharedIdentities: readonly string[],
): string | undefined {
  const binding = peerBinding(cert, sharedIdentities);
  if ("problem" in binding) return binding.problem;
  if (binding.kind === "node" && binding.nodeId !== expected)
    return `dialled node ${JSON.stringify(expected)} but the server's certificate is node ${JSON.stringify(binding.nodeId)}'s`;
  return undefined;
}
