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
  --region name          with cluster.json: connect to this region's node
  --cluster-file path    another cluster.json`;

export function connectionFrom(values: Record<string, unknown>) {
  const pick = (k: string) => (typeof values[k] === "string" ? (values[k] as string) : undefined);
  const o: {
    endpoint?: string;
    ca?: string;
    user?: string;
    password?: string;
    region?: string;
    clusterFile?: string;
  } = {};
  const endpoint = pick("endpoint");
  if (endpoint) o.endpoint = endpoint;
  const ca = pick("ca");
  if (ca) o.ca = ca;
  const user = pick("user");
  if (user) o.user = user;
  const password = pick("password");
  if (password) o.password = password;
  const region = pick("region");
  if (region) o.region = region;
  const clusterFile = pick("cluster-file");
  if (clusterFile) o.clusterFile = clusterFile;
  return o;
}
