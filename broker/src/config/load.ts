import { readFileSync } from "node:fs";
import { parse as parseYaml } from "yaml";
import { isWriteFormat, writeFormats } from "../engine/write-format.js";
import { corsOriginProblems } from "../security/cors.js";
import { checkSecurityConfig } from "../security/security-config.js";
import type { NodeConfig, PeerConfig } from "./config.js";
import { defaultConfig } from "./defaults.js";

/** A configuration problem, with the path of the field and what was expected. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join("\n  - ")}`);
    this.name = "ConfigError";
  }
}

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);

/** Deep merge of plain objects; arrays and scalars of `over` replace those of `base`. */
export function mergeConfig(base: Json, over: Json): Json {
  const out: Json = { ...base };
  for (const [k, v] of Object.entries(over)) {
    if (v === undefined) continue;
    out[k] = isObject(v) && isObject(base[k]) ? mergeConfig(base[k] as Json, v) : v;
  }
  return out;
}

/** The environment variables a node reads, each overriding the file. */
export const envVariables: Record<string, string> = {
  GEOBROKER_NODE_ID: "nodeId",
  GEOBROKER_REGION: "region",
  GEOBROKER_ZONE: "zone",
  GEOBROKER_ADVERTISE_HOST: "advertiseHost",
  GEOBROKER_DATA_DIR: "dataDir",
  GEOBROKER_LOG_LEVEL: "log.level",
};

export function fromEnv(env: NodeJS.ProcessEnv): Json {
  let out: Json = {};
  for (const [name, path] of Object.entries(envVariables)) {
    const value = env[name];
    if (value !== undefined && value !== "") out = mergeConfig(out, nested(path, value));
  }
  return out;
}

/** `a.b.c=v` as {a:{b:{c:v}}}; values are parsed as YAML scalars so numbers and booleans work. */
export function nested(path: string, value: unknown): Json {
  const keys = path.split(".");
  let out: unknown = value;
  for (const k of keys.reverse()) out = { [k]: out };
  return out as Json;
}

export function readConfigFile(path: string): Json {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new ConfigError([`cannot read config file ${path}: ${(err as Error).message}`]);
  }
  let parsed: unknown;
  try {
    parsed = parseYaml(text);
  } catch (err) {
    throw new ConfigError([`config file ${path} is not valid YAML: ${(err as Error).message}`]);
  }
  if (parsed === null || parsed === undefined) return {};
  if (!isObject(parsed)) throw new ConfigError([`config file ${path} must hold a mapping at the top level`]);
  return parsed;
}

/** Layers defaults < file < env < flags, then validates the result. */
export function resolveConfig(layers: Json[]): NodeConfig {
  let merged: Json = defaultConfig as unknown as Json;
  for (const layer of layers) merged = mergeConfig(merged, layer);
  return validateConfig(merged);
}

const namePattern = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const addressPattern = /^[^\s:]+:\d{1,5}$/;

