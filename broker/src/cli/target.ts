import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Target } from "../client/connect.js";
import { connect, type GeoBrokerClient, GeoBrokerError } from "../client/node.js";
import type { ClusterFile } from "../local/layout.js";
import { projectRoot } from "../util/project-root.js";

export type { Target };

/** Where the CLI connects: the target, every endpoint it may fail over to, and the preferred region. */
export interface CliTarget extends Target {
  endpoints: string[];
  region?: string;
}

/**
 * Where to connect: flags, then GEOBROKER_* environment, then the local cluster's cluster.json
 * (so that after `npm start` the CLI needs no flags). `region` picks that region's endpoint first;
 * the other regions' endpoints are kept to fail over to.
 */
export function resolveTarget(o: {
  endpoint?: string;
  ca?: string;
  user?: string;
  password?: string;
  region?: string;
  clusterFile?: string;
}): CliTarget {
  const file = o.clusterFile ?? join(projectRoot(), ".geobroker", "local", "cluster.json");
  const local = existsSync(file) ? (JSON.parse(readFileSync(file, "utf8")) as ClusterFile) : undefined;
  const region = o.region ?? process.env.GEOBROKER_REGION;
  let endpoint = o.endpoint ?? process.env.GEOBROKER_ENDPOINT;
  let endpoints = endpoint ? endpoint.split(",").map((e) => e.trim()) : [];
  if (!endpoint && local) {
    const chosen = region ? local.regions.find((r) => r.name === region) : local.regions[0];
    if (!chosen)
      throw new Error(
        `region ${region} is not in ${file}; regions: ${local.regions.map((r) => r.name).join(", ")}`,
      );
    endpoint = chosen.endpoints[0];
    endpoints = [...chosen.endpoints, ...local.regions.flatMap((r) => r.endpoints)];
  }
  if (!endpoint)
    throw new Error(
      "no endpoint: pass --endpoint host:port (or set GEOBROKER_ENDPOINT, or start a local cluster with npm start)",
    );
  const ca = o.ca ?? process.env.GEOBROKER_CA ?? (local?.tls ? local.caPath : undefined);
  const user = o.user ?? process.env.GEOBROKER_USER ?? local?.username;
  const password = o.password ?? process.env.GEOBROKER_PASSWORD ?? local?.password;
  return {
    endpoint: endpoints[0] ?? endpoint,
    endpoints: [...new Set(endpoints)],
    ...(region ? { region } : {}),
    ...(ca ? { ca } : {}),
    ...(user ? { user } : {}),
    ...(password ? { password } : {}),
  };
}

/** The client library over a resolved target. */
export function libraryClient(t: CliTarget): GeoBrokerClient {
  return connect({
    endpoints: t.endpoints,
    ...(t.region ? { region: t.region } : {}),
    ...(t.user !== undefined ? { auth: { basic: { user: t.user, password: t.password ?? "" } } } : {}),
    ...(t.ca ? { tls: { ca: readFileSync(t.ca) } } : {}),
  });
}

/** A message a person can act on for a failed call. */
export function explainError(err: unknown, target: Target): string {
  const e = err as { code?: number; rawMessage?: string; message?: string; cause?: { code?: string } };
  const raw = e.rawMessage ?? e.message ?? String(err);
  const cause = err instanceof GeoBrokerError ? (err.cause as { cause?: { code?: string } } | undefined) : e;
  if (/ECONNREFUSED|connect ECONN/.test(raw) || cause?.cause?.code === "ECONNREFUSED") {
    return `cannot reach ${target.endpoint}: is the cluster running? (npm start)`;
  }
  switch (e.code) {
    case 16:
      return `wrong user or password for ${target.endpoint} (${raw})`;
    case 7:
      return `permission denied: ${raw}`;
    case 3:
      return `invalid request: ${raw}`;
    case 5:
      return `not found: ${raw}`;
    case 14:
      return `unavailable, retry: ${raw}`;
    default:
      return raw;
  }
}
