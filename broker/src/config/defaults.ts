import { defaultInputLimits } from "../engine/limits.js";
import { defaultAuthLimits, defaultConnectionLimits, defaultQuotas } from "../security/security-config.js";
import type { NodeConfig } from "./config.js";

export const defaultConfig: Omit<NodeConfig, "nodeId" | "region" | "peers"> = {
  clusterId: "geobroker",
  zone: "",
  listenHost: "0.0.0.0",
  advertiseHost: "127.0.0.1",
  ports: { client: 9000, peer: 9100, http: 9200 },
  dataDir: "./data",
  production: false,
  tls: {},
  // No `modes` here: a file's older `auth.mode` must not be merged with a default list.
  auth: { certificateIdentity: "cn" } as NodeConfig["auth"],
  autoCreateTopics: true,
  topicDefaults: {
    partitions: 1,
    replicationFactor: 3,
    retention: { maxAgeMs: 7 * 24 * 3600 * 1000, maxBytes: 0, maxMessages: 0, keepUnacknowledged: true },
  },
  limits: {
    ...defaultInputLimits,
    connections: defaultConnectionLimits,
    auth: defaultAuthLimits,
    quotas: defaultQuotas,
  },
  storage: { memtableBudgetBytes: 64 * 1024 * 1024 },
  consumers: {
    ackTimeoutMs: 30_000,
    maxInFlight: 1000,
    readAhead: 256,
    readAheadBytes: 4 * 1024 * 1024,
    flushMs: 20,
    lingerMs: 3000,
  },
  partitions: { dedupWindowMs: 120_000, dedupMaxIds: 100_000, retentionCheckMs: 10_000 },
  raft: { tickMs: 100, electionTicks: 10, heartbeatTicks: 1, keepLogEntries: 10_000 },
  wanDelayMs: {},
  peerDialAddresses: {},
  clientCors: { allowedOrigins: [] },
  // assetsDir "": the console the build made (dist/console-app/ of this checkout or package).
  console: { enabled: false, assetsDir: "" },
  log: { level: "info" },
};