export function validateConfig(c: Json): NodeConfig {
  const problems: string[] = [];
  const need = (ok: boolean, message: string) => {
    if (!ok) problems.push(message);
  };
  const str = (v: unknown) => typeof v === "string" && v.length > 0;
  const port = (v: unknown) => Number.isInteger(v) && (v as number) > 0 && (v as number) < 65536;
  const posInt = (v: unknown) => Number.isInteger(v) && (v as number) > 0;
  const nonNegInt = (v: unknown) => Number.isInteger(v) && (v as number) >= 0;

  need(
    str(c.nodeId) && namePattern.test(c.nodeId as string),
    `nodeId: required, lowercase letters, digits and '-' (got ${JSON.stringify(c.nodeId)}); set it in the file, with --node-id or GEOBROKER_NODE_ID`,
  );
  need(
    str(c.region) && namePattern.test(c.region as string),
    `region: required, lowercase letters, digits and '-' (got ${JSON.stringify(c.region)}); set it with --region or GEOBROKER_REGION`,
  );
  need(typeof c.zone === "string", "zone: must be a string");
  const ports = (c.ports ?? {}) as Json;
  for (const k of ["client", "peer", "http"])
    need(port(ports[k]), `ports.${k}: must be a port number 1-65535 (got ${JSON.stringify(ports[k])})`);
  need(
    ports.admin === undefined || port(ports.admin) || ports.admin === 0,
    `ports.admin: a port number 1-65535 on 127.0.0.1 for POST /drain (got ${JSON.stringify(ports.admin)})`,
  );
  const distinct = new Set([ports.client, ports.peer, ports.http]);
  need(distinct.size === 3, "ports: client, peer and http must be three different ports");
  problems.push(...externalProblems(c.external, [ports.client, ports.peer, ports.http, ports.admin]));
  need(str(c.dataDir), "dataDir: required (a folder for RocksDB)");
  need(
    Array.isArray(c.peers) && c.peers.length > 0,
    "peers: list every initial voter (this node included): [{id, region, peerAddress, clientAddress}]",
  );
  const peers = Array.isArray(c.peers) ? (c.peers as Json[]) : [];
  peers.forEach((p, i) => {
    need(isObject(p), `peers[${i}]: must be a mapping`);
    if (!isObject(p)) return;
    need(
      str(p.id) && namePattern.test(p.id as string),
      `peers[${i}].id: required node id (got ${JSON.stringify(p.id)})`,
    );
    need(str(p.region), `peers[${i}].region: required`);
    need(
      typeof p.peerAddress === "string" && addressPattern.test(p.peerAddress),
      `peers[${i}].peerAddress: host:port required (got ${JSON.stringify(p.peerAddress)})`,
    );
    need(
      typeof p.clientAddress === "string" && addressPattern.test(p.clientAddress),
      `peers[${i}].clientAddress: host:port required (got ${JSON.stringify(p.clientAddress)})`,
    );
  });
  const ids = peers.map((p) => p.id);
  need(new Set(ids).size === ids.length, "peers: node ids must be unique");
  // A node missing from `peers` is not an initial voter: it starts empty and waits for
  // ClusterService.AddNode (how the operator grows a cluster).
  need(
    c.seeds === undefined ||
      (Array.isArray(c.seeds) && c.seeds.every((v) => typeof v === "string" && addressPattern.test(v))),
    "seeds: a list of host:port peer addresses",
  );
  const security = checkSecurityConfig(c);
  problems.push(...security.problems);
  if (c.production === true) {
    const tls = (c.tls ?? {}) as Json;
    need(isObject(tls.client), "tls.client is required in production mode");
    need(isObject(tls.peer), "tls.peer is required in production mode (peers use mTLS)");
  }
  const tls = (c.tls ?? {}) as Json;
  for (const side of ["client", "peer"]) {
    const t = tls[side];
    if (t === undefined) continue;
    need(
      isObject(t) && str(t.cert) && str(t.key) && str(t.ca),
      `tls.${side}: needs cert, key and ca file paths`,
    );
  }
  if (isObject(tls.client) && tls.client.serverCa !== undefined)
    need(
      str(tls.client.serverCa),
      "tls.client.serverCa: a file path (the CA of the client ports' server certificates)",
    );
  const defaults = (c.topicDefaults ?? {}) as Json;
  need(posInt(defaults.partitions), "topicDefaults.partitions: a positive integer");
  need(posInt(defaults.replicationFactor), "topicDefaults.replicationFactor: a positive integer");
  const retention = (defaults.retention ?? {}) as Json;
  for (const k of ["maxAgeMs", "maxBytes", "maxMessages"])
    need(nonNegInt(retention[k]), `topicDefaults.retention.${k}: an integer >= 0 (0 = no limit)`);
  const limits = (c.limits ?? {}) as Json;
  for (const k of ["maxMessageBytes", "maxKeyBytes", "maxHeaders", "maxHeaderBytes", "maxBatchMessages"])
    need(posInt(limits[k]), `limits.${k}: a positive integer`);
  need(
    posInt(limits.maxBatchBytes) && (limits.maxBatchBytes as number) <= 64 * 1024 * 1024,
    "limits.maxBatchBytes: a positive integer, at most 64 MiB",
  );
  need(((limits.maxBatchMessages as number) ?? 0) <= 100_000, "limits.maxBatchMessages: at most 100000");
  need(
    ((limits.maxMessageBytes as number) ?? 0) <= 16 * 1024 * 1024,
    "limits.maxMessageBytes: at most 16 MiB",
  );
  const storage = (c.storage ?? {}) as Json;
  need(
    posInt(storage.memtableBudgetBytes) && (storage.memtableBudgetBytes as number) >= 4 * 1024 * 1024,
    "storage.memtableBudgetBytes: an integer >= 4194304 (4 MiB)",
  );
  need(
    storage.writeFormat === undefined || isWriteFormat(storage.writeFormat),
    `storage.writeFormat: one of ${writeFormats.join(", ")}`,
  );
  const consumers = (c.consumers ?? {}) as Json;
  for (const k of ["ackTimeoutMs", "maxInFlight", "readAhead", "readAheadBytes", "flushMs", "lingerMs"])
    need(posInt(consumers[k]), `consumers.${k}: a positive integer`);
  const partitions = (c.partitions ?? {}) as Json;
  for (const k of ["dedupWindowMs", "dedupMaxIds", "retentionCheckMs"])
    need(posInt(partitions[k]), `partitions.${k}: a positive integer`);
  const raft = (c.raft ?? {}) as Json;
  need(posInt(raft.tickMs), "raft.tickMs: a positive integer (milliseconds per Raft tick)");
  need(
    posInt(raft.electionTicks) && (raft.electionTicks as number) >= 3,
    "raft.electionTicks: an integer >= 3",
  );
  need(
    posInt(raft.heartbeatTicks) && (raft.heartbeatTicks as number) < (raft.electionTicks as number),
    "raft.heartbeatTicks: a positive integer below electionTicks",
  );
  need(posInt(raft.keepLogEntries), "raft.keepLogEntries: a positive integer");
  const wan = (c.wanDelayMs ?? {}) as Json;
  need(
    isObject(wan) && Object.values(wan).every((v) => typeof v === "number" && v >= 0),
    "wanDelayMs: a mapping of region -> milliseconds >= 0",
  );
  const dial = (c.peerDialAddresses ?? {}) as Json;
  need(
    isObject(dial) && Object.values(dial).every((v) => typeof v === "string" && addressPattern.test(v)),
    "peerDialAddresses: a mapping of node id -> host:port",
  );
  problems.push(...corsOriginProblems(((c.clientCors ?? {}) as Json).allowedOrigins ?? []));
  const consoleConfig = (c.console ?? {}) as Json;
  need(typeof consoleConfig.enabled === "boolean", "console.enabled: true or false");
  need(
    typeof consoleConfig.assetsDir === "string",
    'console.assetsDir: a folder path ("": the built console)',
  );
  const log = (c.log ?? {}) as Json;
  need(
    ["error", "warn", "info", "debug"].includes(log.level as string),
    `log.level: error, warn, info or debug (got ${JSON.stringify(log.level)})`,
  );
  if (problems.length > 0) throw new ConfigError(problems);
  return { ...c, auth: security.auth } as unknown as NodeConfig;
}

