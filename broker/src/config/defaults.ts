import { defaultInputLimits } from "../api/validate.js";
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
  auth: { mode: "basic" },
  autoCreateTopics: true,
  topicDefaults: {
    partitions: 1,
    replicationFactor: 3,
    retention: { maxAgeMs: 7 * 24 * 3600 * 1000, maxBytes: 0, maxMessages: 0, keepUnacknowledged: true },
  },
  limits: defaultInputLimits,
  raft: { tickMs: 100, electionTicks: 10, heartbeatTicks: 1, keepLogEntries: 10_000 },
  wanDelayMs: {},
  peerDialAddresses: {},
  log: { level: "info" },
};
