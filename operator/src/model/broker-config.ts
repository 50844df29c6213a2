import { createHash } from "node:crypto";
import { stringify } from "yaml";
import type { GeoBrokerCluster } from "../api/types.js";
import { clientCaFileName, enrollmentCaFileName, peerCaFileName } from "./client-ca.js";
import { externalConfig } from "./external.js";
import {
  dataDir,
  enrollmentDefaults,
  enrollmentTokenDir,
  enrollmentUrl,
  names,
  peerHost,
  peerIssuedDir,
  ports,
  tlsDir,
  usersDir,
} from "./names.js";

// The broker's config file, shared by every pod of a cluster through one ConfigMap. Values that
// differ per pod (node id, region, advertised host) come from environment variables set in the
// StatefulSet, so one file serves all regions. Schema: docs/operator.md "Broker config file".

/** An initial voter, in the broker's `peers` format. */
export interface PeerEntry {
  id: string;
  region: string;
  zone: string;
  peerAddress: string;
  clientAddress: string;
}

export function peerEntry(cluster: GeoBrokerCluster, region: string, ordinal: number, zone = ""): PeerEntry {
  const host = peerHost(cluster.metadata.name, cluster.metadata.namespace, region, ordinal);
  return {
    id: names.pod(cluster.metadata.name, region, ordinal),
    region,
    zone,
    peerAddress: `${host}:${ports.peer}`,
    clientAddress: `${host}:${ports.client}`,
  };
}

/** Every pod the spec asks for: the initial voters of a brand-new cluster, and the seed list. */
export function specPeers(cluster: GeoBrokerCluster): PeerEntry[] {
  return cluster.spec.regions.flatMap((r) =>
    Array.from({ length: r.replicas }, (_, ordinal) => peerEntry(cluster, r.name, ordinal)),
  );
}

export interface BrokerConfig {
  [key: string]: unknown;
  seeds: string[];
  peers: PeerEntry[];
}

/**
 * `initialPeers` is frozen at creation (read back from the existing ConfigMap): changing it later
 * would describe a different cluster to a restarting node. `seeds` follows the spec.
 */
export function brokerConfig(
  cluster: GeoBrokerCluster,
  initialPeers: PeerEntry[],
  /** The operator's enrollment endpoint (runtime flags; the chart's defaults otherwise). */
  enrollment: string = enrollmentUrl(enrollmentDefaults),
): BrokerConfig {
  const { spec } = cluster;
  const base: BrokerConfig = {
    clusterId: cluster.metadata.name,
    // Production mode refuses anonymous access: `auth.mode: none` is an explicit development choice.
    production: spec.auth.mode !== "none",
    listenHost: "0.0.0.0",
    ports: { ...ports },
    dataDir,
    peers: initialPeers,
    seeds: specPeers(cluster).map((p) => p.peerAddress),
    // Three CAs (model/tls.ts): client certificates are the operator's own (client-ca ConfigMap),
    // the client port's server certificate has its CA (what a forwarding node verifies), peers theirs.
    tls: {
      client: {
        cert: `${tlsDir}/client/tls.crt`,
        key: `${tlsDir}/client/tls.key`,
        ca: `${tlsDir}/client-ca/${clientCaFileName}`,
        serverCa: `${tlsDir}/client/ca.crt`,
        requireClientCert: false,
      },
      // Each node's own certificate, CN = its pod name (= node id), which binds its peer connections
      // to it (decision 0053): the broker asks the operator for it with its pod's token (0065).
      // The peer CA is the cluster's own, its key in the operator's namespace: every pod of the
      // cluster is `<cluster>-<region>-<n>`, and no other cluster's nodes chain to this CA.
      peer: {
        cert: `${peerIssuedDir}/tls.crt`,
        key: `${peerIssuedDir}/tls.key`,
        ca: `${tlsDir}/peer-ca/${peerCaFileName}`,
        allowedIdentities: [`${cluster.metadata.name}-*`],
        enroll: {
          url: enrollment,
          tokenFile: `${enrollmentTokenDir}/token`,
          ca: `${tlsDir}/peer-ca/${enrollmentCaFileName}`,
        },
      },
    },
    auth:
      spec.auth.mode === "none"
        ? { modes: ["none"] }
        : // Users by password; the operator itself by its client certificate (CN geobroker-operator).
          {
            modes: ["basic", "certificate"],
            usersFile: `${usersDir}/users.yaml`,
            aclFile: `${usersDir}/acl.yaml`,
          },
    topicDefaults: {
      replicationFactor: spec.replication.factor,
      retention: { ...spec.retention },
    },
    log: { level: spec.logLevel },
  };
  const external = externalConfig(cluster);
  if (external) base.external = external;
  return deepMerge(base, spec.config ?? {}) as BrokerConfig;
}

export function renderBrokerConfig(config: BrokerConfig): string {
  return stringify(config, { lineWidth: 0 });
}

/**
 * Hash of what a running node must restart to pick up. `seeds` is left out: it only helps a
 * starting node find the cluster, so growing the cluster must not roll every pod.
 */
export function configHash(config: BrokerConfig): string {
  const { seeds: _seeds, ...rest } = config;
  return createHash("sha256").update(stableJson(rest)).digest("hex").slice(0, 16);
}

function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

function deepMerge(base: unknown, over: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(over)) return over === undefined ? base : over;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) out[k] = deepMerge(base[k], v);
  return out;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** Reads the frozen initial voters back from a ConfigMap's data; undefined when absent or unreadable. */
export function initialPeersFromConfigText(
  text: string | undefined,
  parse: (s: string) => unknown,
): PeerEntry[] | undefined {
  if (text === undefined) return undefined;
  try {
    const doc = parse(text) as { peers?: unknown };
    return Array.isArray(doc?.peers) ? (doc.peers as PeerEntry[]) : undefined;
  } catch {
    return undefined;
  }
}
