import {
  type Client,
  Code,
  ConnectError,
  createClient,
  createRouterTransport,
  type Interceptor,
} from "@connectrpc/connect";
import { Broker } from "../../../gen/broker/broker_pb.js";
import { ClusterService } from "../../../gen/geobroker/v1/cluster_pb.js";
import { ConsumeService } from "../../../gen/geobroker/v1/consume_pb.js";
import { PublishService } from "../../../gen/geobroker/v1/publish_pb.js";
import { TopicService } from "../../../gen/geobroker/v1/topic_pb.js";
import { clientRoutes } from "../../src/api/client-server.js";
import { clusterService } from "../../src/api/cluster-service.js";
import { ClusterNode } from "../../src/cluster/cluster-node.js";
import { type ForwardClients, Forwarder } from "../../src/cluster/forwarding/forwarder.js";
import { ClusterAdmin } from "../../src/cluster/membership/cluster-admin.js";
import { openIdentity } from "../../src/cluster/membership/identity-startup.js";
import type { NodeConfig } from "../../src/config/config.js";
import { resolveConfig } from "../../src/config/load.js";
import type { PeerTransportPort } from "../../src/engine/ports.js";
import { engineObserver } from "../../src/observability/engine-observer.js";
import type { Logger } from "../../src/observability/logger.js";
import { NodeMetrics } from "../../src/observability/metrics.js";
import { RaftNode } from "../../src/raft/raft-node.js";
import { seededRandom } from "../../src/raft/sim/prng.js";
import { type Message, MessageType, type NodeId } from "../../src/raft/types.js";
import type { ProcessClock } from "../../src/sim/virtual-time.js";
import { CrashDb } from "../../src/storage/crash-db.js";
import { PartitionStore } from "../../src/storage/partition-store.js";
import { RaftLogStore } from "../../src/storage/raft-log-store.js";
import { nowMs, timeoutSignal } from "../../src/util/clock.js";
import type { WaitTime } from "./eventually.js";
import { RunningTime } from "./running-time.js";

// A whole cluster in one process, built from the production parts: ClusterNode with its real
// stores (RaftLogStore, PartitionStore) over a crash-faithful disk (CrashDb), peers over an
// in-memory network, and the client API's own services (api/client-server.ts clientRoutes) over
// in-memory Connect transports, for clients and for the nodes' forwarding alike. What it leaves
// out is only the sockets: the peer transport and the HTTP/2 servers have their own tests.
//
// It runs on virtual time (running-time.ts): every node has its own clock (skewed when asked), and
// the network's delays and the disks' completions are events of the same time, so a seed replays
// the same run and a busy machine cannot make a time-out fire early. Tests wait with `sleep` and
// `until`, which count virtual time too.

export interface InProcessNodeSpec {
  id: NodeId;
  region: string;
}

export interface InProcessOptions {
  /** The initial voters. */
  nodes: InProcessNodeSpec[];
  /**
   * Nodes that are not initial voters: started with `startNode`, they wait to be added
   * (ClusterService.AddNode through `clients(..).cluster`) and learn everything from the leader.
   */
  joiners?: InProcessNodeSpec[];
  /** Configuration layered over the defaults, for every node. */
  config?: Record<string, unknown>;
  /** Seeds the Raft cores' election jitter, the network's and disks' delays, and the clock skews. */
  seed?: number;
  /** Each node's clock is off true time by up to this much, either way (seeded); default 0. */
  maxSkewMs?: number;
}

/** A node's client API, as an application would call it. */
export interface InProcessClients {
  broker: Client<typeof Broker>;
  publish: Client<typeof PublishService>;
  topics: Client<typeof TopicService>;
  consume: Client<typeof ConsumeService>;
  /** ClusterService, as broker-process.ts serves it next to the client API. */
  cluster: Client<typeof ClusterService>;
}

/** A logger that keeps each message's text (the fields are left out) in `lines`. */
function recorder(lines: string[]): Logger {
  const keep = (message: string) => {
    lines.push(message);
  };
  return { debug: keep, info: keep, warn: keep, error: keep } as unknown as Logger;
}

/** The peers' network: Raft messages and internal requests between the nodes that run, minus cut links. */
class MemoryNetwork {
  readonly cut = new Set<string>();
  private readonly messageHandlers = new Map<NodeId, (m: Message[]) => void>();
  private readonly controlHandlers = new Map<NodeId, (body: Uint8Array) => Promise<Uint8Array>>();

  constructor(
    private readonly ids: NodeId[],
    private readonly random: () => number,
    private readonly after: (ms: number, fn: () => void) => void,
    private readonly onSnapshot: (from: NodeId, groupId: number, to: NodeId, ok: boolean) => void,
  ) {}

