import type { RetentionSpec } from "../api/engine.js";
import type { InputLimits } from "../api/validate.js";
import type { CertificateIdentity } from "../security/client-cert.js";
import type { JwtAlgorithm } from "../security/jwt.js";
import type { WriteFormat } from "../storage/write-format.js";

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

/** The peer port's mTLS files and which certificate identities count as cluster nodes. */
export interface PeerTlsFiles extends TlsFiles {
  /**
   * Identity patterns (CN or SAN; `*` matches any run of characters) a peer's certificate must
   * carry besides chaining to `ca`. Default: every node id in `peers`, `<clusterId>-peer`, `*.<clusterId>`.
   */
  allowedIdentities?: string[];
}

/** How callers prove who they are on the client port (docs/security.md). */
export type AuthMode = "basic" | "bearer" | "certificate" | "none";

export interface JwtConfig {
  algorithm: JwtAlgorithm;
  /** PEM public key or certificate (RS256/ES256), raw secret (HS256). Reloaded on change. */
  keyFile?: string;
  /** A JWKS document (RS256/ES256): the token's `kid` selects the key. Reloaded on change. */
  jwksFile?: string;
  /** A JWKS URL (in-cluster IdP), fetched and cached; refreshed every jwksRefreshSeconds and on an unknown kid. */
  jwksUrl?: string;
  jwksRefreshSeconds?: number;
  /** Longest token lifetime accepted (exp - iat), seconds. Default 86,400. */
  maxLifetimeSeconds?: number;
  issuer?: string;
  audience?: string | string[];
  leewaySeconds?: number;
  nameClaim?: string;
  rolesClaim?: string;
}

export interface AuthConfig {
  /** Accepted modes; validateConfig fills it from the older `mode: basic|none`. */
  modes: AuthMode[];
  usersFile?: string;
  /** Roles and grants (YAML). Without it every authenticated caller may do everything. */
  aclFile?: string;
  /** File holding the token /metrics then requires (`authorization: bearer <token>`); re-read on change. */
  metricsTokenFile?: string;
  /** Which certificate name is the principal in `certificate` mode. */
  certificateIdentity: CertificateIdentity;
  jwt?: JwtConfig;
}

/** Connection limits of the client port (security/limits.ts). */
export interface ConnectionLimits {
  maxSessionsPerAddress: number;
  maxSessions: number;
  idleSessionMs: number;
  requestBodyMs: number;
  /** HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS on the client port. */
  maxConcurrentStreams: number;
  /** Open streaming calls one principal may hold on a node. */
  maxStreamsPerPrincipal: number;
  /** A TLS handshake not finished within this is dropped (it holds a connection slot meanwhile). */
  handshakeMs: number;
}

/**
 * What one cluster may hold, checked where a topic or consumer is made (the node's view of the
 * metadata): a caller cannot grow every node's metadata without bound.
 */
export interface Quotas {
  maxTopics: number;
  maxPartitionsPerTopic: number;
  maxConsumersPerTopic: number;
  /** Topics one principal may have created. */
  maxTopicsPerPrincipal: number;
  /** Partitions over the topics one principal created. */
  maxPartitionsPerPrincipal: number;
}

/** Bounds on credential checks before authentication (security/auth-throttle.ts). */
export interface AuthLimits {
  maxConcurrent: number;
  maxQueued: number;
  maxFailures: number;
  failureWindowMs: number;
  lockoutMs: number;
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
  tls: { client?: TlsFiles & { requireClientCert: boolean }; peer?: PeerTlsFiles };
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
}
