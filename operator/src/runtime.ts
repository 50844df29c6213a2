import { hostname } from "node:os";
import { Code, ConnectError, type Interceptor, type Transport } from "@connectrpc/connect";
import {
  type Informer,
  KubeConfig,
  type KubernetesObject,
  KubernetesObjectApi,
  makeInformer,
  type ObjectCache,
} from "@kubernetes/client-node";
import {
  apiVersion,
  type GeoBrokerCluster,
  type GeoBrokerNodePool,
  type GeoBrokerTopic,
  type GeoBrokerUser,
} from "./api/types.js";
import { adminTransport, ClusterServiceAdmin } from "./broker/admin-client.js";
import { ClusterController } from "./controller/cluster-controller.js";
import { LeaseLock } from "./controller/lease-lock.js";
import { jsonLogger, type Level, type Logger } from "./controller/logger.js";
import { createMetrics } from "./controller/metrics.js";
import { TopicController } from "./controller/topic-controller.js";
import { UserController } from "./controller/user-controller.js";
import { WorkQueue } from "./controller/work-queue.js";
import { startHttpServer } from "./http/server.js";
import { ApiServerClient, describeApiError, type KubeClient } from "./kube/client.js";
import { enrollmentUrl, fieldManager, labelKeys, names, ports } from "./model/names.js";
import { type EnrollmentDeps, startEnrollmentServer } from "./pki/enrollment-server.js";
import { IdentityKeeper } from "./pki/identity-keeper.js";
import { enrollmentAudience, type PodFacts, type TokenReviewStatus } from "./pki/peer-signing.js";
import { PkiStore } from "./pki/pki-store.js";

// Wiring: informers feed work queues, queues call controllers, a Lease decides who runs them.

/** What the informers list and watch (the chart's RBAC grants exactly these list/watch verbs). */
export const watched = {
  clusters: { apiVersion, kind: "GeoBrokerCluster", plural: "geobrokerclusters" },
  topics: { apiVersion, kind: "GeoBrokerTopic", plural: "geobrokertopics" },
  users: { apiVersion, kind: "GeoBrokerUser", plural: "geobrokerusers" },
  nodePools: { apiVersion, kind: "GeoBrokerNodePool", plural: "geobrokernodepools" },
  statefulSets: { apiVersion: "apps/v1", kind: "StatefulSet", plural: "statefulsets" },
  pods: { apiVersion: "v1", kind: "Pod", plural: "pods" },
} as const;

export interface RuntimeOptions {
  kubeconfig?: string;
  /** Empty: every namespace. */
  namespaces: string[];
  leaderElect: boolean;
  leaseNamespace: string;
  metricsPort: number;
  logLevel: Level;
  /** The operator's own namespace: its Secrets (CA keys) and its enrollment Service live there. */
  pkiNamespace: string;
  /** The Secret there with the identity CA and the enrollment endpoint's certificate. */
  pkiSecret: string;
  /** The Service in front of the enrollment endpoint, and its port. */
  enrollmentService: string;
  enrollmentPort: number;
}