  /** A stopped node neither sends nor receives. */
  private open(from: NodeId, to: NodeId): boolean {
    return !this.cut.has(`${from}>${to}`) && this.messageHandlers.has(to) && this.messageHandlers.has(from);
  }
  sentAfterLeaving = 0;
  /** Raft snapshots that reached their node (a catch-up that went through one). */
  snapshotsDelivered = 0;

  /** The node's port; it is on the network from now (its messages drop until it takes them). */
  port(self: NodeId): PeerTransportPort {
    this.messageHandlers.set(self, () => undefined);
    return {
      send: (messages) => {
        if (!this.messageHandlers.has(self)) this.sentAfterLeaving += messages.length;
        for (const m of messages) {
          const snapshot = m.type === MessageType.Snapshot;
          if (!this.open(self, m.to)) {
            if (snapshot) this.onSnapshot(self, m.groupId, m.to, false);
            continue;
          }
          // Up to 2 ms, so messages on different links reorder as they do on a network.
          this.after(Math.floor(this.random() * 3), () => {
            if (!this.open(self, m.to)) {
              if (snapshot) this.onSnapshot(self, m.groupId, m.to, false);
              return;
            }
            this.messageHandlers.get(m.to)?.([m]);
            if (snapshot) {
              this.snapshotsDelivered++;
              this.onSnapshot(self, m.groupId, m.to, true);
            }
          });
        }
      },
      onMessages: (handler) => this.messageHandlers.set(self, handler),
      setPeer: () => undefined,
      removePeer: () => undefined,
      onControl: (handler) => this.controlHandlers.set(self, handler),
      call: async (to, body) => {
        const handler = this.controlHandlers.get(to);
        if (!handler || !this.open(self, to) || !this.open(to, self))
          throw new Error(`peer ${to} not connected`);
        return handler(body);
      },
      connectedPeers: () => this.ids.filter((id) => id !== self && this.open(self, id)),
    };
  }

  leave(id: NodeId): void {
    this.messageHandlers.delete(id);
    this.controlHandlers.delete(id);
  }
}

/** Forwarding between in-process nodes: the target's own client services, in memory. */
class MemoryForwarder extends Forwarder {
  constructor(
    private readonly clientsAt: (address: string) => ForwardClients,
    clock: ProcessClock,
  ) {
    super(undefined, undefined, clock);
  }

  override to(clientAddress: string): ForwardClients {
    return this.clientsAt(clientAddress);
  }
}

/**
 * The client with each call's `timeoutMs` counted on the cluster's virtual time. Connect would arm a
 * real timer for it: on a machine too busy to run the cluster as fast as real time, a forwarded call
 * then failed on the wall clock while little virtual time had passed.
 */
function deadlinesOn<C extends object>(client: C, clock: ProcessClock): C {
  return new Proxy(client, {
    get(target, key, receiver) {
      const method = Reflect.get(target, key, receiver);
      if (typeof method !== "function") return method;
      return (input: unknown, options: { timeoutMs?: number; signal?: AbortSignal } = {}) => {
        const { timeoutMs, ...rest } = options;
        if (timeoutMs === undefined) return method.call(target, input, options);
        const deadline = timeoutSignal(clock, timeoutMs, rest.signal);
        return method.call(target, input, { ...rest, signal: deadline.signal });
      };
    },
  });
}

/** What a socket to a stopped node fails with: UNAVAILABLE, caused by a refused connection. */
function refused(address: string): ConnectError {
  const cause = Object.assign(new Error(`connect ECONNREFUSED ${address}`), { code: "ECONNREFUSED" });
  return new ConnectError(cause.message, Code.Unavailable, undefined, undefined, cause);
}

interface Member {
  spec: InProcessNodeSpec;
  config: NodeConfig;
  disk: CrashDb;
  node: ClusterNode | undefined;
  /** The running process's clock (dead once it crashed: its timers never fire again). */
  clock: ProcessClock | undefined;
  skewMicros: number;
  /** The node's log messages (its Raft cores' too) over every process it ran, in order. */
  lines: string[];
  /** Aborted when the running process crashes: its connections break. */
  alive: AbortController;
}

export class InProcessCluster {
  private readonly members = new Map<NodeId, Member>();
  private readonly network: MemoryNetwork;
  private readonly random: () => number;
  /** The cluster's virtual time: every node's clock, the network and the disks run on it. */
  readonly time = new RunningTime();
  /** Set when a group hit a storage failure (the node would exit): a test fails on it. */
  readonly fatal: Error[] = [];

