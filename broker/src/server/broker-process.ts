import type { Server } from "node:http";
import { join } from "node:path";
import { ClusterService } from "../../../gen/geobroker/v1/cluster_pb.js";
import { UserService } from "../../../gen/geobroker/v1/users_pb.js";
import { type ClientServer, startClientServer } from "../api/client-server.js";
import { clusterService } from "../api/cluster-service.js";
import { consoleAssets } from "../api/console-assets.js";
import { advertisedAddress } from "../api/external-listener.js";
import { userService } from "../api/user-service.js";
import { ClusterNode } from "../cluster/cluster-node.js";
import { ClusterAdmin } from "../cluster/membership/cluster-admin.js";
import { openIdentity } from "../cluster/membership/identity-startup.js";
import { controlCodec } from "../cluster/peers/internal-requests.js";
import type { NodeConfig } from "../config/config.js";
import { setWriteFormat } from "../engine/write-format.js";
import { engineObserver } from "../observability/engine-observer.js";
import { startAdminServer, startHttpServer } from "../observability/http-server.js";
import type { Logger } from "../observability/logger.js";
import { NodeMetrics } from "../observability/metrics.js";
import { RaftNode } from "../raft/raft-node.js";
import { createAudit } from "../security/audit.js";
import { drainAuthorizer, metricsTokenFrom } from "../security/http-admin-auth.js";
import { NodeAddressBook } from "../security/node-addresses.js";
import { type PeerEnrollment, startPeerEnrollment } from "../security/peer-enrollment.js";
import { peerTlsWithIdentities } from "../security/peer-identity.js";
import { type Db, openDb } from "../storage/db.js";
import { checkDurability, checkLogHoles, DurabilityWitness } from "../storage/durability-mark.js";
import { PartitionStore } from "../storage/partition-store.js";
import { RaftLogStore } from "../storage/raft-log-store.js";
import { PeerTransport } from "../transport/peer-transport.js";
import { mkdirDurable } from "../util/durable-dir.js";
import { projectRoot } from "../util/project-root.js";
import { buildNodeSecurity } from "./node-security.js";
import { ReplicatedSecurity } from "./replicated-security.js";
import { StorageFailure } from "./storage-failure.js";

export interface BrokerProcess {
  node: ClusterNode;
  clientPort: number;
  peerPort: number;
  httpPort: number;
  stop(): Promise<void>;
}

export interface TestHooks {
  /** Test only: slow every fsync by this much (chaos tests). */
  slowSyncMs?: number;
}

