import type { ParseArgsConfig } from "node:util";

/** The flags every client command takes to find and authenticate with a cluster. */
export const connectionOptions = {
  endpoint: { type: "string" },
  ca: { type: "string" },
  user: { type: "string" },
  password: { type: "string" },
  region: { type: "string" },
  "cluster-file": { type: "string" },
} satisfies ParseArgsConfig["options"];

export const connectionUsage = `Connection (default: the local cluster's .geobroker/local/cluster.json):
  --endpoint host:port   a node's client port        (GEOBROKER_ENDPOINT)
  --ca file              CA certificate for TLS      (GEOBROKER_CA)
  --user name            basic auth user             (GEOBROKER_USER)
  --password secret      basic auth password         (GEOBROKER_PASSWORD)
  --region name          prefer this region's nodes (GEOBROKER_REGION)
  --cluster-file path    another cluster.json`;

const flagToField = {
  endpoint: "endpoint",
  ca: "ca",
  user: "user",
  password: "password",
  region: "region",
  "cluster-file": "clusterFile",
} as const;

type ConnectionFields = Partial<Record<(typeof flagToField)[keyof typeof flagToField], string>>;

/** The connection flags that were given, as resolveTarget's options. */
export function connectionFrom(values: Record<string, unknown>): ConnectionFields {
  const o: ConnectionFields = {};
  for (const [flag, field] of Object.entries(flagToField)) {
    const v = values[flag];
    if (typeof v === "string" && v.length > 0) o[field] = v;
  }
  return o;
}