  private constructor(options: InProcessOptions) {
    this.random = seededRandom(options.seed ?? 1);
    const everyNode = [...options.nodes, ...(options.joiners ?? [])];
    const ids = everyNode.map((n) => n.id);
    const after = (ms: number, fn: () => void) => this.time.after(ms, fn);
    this.network = new MemoryNetwork(ids, this.random, after, (from, groupId, to, ok) =>
      this.members.get(from)?.node?.groupRunners().get(groupId)?.core.reportSnapshot(to, ok),
    );
    const peers = options.nodes.map((n) => ({
      id: n.id,
      region: n.region,
      peerAddress: `${n.id}.peer:1`,
      clientAddress: `${n.id}.client:1`,
    }));
    for (const spec of everyNode) {
      const config = resolveConfig([
        {
          nodeId: spec.id,
          region: spec.region,
          peers,
          raft: { tickMs: 10, electionTicks: 10, heartbeatTicks: 2 },
          auth: { mode: "none" },
        },
        ...(options.config ? [options.config as never] : []),
      ]);
      const maxSkewMs = options.maxSkewMs ?? 0;
      this.members.set(spec.id, {
        spec,
        config,
        // A disk operation completes within a millisecond, in an order the seed decides.
        disk: new CrashDb({ schedule: (complete) => after(Math.floor(this.random() * 2), complete) }),
        node: undefined,
        clock: undefined,
        skewMicros: Math.round((this.random() * 2 - 1) * maxSkewMs * 1000),
        lines: [],
        alive: new AbortController(),
      });
    }
  }

  /** A node's address as ClusterService.AddNode takes it. */
  address(id: NodeId): {
    id: string;
    region: string;
    zone: string;
    peerAddress: string;
    clientAddress: string;
  } {
    const { spec } = this.members.get(id)!;
    return {
      id,
      region: spec.region,
      zone: "",
      peerAddress: `${id}.peer:1`,
      clientAddress: `${id}.client:1`,
    };
  }

  static async start(options: InProcessOptions): Promise<InProcessCluster> {
    const cluster = new InProcessCluster(options);
    await Promise.all(options.nodes.map((n) => cluster.startNode(n.id)));
    return cluster;
  }

  node(id: NodeId): ClusterNode {
    const n = this.members.get(id)?.node;
    if (!n) throw new Error(`node ${id} is not running`);
    return n;
  }

  /** The client API of a node, over its real services (no authentication: the API tests cover it). */
  clients(id: NodeId): InProcessClients {
    const node = this.node(id);
    const member = this.members.get(id)!;
    const process = member.alive;
    // Calls reach this process only while it runs: once it crashed, new calls are refused and calls
    // in flight (a forwarding stream above all) break, as a connection to a dead process does.
    const alive: Interceptor = (next) => async (req) => {
      if (member.node !== node || process.signal.aborted) throw refused(`${id}.client:1`);
      return next({ ...req, signal: AbortSignal.any([req.signal, process.signal]) });
    };
    const routes = clientRoutes(node, node.config.limits);
    const transport = createRouterTransport(
      (router) => {
        routes(router);
        router.service(
          ClusterService,
          clusterService(new ClusterAdmin(node), node.identity, node.config.clusterId),
        );
      },
      { transport: { interceptors: [alive] } },
    );
    return {
      broker: createClient(Broker, transport),
      publish: createClient(PublishService, transport),
      topics: createClient(TopicService, transport),
      consume: createClient(ConsumeService, transport),
      cluster: createClient(ClusterService, transport),
    };
  }

  /** Synced write batches (fsyncs) the node's disk has taken so far, over all its processes. */
  diskSyncs(id: NodeId): number {
    return this.members.get(id)!.disk.syncs;
  }

  /** Raft snapshots delivered so far. */
  get snapshotsDelivered(): number {
    return this.network.snapshotsDelivered;
  }

  /** Blocks the link both ways (messages and internal requests). */
  partition(a: NodeId, b: NodeId): void {
    this.network.cut.add(`${a}>${b}`);
    this.network.cut.add(`${b}>${a}`);
  }

  /** Cuts every link between `id` and the other nodes (its client port stays reachable). */
  isolate(id: NodeId): void {
    for (const other of this.members.keys()) if (other !== id) this.partition(id, other);
  }

  heal(): void {
    this.network.cut.clear();
  }

  /** A power loss: the process stops, and the disk keeps only what was synced (and some of the rest). */
  async crash(id: NodeId): Promise<void> {
    const m = this.members.get(id)!;
    const node = m.node;
    m.node = undefined;
    if (m.clock) m.clock.alive = false;
    m.alive.abort();
    this.network.leave(id);
    await node?.stop();
    m.disk.crash(this.random);
  }

  /** The disk is lost too: the node comes back empty (a new incarnation, to be re-admitted). */
  async wipe(id: NodeId): Promise<void> {
    await this.crash(id);
    this.members.get(id)!.disk.wipe();
  }