export async function run(o: RuntimeOptions): Promise<void> {
  const log = jsonLogger(o.logLevel);
  const kc = new KubeConfig();
  if (o.kubeconfig) kc.loadFromFile(o.kubeconfig);
  else kc.loadFromDefault();
  const kube = new ApiServerClient(kc);
  const metrics = createMetrics();
  let leading = false;
  let synced = false;
  // Watches whose last list failed (they retry); the operator is not ready while any is failing.
  const failing = new Set<string>();
  // A standby replica waiting for the lease is ready: it is healthy and can take over.
  const ready = () => (o.leaderElect && !leading) || (synced && failing.size === 0);
  const server = await startHttpServer(o.metricsPort, metrics.registry, ready);
  log.info("operator starting", {
    namespaces: o.namespaces.length ? o.namespaces : "all",
    metricsPort: o.metricsPort,
  });

  const pki = new PkiStore(kube, {
    namespace: o.pkiNamespace,
    secretName: o.pkiSecret,
    enrollmentService: o.enrollmentService,
  });
  const identities = new IdentityKeeper(() => pki.identityCa());
  // Every replica serves enrollment (the CAs are shared), leader or not: a failover does not stop it.
  const enrollment = await startEnrollmentServer(
    { port: o.enrollmentPort, tls: await pki.enrollmentTls() },
    enrollmentDeps(kube, pki, log),
  );
  const clusterKey = (c: GeoBrokerCluster) => ({
    namespace: c.metadata.namespace,
    name: c.metadata.name,
    uid: c.metadata.uid ?? "",
  });
  const transports = new TransportCache(kube, identities, log);
  const clusterController = new ClusterController({
    kube,
    log,
    metrics,
    operatorCa: () => identities.trustBundle(),
    peerPki: {
      trust: async (c) => ({
        ca: (await pki.peerCa(clusterKey(c))).cert,
        enrollmentCa: (await pki.enrollmentTls()).ca,
      }),
      forget: (c) => pki.deletePeerCa(clusterKey(c)),
      enrollmentUrl: enrollmentUrl({
        service: o.enrollmentService,
        namespace: o.pkiNamespace,
        port: o.enrollmentPort,
      }),
    },
    admin: async (c) => {
      const t = await transports.get(c);
      return t ? new ClusterServiceAdmin(t, endpointOf(c)) : undefined;
    },
    adminAt: async (c, node) => {
      const url = nodeEndpointOf(c, node);
      const t = await transports.direct(c, url);
      return t ? new ClusterServiceAdmin(t, url) : undefined;
    },
  });
  const topicController = new TopicController({ kube, log, transport: (c) => transports.get(c) });

  const queue = (controller: string, handler: (key: string) => Promise<{ requeueAfterMs?: number }>) => {
    const q = new WorkQueue(
      async (key) => {
        const end = metrics.reconcileSeconds.startTimer({ controller });
        try {
          const r = await handler(key);
          metrics.reconciles.inc({ controller, result: "success" });
          return r;
        } catch (err) {
          metrics.reconciles.inc({ controller, result: "error" });
          throw err;
        } finally {
          end();
        }
      },
      {
        workers: 2,
        onError: (key, err, retryInMs) =>
          log.error("reconcile failed", { controller, key, error: describeApiError(err), retryInMs }),
      },
    );
    metrics.watchQueue(controller, () => q.length);
    return q;
  };
  const clusters = queue("cluster", (k) => clusterController.reconcile(k));
  const topics = queue("topic", (k) => topicController.reconcile(k));
  const userController = new UserController({ kube, log, enqueueCluster: (k) => clusters.add(k) });
  const users = queue("user", (k) => userController.reconcile(k));

  const informers: (Informer<KubernetesObject> & ObjectCache<KubernetesObject>)[] = [];
  const objects = KubernetesObjectApi.makeApiClient(kc);
  const watch = (
    { apiVersion: group, kind, plural }: (typeof watched)[keyof typeof watched],
    onObject: (o: KubernetesObject) => void,
    labelSelector?: string,
  ) => {
    const namespaces = o.namespaces.length > 0 ? o.namespaces : [undefined];
    for (const ns of namespaces) {
      const prefix = group === "v1" ? "/api/v1" : `/apis/${group}`;
      const path = ns ? `${prefix}/namespaces/${ns}/${plural}` : `${prefix}/${plural}`;
      const list = () =>
        objects.list(
          group,
          kind,
          ns,
          undefined,
          undefined,
          undefined,
          undefined,
          labelSelector,
        ) as ReturnType<Parameters<typeof makeInformer>[2]>;
      const informer = makeInformer(kc, path, list, labelSelector);
      for (const verb of ["add", "update", "delete"] as const) informer.on(verb, onObject);
      informer.on("connect", () => failing.delete(path));
      informer.on("error", (err) => {
        failing.add(path);
        log.warn("watch interrupted; restarting", { resource: plural, error: describeApiError(err) });
        setTimeout(() => void informer.start().catch(() => {}), 5_000).unref();
      });
      informers.push(informer);
    }
  };
  const keyOf = (obj: KubernetesObject) => `${obj.metadata?.namespace}/${obj.metadata?.name}`;
  const owned = `${labelKeys.managedBy}=${fieldManager}`;
  const byClusterLabel = (obj: KubernetesObject) => {
    const c = obj.metadata?.labels?.[labelKeys.cluster];
    if (c) clusters.add(`${obj.metadata?.namespace}/${c}`);
  };
  watch(watched.clusters, (c) => clusters.add(keyOf(c)));
  watch(watched.topics, (t) => topics.add(keyOf(t as GeoBrokerTopic as unknown as KubernetesObject)));
  watch(watched.users, (u) => {
    users.add(keyOf(u));
    clusters.add(`${u.metadata?.namespace}/${(u as unknown as GeoBrokerUser).spec.clusterRef.name}`);
  });
  watch(watched.nodePools, (p) =>
    clusters.add(`${p.metadata?.namespace}/${(p as unknown as GeoBrokerNodePool).spec.clusterRef.name}`),
  );
  watch(watched.statefulSets, byClusterLabel, owned);
  watch(watched.pods, byClusterLabel, owned);

  const startControllers = async () => {
    leading = true;
    metrics.isLeader.set(1);
    await Promise.all(informers.map((i) => i.start()));
    synced = true;
    if (failing.size === 0) log.info("caches synced; reconciling", { informers: informers.length });
    else log.warn("some watches failed and are retrying", { failing: [...failing] });
  };
  const shutdown = (code: number) => {
    for (const q of [clusters, topics, users]) q.stop();
    void Promise.all(informers.map((i) => i.stop())).finally(() => {
      server.close();
      enrollment.close();
      process.exit(code);
    });
  };
  process.once("SIGTERM", () => shutdown(0));
  process.once("SIGINT", () => shutdown(0));

  if (!o.leaderElect) {
    await startControllers();
    return;
  }
  const lock = new LeaseLock(kube.coordination, {
    namespace: o.leaseNamespace,
    name: "geobroker-operator",
    identity: `${hostname()}_${process.pid}`,
    leaseDurationSeconds: 15,
    retryPeriodMs: 2_000,
    log,
    onStartedLeading: () =>
      void startControllers().catch((err) => {
        log.error("starting controllers failed", { error: describeApiError(err) });
        shutdown(1);
      }),
    // Like controller-runtime: a replica that lost the lease exits, and restarts as a candidate,
    // so two replicas never act on the same cluster.
    onStoppedLeading: () => {
      metrics.isLeader.set(0);
      log.error("lost the leader lease; exiting");
      shutdown(1);
    },
  });
  lock.start();
}

