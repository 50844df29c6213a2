import type { RetentionSpec } from "../engine/engine.js";
import type { InputLimits } from "../engine/limits.js";
import type { WriteFormat } from "../engine/write-format.js";
import type {
  AuthConfig,
  AuthLimits,
  ClientTlsFiles,
  ConnectionLimits,
  PeerTlsFiles,
  Quotas,
} from "../security/security-config.js";

// The security sections' types live with the code that reads them (security/security-config.ts).
export type {
  AuthConfig,
  AuthLimits,
  AuthMode,
  ClientTlsFiles,
  ConnectionLimits,
  JwtConfig,
  PeerTlsFiles,
  Quotas,
  TlsFiles,
} from "../security/security-config.js";

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

/** How one region's nodes are reached from outside. docs/configuration.md "external". */
export interface AdvertisedRegion {
  /** Host name template: `{node}` is the node id, `{ordinal}` the number its id ends with. */
  host: string;
  /** One port for every node (one load balancer per node)... */
  port?: number;
  /** ...or `portBase + ordinal` (one NodePort per node). */
  portBase?: number;
}

export interface ExternalListenerConfig {
  /** The port outside clients connect to (the Services' target). */
  port: number;
  /** By region; a node of a region not listed has no outside address (hints leave it empty). */
  advertised: Record<string, AdvertisedRegion>;
}

/** Durable consumers (cluster/consumer-dispatcher.ts); docs/configuration.md. */
export interface ConsumerSettings {
  /** Redelivery after this long without an ack, when the consumer sets none. */
  ackTimeoutMs: number;
  /** Unacknowledged deliveries per consumer on its dispatching node: the memory bound. */
  maxInFlight: number;
  /** Messages read ahead per partition while waiting for credit. */
  readAhead: number;
  /** Body bytes read ahead per partition while waiting for credit. */
  readAheadBytes: number;
  /** Acks gather this long before they are proposed as one metadata entry. */
  flushMs: number;
  /** A dispatcher stays this long after its last client left, for quick reconnects. */
  lingerMs: number;
}

/** Publish deduplication and retention enforcement, per partition. */
export interface PartitionSettings {
  /** A retried publish with the same message id within this window returns the first offset. */
  dedupWindowMs: number;
  /** Ids remembered per partition at most (oldest forgotten first). */
  dedupMaxIds: number;
  /** How often each partition leader proposes a retention check. */
  retentionCheckMs: number;
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
  /** `admin`: loopback-only port serving POST /drain without credentials (the preStop hook); absent: none. */
  ports: { client: number; peer: number; http: number; admin?: number };
  dataDir: string;
  /**
   * The initial voters of the cluster. A node listed here bootstraps the cluster with them; a node
   * not listed joins later: it starts empty and waits for ClusterService.AddNode.
   */
  peers: PeerConfig[];
  /** Peer addresses of current members (written by the operator); informational: a joining node
   * learns its peers from the leader that adds it. */
  seeds?: string[];
  /** production refuses `auth.modes: [none]`, plaintext ports and a missing ACL file. */
  production: boolean;
  tls: { client?: ClientTlsFiles; peer?: PeerTlsFiles };
  auth: AuthConfig;
  autoCreateTopics: boolean;
  topicDefaults: { partitions: number; replicationFactor: number; retention: RetentionSpec };
  limits: InputLimits & { connections: ConnectionLimits; auth: AuthLimits; quotas: Quotas };
  consumers: ConsumerSettings;
  /**
   * `writeFormat`: the form of the Raft entries this node proposes and the message rows it stores
   * (storage/write-format.ts); absent: `legacy`, which every build reads. Set `protobuf` only once
   * every node runs a build that reads it (docs/decisions/0026).
   */
  storage: { memtableBudgetBytes: number; writeFormat?: WriteFormat };
  partitions: PartitionSettings;
  raft: { tickMs: number; electionTicks: number; heartbeatTicks: number; keepLogEntries: number };
  /** Simulated one-way delay on peer links to nodes of each region (milliseconds), for WAN tests. */
  wanDelayMs: Record<string, number>;
  /**
   * Node-local: where this node dials a peer, by node id, instead of the peer's advertised
   * peerAddress (a fault-injection or delay proxy in tests, a NAT or tunnel in production).
   */
  peerDialAddresses: Record<string, string>;
  log: { level: "error" | "warn" | "info" | "debug" };
  /** Browser origins allowed to call the client port (CORS); empty: none. */
  clientCors: { allowedOrigins: string[] };
  /**
   * The web console (docs/console.md): static pages served on the client port under /console/,
   * which call this port with the user's own credentials. Off by default.
   */
  console: { enabled: boolean; assetsDir: string };
  /** A listener for clients outside the cluster network, answering with outside addresses; absent: none. */
  external?: ExternalListenerConfig;
}