  /** What the node's Raft cores said (elections, votes, admission), over all its processes. */
  lines(id: NodeId): readonly string[] {
    return this.members.get(id)!.lines;
  }

  async startNode(id: NodeId): Promise<ClusterNode> {
    const m = this.members.get(id)!;
    m.alive = new AbortController();
    const clock = this.time.clock(m.skewMicros);
    m.clock = clock;
    const db = m.disk.open();
    const logStore = await RaftLogStore.open(db);
    const partitions = await PartitionStore.open(db);
    const transport = this.network.port(id);
    // As broker-process.ts does: the identity first, answering only formation questions meanwhile.
    const logger = recorder(m.lines);
    const incarnation = await openIdentity(m.config, db, logStore, transport, logger, clock);
    const random = this.random;
    const forwarder = new MemoryForwarder((address) => {
      // Client addresses are "<id>.client:1" (see the peers above).
      const id = address.slice(0, address.indexOf(".client:"));
      if (!this.members.get(id)?.node) throw refused(address);
      const c = this.clients(id);
      return {
        publish: deadlinesOn(c.publish, clock),
        topics: deadlinesOn(c.topics, clock),
        consume: deadlinesOn(c.consume, clock),
      };
    }, clock);
    const node = await ClusterNode.start({
      config: m.config,
      logger,
      logStore,
      partitions,
      metadataStore: partitions,
      transport,
      forwarder,
      incarnation,
      clock,
      // The node's own metrics, as broker-process.ts keeps them (GetClusterMetrics reads them).
      observer: engineObserver(new NodeMetrics({ node: id }), { nodeId: id, region: m.config.region }, () =>
        nowMs(clock),
      ),
      createCore: ({ groupId, storage }) =>
        new RaftNode(
          {
            id,
            groupId,
            electionTicks: m.config.raft.electionTicks,
            heartbeatTicks: m.config.raft.heartbeatTicks,
            random,
            logger: (line) => m.lines.push(line),
            incarnation: incarnation.incarnation,
            original: incarnation.original,
          },
          storage,
        ),
      onFatal: (err) => this.fatal.push(err),
    });
    m.node = node;
    return node;
  }

  /** Virtual milliseconds since the cluster started. */
  now(): number {
    return this.time.now;
  }

  /** The cluster's virtual time, as test helpers that wait take it (support/eventually.ts). */
  get waitTime(): WaitTime {
    return { now: () => this.now(), sleep: (ms) => this.sleep(ms) };
  }

  /** Waits `ms` of the cluster's virtual time. */
  sleep(ms: number): Promise<void> {
    return this.time.sleep(ms);
  }

  /** Polls `check` on virtual time until it holds (fails after `timeoutMs` virtual ms). */
  async until(what: string, timeoutMs: number, check: () => boolean): Promise<void> {
    await this.time.eventually(what, timeoutMs, async () => check() || undefined);
  }

  /** Polls `probe` on virtual time until it gives a value (fails after `timeoutMs` virtual ms). */
  eventually<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
    return this.time.eventually(what, timeoutMs, probe);
  }

  /** Resolves once every running node is ready (metadata leader known, every local group led). */
  async ready(timeoutMs = 10_000): Promise<void> {
    const deadline = this.now() + timeoutMs;
    for (;;) {
      const running = [...this.members.values()].filter((m) => m.node);
      const waiting = running.filter((m) => !m.node!.readiness().ready);
      if (waiting.length === 0) return;
      if (this.now() > deadline)
        throw new Error(
          `not ready: ${waiting.map((m) => `${m.spec.id}: ${m.node!.readiness().reason}`).join("; ")}`,
        );
      await this.sleep(20);
    }
  }

  /**
   * A topic's messages (bodies as text, every partition) read through a node from the earliest on,
   * until `count` arrived (or `count` says the bodies so far are enough), or 10 s of virtual time passed
   * (then what arrived).
   */
  async readAll(
    at: NodeId,
    topic: string,
    count: number | ((bodies: string[]) => boolean),
  ): Promise<string[]> {
    const enough = typeof count === "number" ? (b: string[]) => b.length >= count : count;
    const controller = new AbortController();
    const out: string[] = [];
    this.time.after(10_000, () => controller.abort());
    try {
      for await (const r of this.clients(at).consume.subscribe(
        { topic, start: { position: { case: "earliest", value: true } } },
        { signal: controller.signal },
      )) {
        if (r.message) out.push(new TextDecoder().decode(r.message.body));
        if (enough(out)) break;
      }
    } catch (err) {
      if (!controller.signal.aborted) throw err;
    } finally {
      controller.abort();
    }
    return out;
  }

  async stop(): Promise<void> {
    await Promise.all([...this.members.values()].map((m) => m.node?.stop()));
    for (const m of this.members.values()) m.node = undefined;
    await this.time.stop();
  }
}