/** What the enrollment endpoint reads from the API server (RBAC: tokenreviews create, pods get). */
export function enrollmentDeps(kube: KubeClient, pki: PkiStore, log: Logger): EnrollmentDeps {
  return {
    log,
    reviewToken: async (token) =>
      (
        await kube.create<{ status?: TokenReviewStatus }>({
          apiVersion: "authentication.k8s.io/v1",
          kind: "TokenReview",
          metadata: { name: "" },
          spec: { token, audiences: [enrollmentAudience] },
        })
      )?.status,
    pod: (namespace, name) => kube.get<PodFacts>({ apiVersion: "v1", kind: "Pod", namespace, name }),
    cluster: (namespace, name) =>
      kube.get<GeoBrokerCluster>({ apiVersion, kind: "GeoBrokerCluster", namespace, name }),
    peerCa: (c) => pki.peerCa(c),
  };
}

export function endpointOf(c: GeoBrokerCluster): string {
  return `https://${names.clusterService(c.metadata.name)}.${c.metadata.namespace}.svc:${ports.client}`;
}

/** One node's client port by its own DNS name (covered by the client certificate's `*.<peers>` name). */
export function nodeEndpointOf(c: GeoBrokerCluster, node: { id: string; region: string }): string {
  return `https://${node.id}.${names.peerService(c.metadata.name, node.region)}.${c.metadata.namespace}.svc:${ports.client}`;
}

/**
 * One HTTP/2 transport per cluster, server CA version and operator identity: the operator's own
 * certificate (pki/identity-keeper.ts), the broker verified against the client port's server CA
 * (`ca.crt` of the server certificate's Secret).
 */
class TransportCache {
  private readonly cache = new Map<string, { version: string; transport: Transport }>();

  constructor(
    private readonly kube: ApiServerClient,
    private readonly identities: IdentityKeeper,
    private readonly log: Logger,
  ) {}

  /** A transport of its own to `baseUrl`, not cached: its one session ends when idle. */
  async direct(c: GeoBrokerCluster, baseUrl: string): Promise<Transport | undefined> {
    const tls = await this.operatorTls(c);
    return tls ? adminTransport(baseUrl, tls.pem) : undefined;
  }

  async get(c: GeoBrokerCluster): Promise<Transport | undefined> {
    const tls = await this.operatorTls(c);
    if (!tls) return undefined;
    const key = `${c.metadata.namespace}/${c.metadata.name}`;
    const hit = this.cache.get(key);
    if (hit && hit.version === tls.version) return hit.transport;
    // A connection opened before the brokers had this identity's CA (a new operator process: the
    // client-ca ConfigMap takes a kubelet sync to arrive) stays unauthenticated for its whole life,
    // as TLS verified the certificate once: drop the transport, so the next reconcile dials again.
    const forgetIfRefused: Interceptor = (next) => async (req) => {
      try {
        return await next(req);
      } catch (err) {
        if (
          ConnectError.from(err).code === Code.Unauthenticated &&
          this.cache.get(key)?.transport === transport
        )
          this.cache.delete(key);
        throw err;
      }
    };
    const transport: Transport = adminTransport(endpointOf(c), tls.pem, [forgetIfRefused]);
    this.cache.set(key, { version: tls.version, transport });
    this.log.debug("admin transport ready", {
      cluster: key,
      serverCaVersion: tls.serverCaVersion,
      identityExpires: tls.identityExpires.toISOString(),
    });
    return transport;
  }

  /** The client port's server CA and the operator's own identity, with a version of both. */
  private async operatorTls(c: GeoBrokerCluster) {
    const secret = await this.kube.get<{
      metadata: { resourceVersion?: string };
      data?: Record<string, string>;
    }>({
      apiVersion: "v1",
      kind: "Secret",
      namespace: c.metadata.namespace,
      name: names.clientSecret(c.metadata.name),
    });
    const serverCa = secret?.data?.["ca.crt"];
    if (!serverCa) return undefined;
    const identity = await this.identities.identity();
    const serverCaVersion = secret?.metadata.resourceVersion ?? "";
    return {
      version: `${serverCaVersion}/${identity.cert}`,
      serverCaVersion,
      identityExpires: identity.notAfter,
      pem: { ca: Buffer.from(serverCa, "base64").toString("utf8"), cert: identity.cert, key: identity.key },
    };
  }
}