export type { NodeConfig, PeerConfig };

/** `external` (the listener for clients outside the cluster network): its problems, by field path. */
function externalProblems(x: unknown, taken: unknown[]): string[] {
  if (x === undefined) return [];
  if (!isObject(x)) return ["external: a mapping {port, advertised: {<region>: {host, port | portBase}}}"];
  const problems: string[] = [];
  const port = (v: unknown) => Number.isInteger(v) && (v as number) > 0 && (v as number) < 65536;
  if (!port(x.port) || taken.includes(x.port))
    problems.push(`external.port: a port number 1-65535 no other port uses (got ${JSON.stringify(x.port)})`);
  if (!isObject(x.advertised))
    return [...problems, "external.advertised: a mapping of region to {host, port | portBase}"];
  for (const [region, r] of Object.entries(x.advertised)) {
    const at = `external.advertised.${region}`;
    if (!isObject(r) || typeof r.host !== "string" || r.host === "") {
      problems.push(`${at}.host: a host name template ({node}, {ordinal}) is required`);
      continue;
    }
    if ((r.port === undefined) === (r.portBase === undefined))
      problems.push(`${at}: set exactly one of port (every node the same) or portBase (portBase + ordinal)`);
    if (r.port !== undefined && !port(r.port)) problems.push(`${at}.port: a port number 1-65535`);
    if (r.portBase !== undefined && !port(r.portBase)) problems.push(`${at}.portBase: a port number 1-65535`);
  }
  return problems;
}