/** Opens storage, joins the cluster and serves clients: one broker node, as `geobroker serve` runs it. */
export async function startBrokerProcess(
  config: NodeConfig,
  logger: Logger,
  hooks: TestHooks = {},
): Promise<BrokerProcess> {
  const metrics = new NodeMetrics({ node: config.nodeId, region: config.region });
  // On Kubernetes the peer certificate comes from the operator: before anything reads the files.
  const peerTls = config.tls.peer;
  const enrollment: PeerEnrollment | undefined = peerTls?.enroll
    ? await startPeerEnrollment(
        { nodeId: config.nodeId, enroll: peerTls.enroll, keyFile: peerTls.key, certFile: peerTls.cert },
        logger,
      )
    : undefined;
  if (config.storage.writeFormat) setWriteFormat(config.storage.writeFormat);
  mkdirDurable(config.dataDir);
  const db: Db = await openDb(join(config.dataDir, "rocksdb"), config.storage);
  // Outside rocksdb/, so that whatever damages the database leaves the witness of what it synced.
  const markFile = join(config.dataDir, "durable-mark");
  try {
    await checkDurability(db, markFile);
  } catch (err) {
    await db.close();
    throw err;
  }
  const storage = new StorageFailure({
    nodeId: config.nodeId,
    dataDir: config.dataDir,
    logger,
    exit: (code) => process.exit(code),
  });
  let witness: DurabilityWitness | undefined;
  const logStore = await RaftLogStore.open(db, {
    ...(hooks.slowSyncMs ? { slowSyncMs: hooks.slowSyncMs } : {}),
    onSync: (seconds, entries) => {
      metrics.fsyncSeconds.observe(seconds);
      metrics.fsyncEntries.observe(entries);
    },
    onDurable: (count) => witness?.confirm(count),
  });
  try {
    checkLogHoles(logStore);
  } catch (err) {
    await db.close();
    throw err;
  }
  witness = new DurabilityWitness(markFile, logStore.syncedBatches, 1000, (err) => storage.fail(err));
  witness.start();
  const partitions = await PartitionStore.open(db);
  // Assigned below; until then (the identity check talks to peers first) the transport's callbacks find no groups.
  let node: ClusterNode | undefined;
  const regionOf = new Map(config.peers.map((p) => [p.id, p.region]));
  const transport = new PeerTransport({
    control: controlCodec,
    nodeId: config.nodeId,
    listen: { host: config.listenHost, port: config.ports.peer },
    peers: new Map(config.peers.map((p) => [p.id, config.peerDialAddresses[p.id] ?? p.peerAddress])),
    advertisedAddress:
      config.peers.find((p) => p.id === config.nodeId)?.peerAddress ??
      `${config.advertiseHost}:${config.ports.peer}`,
    ...(config.tls.peer ? { tls: peerTlsWithIdentities(config) } : {}),
    linkDelayMs: (to) => config.wanDelayMs[regionOf.get(to) ?? ""] ?? 0,
    onSnapshotStatus: (groupId, to, ok) => node?.groupRunners().get(groupId)?.core.reportSnapshot(to, ok),
    onUnreachable: (id) => {
      for (const runner of node?.groupRunners().values() ?? []) runner.core.reportUnreachable(id);
    },
    logger,
  });
  const peerPort = await transport.start();
  const incarnation = await openIdentity(config, db, logStore, transport, logger);
  node = await ClusterNode.start({
    config,
    logger,
    logStore,
    partitions,
    metadataStore: partitions,
    transport,
    incarnation,
    observer: engineObserver(metrics, { nodeId: config.nodeId, region: config.region }, Date.now),
    createCore: ({ groupId, storage }) =>
      new RaftNode(
        {
          id: config.nodeId,
          groupId,
          electionTicks: config.raft.electionTicks,
          heartbeatTicks: config.raft.heartbeatTicks,
          random: Math.random,
          logger: (line) => logger.info(line, { group: groupId }),
          incarnation: incarnation.incarnation,
          original: incarnation.original,
        },
        storage,
      ),
    // Memory and disk may disagree after a failed write or fsync: the groups stopped, nothing more
    // is acknowledged; the node refuses calls until its disk works, then restarts (storage-failure.ts).
    onFatal: (err) => storage.fail(err),
  });
  const health = {
    // Live while failed: the process answers, and restarts itself once the disk works again.
    live: () => true,
    ready: () => (storage.reason ? { ready: false, reason: storage.reason } : node!.readiness()),
  };
  const audit = createAudit(logger);
  const security = buildNodeSecurity(config, { audit });
  // Without peer TLS, a node's forwarded calls are known by their source address (node-addresses.ts).
  const nodeAddresses = new NodeAddressBook(
    () => [
      ...config.peers.flatMap((p) => [p.peerAddress, p.clientAddress]),
      ...Object.values(node.metadataState().nodes).flatMap((n) => [n.peerAddress, n.clientAddress]),
    ],
    undefined,
    (host, message) => logger.warn("cannot resolve a node's address", { host, err: message }),
  );
  if (!config.tls.peer) await nodeAddresses.refresh();
  const clientServer: ClientServer = await startClientServer({
    host: config.listenHost,
    port: config.ports.client,
    engine: node,
    extraRoutes: (router) => {
      router.service(ClusterService, clusterService(new ClusterAdmin(node), node.identity, config.clusterId));
      router.service(UserService, userService(node));
    },
    limits: config.limits,
    authenticator: security.authenticator,
    authorizer: security.authorizer,
    audit,
    connections: config.limits.connections,
    cors: config.clientCors,
    ...(config.console.enabled
      ? { console: consoleAssets(config.console.assetsDir || join(projectRoot(), "dist", "console-app")) }
      : {}),
    ...(config.external
      ? {
          external: {
            port: config.external.port,
            addressOf: (nodeId: string, region: string) =>
              advertisedAddress(config.external!, nodeId, region),
          },
        }
      : {}),
    authThrottle: security.throttle,
    health,
    refuse: () => storage.refusal(),
    observer: metrics,
    ...(config.tls.client
      ? {
          tls: {
            ...config.tls.client,
            // Also with peer TLS alone: forwarding nodes present their certificates, which is what
            // lets this port believe their internal headers (hop counts) and nobody else's.
            requestCert: security.requestClientCert || config.tls.peer !== undefined,
            // Nodes forward calls to each other's client ports with their peer certificates.
            ...(config.tls.peer ? { peerCa: config.tls.peer.ca } : {}),
          },
        }
      : {}),
    ...(config.tls.peer
      ? { nodeIdentities: peerTlsWithIdentities(config).allowedIdentities }
      : { nodeAddress: (address: string | undefined) => nodeAddresses.has(address) }),
    // Certificate callers' calls arrive forwarded under their name, from nodes only.
    ...(config.tls.peer && security.requestClientCert
      ? { forwardingNodes: { allowedIdentities: peerTlsWithIdentities(config).allowedIdentities } }
      : {}),
  });
  const drain = () => node.drainLeadership();
  const http: Server = await startHttpServer({
    host: config.listenHost,
    port: config.ports.http,
    health,
    registry: metrics.registry,
    drain,
    authorizeDrain: drainAuthorizer(security.authenticator, security.authorizer),
    ...(config.auth.metricsTokenFile ? { metricsToken: metricsTokenFrom(config.auth.metricsTokenFile) } : {}),
    onRefused: (path, address, status) => audit("auth.failure", { method: `HTTP ${path}`, address, status }),
  });
  const admin =
    config.ports.admin !== undefined ? await startAdminServer(config.ports.admin, drain) : undefined;
  // Users and grants: the files feed the metadata group, every node decides from what it applied.
  const replicatedSecurity = new ReplicatedSecurity(node, security, (message) =>
    audit("security.reload_failed", { what: "replicated users/acl", error: message }),
  );
  const securitySync = setInterval(() => replicatedSecurity.tick(), 500);
  const addressRefresh = config.tls.peer ? undefined : setInterval(() => void nodeAddresses.refresh(), 5000);
  addressRefresh?.unref();
  securitySync.unref();
  const gauges = setInterval(() => {
    const retained = node.retainedTotals();
    metrics.retainedMessages.set(retained.messages);
    metrics.retainedBytes.set(retained.bytes);
    for (const [groupId, runner] of node.groupRunners()) {
      const s = runner.core.status();
      const group = String(groupId);
      metrics.raftTerm.set({ group }, s.term);
      metrics.raftCommit.set({ group }, s.commit);
      metrics.raftApplied.set({ group }, s.applied);
      metrics.raftLeader.set({ group }, runner.isLeader ? 1 : 0);
      for (const [peer, p] of s.progress) {
        if (peer !== config.nodeId)
          metrics.peerLagEntries.set({ group, peer }, Math.max(0, s.lastIndex - p.match));
      }
    }
  }, 1000);
  gauges.unref();
  const httpAddress = http.address();
  logger.info("node started", {
    clientPort: clientServer.port,
    peerPort,
    httpPort: typeof httpAddress === "object" && httpAddress ? httpAddress.port : config.ports.http,
  });
  return {
    node,
    clientPort: clientServer.port,
    peerPort,
    httpPort: typeof httpAddress === "object" && httpAddress ? httpAddress.port : config.ports.http,
    async stop() {
      enrollment?.stop();
      storage.stop();
      clearInterval(gauges);
      clearInterval(securitySync);
      if (addressRefresh) clearInterval(addressRefresh);
      await node.stop();
      await clientServer.close();
      security.close();
      await new Promise<void>((r) => http.close(() => r()));
      if (admin) await new Promise<void>((r) => admin.close(() => r()));
      await transport.stop();
      await witness.stop();
      await db.close();
    },
  };
}
