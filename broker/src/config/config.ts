import type { RetentionSpec } from "../api/engine.js";
import type { InputLimits } from "../api/validate.js";

/** A broker node's whole configuration. docs/configuration.md documents every field. */
export interface PeerConfig {
  id: string;
  region: string;
  zone: string;
  /** host:port of the peer (Raft) port. */
  peerAddress: string;
  /** host:port of the client port. */
  clientAddress: string;
}

export interface TlsFiles {
  cert: string;
  key: string;
  ca: string;
}

export interface NodeConfig {
  clusterId: string;
  nodeId: string;
  region: string;
  zone: string;
  /** Address to bind every port on. */
  listenHost: string;
  /** Host other nodes and clients reach this node at. */
  advertiseHost: string;
  ports: { client: number; peer: number; http: number };
  dataDir: string;
  /**
   * The initial voters of the cluster. A node listed here bootstraps the cluster with them; a node
   * not listed joins later: it starts empty and waits for ClusterService.AddNode.
   */
  peers: PeerConfig[];
  /** Peer addresses of current members (written by the operator); informational: a joining node
   * learns its peers from the leader that adds it. */
  seeds?: string[];
  /** production refuses `auth.mode: none` and plaintext ports. */
  production: boolean;
  tls: { client?: TlsFiles & { requireClientCert: boolean }; peer?: TlsFiles };
  auth: { mode: "basic" | "none"; usersFile?: string };
  autoCreateTopics: boolean;
  topicDefaults: { partitions: number; replicationFactor: number; retention: RetentionSpec };
  limits: InputLimits;
  raft: { tickMs: number; electionTicks: number; heartbeatTicks: number; keepLogEntries: number };
  /** Simulated one-way delay on peer links to nodes of each region (milliseconds), for WAN tests. */
  wanDelayMs: Record<string, number>;
  /**
   * Node-local: where this node dials a peer, by node id, instead of the peer's advertised
   * peerAddress (a fault-injection or delay proxy in tests, a NAT or tunnel in production).
   */
  peerDialAddresses: Record<string, string>;
  log: { level: "error" | "warn" | "info" | "debug" };
}
