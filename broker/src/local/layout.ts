import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";
import type { PeerConfig } from "../config/config.js";
import { resolveConfig } from "../config/load.js";
import { hashPassword } from "../security/passwords.js";
import { parseWanDelay } from "./wan-delay.js";

// Everything `geobroker local` keeps on disk, under one folder (default .geobroker/local):
//   cluster.json   regions, endpoints, CA path, credentials (mode 0600): for people and scripts
//   tls/           the CA and one certificate per node
//   users.yaml     the admin user, password hashed
//   acl.yaml       grants that user the built-in `admin` role (authorization is on, as in production)
//   nodes/<id>.yaml, data/<id>/   each node's configuration and RocksDB

export interface LocalOptions {
  regions: string[];
  nodesPerRegion: number;
  basePort: number;
  dir: string;
  wanDelay: string;
  tls: boolean;
  /** Browser origins the client ports allow (CORS), e.g. the browser example's page. */
  corsOrigins?: string[];
}

export interface ClusterFile {
  regions: { name: string; endpoints: string[] }[];
  /** The web console's address on the first node (every node serves it); absent without TLS. */
  console?: string;
  nodes: { id: string; region: string; client: string; peer: string; http: string; config: string }[];
  tls: boolean;
  caPath: string;
  username: string;
  password: string;
  topology: string;
}

export function topologyKey(o: LocalOptions): string {
  return `${o.regions.join(",")}x${o.nodesPerRegion}@${o.basePort}${o.tls ? "+tls" : ""}`;
}

export function readClusterFile(dir: string): ClusterFile | undefined {
  const path = join(dir, "cluster.json");
  return existsSync(path) ? (JSON.parse(readFileSync(path, "utf8")) as ClusterFile) : undefined;
}

/** Creates (first start) or reuses the local cluster's files; returns what to start. */
export async function prepareLocalCluster(
  o: LocalOptions,
  log: (line: string) => void,
): Promise<ClusterFile> {
  const existing = readClusterFile(o.dir);
  if (existing && existing.topology !== topologyKey(o)) {
    throw new Error(
      `the local cluster in ${o.dir} was made as ${existing.topology}, not ${topologyKey(o)}: start it with the same flags, or add --reset to start over (deletes its data)`,
    );
  }
  const wan = parseWanDelay(o.wanDelay, o.regions);
  const tlsDir = join(o.dir, "tls");
  for (const d of [o.dir, tlsDir, join(o.dir, "nodes"), join(o.dir, "data")])
    mkdirSync(d, { recursive: true });
  const nodes: PeerConfig[] = [];
  let k = 0;
  for (const region of o.regions) {
    for (let i = 0; i < o.nodesPerRegion; i++, k++) {
      nodes.push({
        id: `${region}-${i}`,
        region,
        zone: `${region}-${String.fromCharCode(97 + (i % 3))}`,
        clientAddress: `127.0.0.1:${o.basePort + k}`,
        peerAddress: `127.0.0.1:${o.basePort + 100 + k}`,
      });
    }
  }
  let password = existing?.password;
  const caPath = join(tlsDir, "ca.crt");
  if (!existing) {
    log(`creating a new local cluster in ${o.dir}`);
    password = (await import("node:crypto")).randomBytes(12).toString("base64url");
    writeFileSync(
      join(o.dir, "users.yaml"),
      stringify({ users: [{ name: "admin", passwordHash: await hashPassword(password) }] }),
      { mode: 0o600 },
    );
    if (o.tls) {
      log("generating a certificate authority and node certificates");
      // Loaded only here: the certificate library is not needed on any other path.
      const { createAuthority, issueCertificate } = await import("../security/certs.js");
      const ca = await createAuthority("geobroker local CA");
      writeFileSync(caPath, ca.cert);
      writeFileSync(join(tlsDir, "ca.key"), ca.key, { mode: 0o600 });
      for (const n of nodes) {
        const leaf = await issueCertificate(ca, {
          commonName: n.id,
          dnsNames: ["localhost", n.id],
          ips: ["127.0.0.1"],
          server: true,
          client: true,
        });
        writeFileSync(join(tlsDir, `${n.id}.crt`), leaf.cert);
        writeFileSync(join(tlsDir, `${n.id}.key`), leaf.key, { mode: 0o600 });
      }
    }
  }
  // Also for clusters made before the ACL existed: their nodes' configs now point at it.
  const aclPath = join(o.dir, "acl.yaml");
  if (!existsSync(aclPath))
    writeFileSync(aclPath, stringify({ roles: [], users: [{ name: "admin", roles: ["admin"] }] }));
  const file: ClusterFile = {
    regions: o.regions.map((r) => ({
      name: r,
      endpoints: nodes.filter((n) => n.region === r).map((n) => n.clientAddress),
    })),
    nodes: nodes.map((n, i) => ({
      id: n.id,
      region: n.region,
      client: n.clientAddress,
      peer: n.peerAddress,
      http: `127.0.0.1:${o.basePort + 200 + i}`,
      config: join(o.dir, "nodes", `${n.id}.yaml`),
    })),
    ...(o.tls ? { console: `https://${nodes[0]!.clientAddress}/console/` } : {}),
    tls: o.tls,
    caPath,
    username: "admin",
    password: password!,
    topology: topologyKey(o),
  };
  nodes.forEach((n, i) => {
    const tls = o.tls
      ? {
          client: {
            cert: join(tlsDir, `${n.id}.crt`),
            key: join(tlsDir, `${n.id}.key`),
            ca: caPath,
            requireClientCert: false,
          },
          peer: { cert: join(tlsDir, `${n.id}.crt`), key: join(tlsDir, `${n.id}.key`), ca: caPath },
        }
      : {};
    const config = {
      nodeId: n.id,
      region: n.region,
      zone: n.zone,
      listenHost: "127.0.0.1",
      advertiseHost: "127.0.0.1",
      ports: { client: o.basePort + i, peer: o.basePort + 100 + i, http: o.basePort + 200 + i },
      dataDir: join(o.dir, "data", n.id),
      peers: nodes,
      tls,
      auth: { modes: ["basic"], usersFile: join(o.dir, "users.yaml"), aclFile: aclPath },
      raft: { tickMs: 50, electionTicks: 10, heartbeatTicks: 1, keepLogEntries: 10000 },
      wanDelayMs: wan.get(n.region) ?? {},
      ...(o.corsOrigins?.length ? { clientCors: { allowedOrigins: o.corsOrigins } } : {}),
      // The web console on every client port; browsers speak HTTP/2 only over TLS, so only with it.
      console: { enabled: o.tls, assetsDir: "" },
    };
    // Fail here, with the field named, rather than in a child process.
    resolveConfig([structuredClone(config) as unknown as Record<string, unknown>]);
    writeFileSync(join(o.dir, "nodes", `${n.id}.yaml`), stringify(config));
  });
  writeFileSync(join(o.dir, "cluster.json"), `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600 });
  return file;
}
