import type { PeerCertificate } from "node:tls";
import type { PeerTlsFiles } from "./security-config.js";

/** What peer identities are decided from: the cluster's name and its nodes. */
interface ClusterNames {
  clusterId: string;
  peers: { id: string }[];
}

import { parseSubjectAltName } from "./client-cert.js";

// Which certificates count as a cluster node on the peer port. Chaining to the cluster CA is not
// enough when that CA also issues client certificates (or other services' certificates): the
// certificate must also name a node, by CN or SAN, matching one of the allowed identity patterns.

/** Every name a certificate carries that can identify a node: subject CN, DNS and URI SANs. */
export function certificateIdentities(cert: Pick<PeerCertificate, "subject" | "subjectaltname">): string[] {
  const out: string[] = [];
  const cn = (cert.subject as Record<string, string | string[]> | undefined)?.CN;
  for (const v of Array.isArray(cn) ? cn : cn ? [cn] : []) out.push(v);
  for (const san of parseSubjectAltName(cert.subjectaltname ?? ""))
    if (san.type === "DNS" || san.type === "URI") out.push(san.value);
  return out;
}

/** `*` in a pattern matches any run of characters (dots included); everything else is literal. */
export function identityMatches(pattern: string, identity: string): boolean {
  const parts = pattern.split("*").map((p) => p.replace(/[.+?^${}()|[\]\\]/g, "\\$&"));
  return new RegExp(`^${parts.join(".*")}$`).test(identity);
}

/**
 * The default allowed identities: every initial node id (the local cluster and hand-made certificates
 * use CN=<node id>) and `*.<clusterId>` (a DNS SAN per node under the cluster's name, which also
 * covers nodes added later). A shared certificate (`<clusterId>-peer`) is not among them: it binds to
 * no node id, so it is accepted only where `tls.peer.sharedIdentities` names it (peer-binding.ts).
 */
export function defaultPeerIdentities(config: ClusterNames): string[] {
  return [...config.peers.map((p) => p.id), `*.${config.clusterId}`];
}

/**
 * `tls.peer` with its identity lists filled in: allowedIdentities from the defaults when the
 * configuration has none, plus every shared identity (a shared certificate is a node's, unbound).
 */
export function peerTlsWithIdentities(
  config: ClusterNames & { tls: { peer?: PeerTlsFiles } },
): PeerTlsFiles & { allowedIdentities: string[]; sharedIdentities: string[] } {
  const peer = config.tls.peer!;
  const shared = peer.sharedIdentities ?? [];
  const allowed = peer.allowedIdentities ?? defaultPeerIdentities(config);
  return { ...peer, allowedIdentities: [...new Set([...allowed, ...shared])], sharedIdentities: shared };
}

/** Why a (chain-verified) peer certificate is not a cluster node, or undefined when it is one. */
export function peerIdentityProblem(
  cert: Pick<PeerCertificate, "subject" | "subjectaltname"> | undefined,
  allowed: readonly string[],
): string | undefined {
  if (!cert || Object.keys(cert).length === 0) return "the peer presented no certificate";
  const names = certificateIdentities(cert);
  if (names.some((n) => allowed.some((p) => identityMatches(p, n)))) return undefined;
  return `the peer certificate names ${names.length ? names.map((n) => JSON.stringify(n)).join(", ") : "no CN or SAN"}, none of which is an allowed node identity (tls.peer.allowedIdentities: ${allowed.join(", ")})`;
}
