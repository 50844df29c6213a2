import type { DescService } from "@bufbuild/protobuf";
import { type Client, createClient, type Transport } from "@connectrpc/connect";
import { ClusterService, type GetClusterInfoResponse } from "../../../gen/geobroker/v1/cluster_pb.js";
import { type GeoBrokerError, type LeaderHint, toGeoBrokerError } from "./errors.js";
import { backoffMs, mayRetry, type RetryOptions, retryDefaults, sleep } from "./retry.js";
import type { StatusEmitter } from "./status.js";

/** Builds the transport to one node's client port ("host:port"). */
export type TransportFactory = (address: string) => Transport;

export interface NodeView {
  id: string;
  region: string;
  address: string;
  reachable: boolean;
}

export interface RouterOptions {
  /** Any nodes' client ports to start from; the rest is learned from GetClusterInfo. */
  endpoints: string[];
  /** Nodes of this region are tried first. */
  region?: string;
  transports: TransportFactory;
  status: StatusEmitter;
  retry?: RetryOptions;
  /** A node that failed is tried last for this long. Default 5,000 ms. */
  downMs?: number;
  /** Only the endpoints are called; reported node addresses are not dialed (ClientOptions.onlyEndpoints). */
  onlyEndpoints?: boolean;
  /** Each GetClusterInfo attempt is bounded by this. Default 5,000 ms. */
  discoveryTimeoutMs?: number;
  now?: () => number;
}

const partitionKey = (topic: string, partition: number) => `${topic}\u0000${partition}`;

/**
 * Where calls go: the nodes and partition leaders the cluster last reported, ordered for a call
 * (the partition's leader, then this client's region, then the rest, then nodes that just failed),
 * and the loop that moves a call to the next node when one fails for a reason that can pass.
 */
export class Router {
  private readonly nodes = new Map<string, NodeView>();
  private readonly leaders = new Map<string, string>();
  private readonly partitionCounts = new Map<string, number>();
  private readonly downUntil = new Map<string, number>();
  private readonly transports = new Map<string, Transport>();
  private readonly clients = new Map<string, Client<DescService>>();
  private readonly seeds: string[];
  private readonly retry: Required<RetryOptions>;
  private readonly now: () => number;
  private discovered: Promise<void> | undefined;
  private lastConnected: string | undefined;
  private lastBackgroundRefresh = Number.NEGATIVE_INFINITY;
  /** Bumped whenever nodes, leaders or down marks change: cached candidate orders are then stale. */
  private version = 0;
  private readonly candidateCache = new Map<string, { version: number; until: number; list: string[] }>();

  constructor(private readonly o: RouterOptions) {
    if (o.endpoints.length === 0) throw new TypeError("give at least one endpoint (host:port)");
    this.seeds = [...new Set(o.endpoints)];
    this.retry = { ...retryDefaults, ...o.retry };
    this.now = o.now ?? Date.now;
  }

  get region(): string | undefined {
    return this.o.region;
  }

  get retryOptions(): Required<RetryOptions> {
    return this.retry;
  }

  /** The generated client of `service` at `address` (one transport per node, reused). */
  client<S extends DescService>(service: S, address: string): Client<S> {
    const key = `${service.typeName}@${address}`;
    let c = this.clients.get(key);
    if (!c) {
      let t = this.transports.get(address);
      if (!t) {
        t = this.o.transports(address);
        this.transports.set(address, t);
      }
      c = createClient(service, t) as Client<DescService>;
      this.clients.set(key, c);
    }
    return c as unknown as Client<S>;
  }

  /** Learns the cluster once (later calls wait for the same attempt); `refresh()` asks again. */
  ready(signal?: AbortSignal): Promise<void> {
    this.discovered ??= this.refresh(signal).catch((err) => {
      this.discovered = undefined;
      throw err;
    });
    return this.discovered;
  }

  /** Asks the best reachable node for the cluster's nodes, regions and leaders. */
  async refresh(signal?: AbortSignal): Promise<void> {
    const info = await this.call(
      async (address, s) => {
        this.o.status.emit({ type: "connecting", address });
        return this.client(ClusterService, address).getClusterInfo(
          {},
          { signal: s, timeoutMs: this.o.discoveryTimeoutMs ?? 5000 },
        );
      },
      { idempotent: true, ...(signal ? { signal } : {}) },
    );
    this.apply(info);
  }

  /** Records a GetClusterInfo answer. */
  apply(info: GetClusterInfoResponse): void {
    this.version++;
    for (const n of info.nodes) {
      if (!n.clientAddress) continue;
      this.nodes.set(n.id, { id: n.id, region: n.region, address: n.clientAddress, reachable: n.reachable });
    }
    const counts = new Map<string, number>();
    for (const g of info.groups) {
      // The metadata group is reported under the topic name "metadata"; it takes no publishes.
      if (g.topic === "metadata") continue;
      counts.set(g.topic, Math.max(counts.get(g.topic) ?? 0, g.partition + 1));
      if (g.leaderNodeId) this.setLeader(g.topic, g.partition, g.leaderNodeId);
    }
    for (const [topic, n] of counts) this.partitionCounts.set(topic, n);
  }

  /**
   * The topic's partition count as last reported; undefined for a topic not seen yet, which asks
   * the cluster again in the background (at most once a second): a topic created since is learned.
   */
  partitionCount(topic: string): number | undefined {
    const n = this.partitionCounts.get(topic);
    if (n === undefined && this.now() - this.lastBackgroundRefresh >= 1000) {
      this.lastBackgroundRefresh = this.now();
      this.refresh().catch(() => {});
    }
    return n;
  }

  knownNodes(): NodeView[] {
    return [...this.nodes.values()];
  }

  /** A leader hint from an error: the partition's leader moved (a node we did not know is learned). */
  noteLeader(topic: string, partition: number | undefined, hint: LeaderHint | undefined): void {
    if (!hint?.nodeId) return;
    if (hint.clientAddress && !this.nodes.has(hint.nodeId)) {
      this.version++;
      this.nodes.set(hint.nodeId, {
        id: hint.nodeId,
        region: hint.region ?? "",
        address: hint.clientAddress,
        reachable: true,
      });
    }
    if (partition !== undefined) this.setLeader(topic, partition, hint.nodeId);
  }

  private setLeader(topic: string, partition: number, nodeId: string): void {
    const key = partitionKey(topic, partition);
    const from = this.leaders.get(key);
    if (from === nodeId) return;
    this.leaders.set(key, nodeId);
    this.version++;
    if (from !== undefined) this.o.status.emit({ type: "leader-moved", topic, partition, from, to: nodeId });
  }

  /** The node a call failed at is tried last for a while. */
  markDown(address: string, reason: string, attempt: number): void {
    this.downUntil.set(address, this.now() + (this.o.downMs ?? 5000));
    this.version++;
    if (this.lastConnected === address) this.lastConnected = undefined;
    this.o.status.emit({ type: "reconnecting", address, reason, attempt });
  }

  /** A call succeeded at `address`: say so the first time it is the one in use. */
  markUp(address: string): void {
    if (this.lastConnected === address) return;
    if (this.downUntil.delete(address)) this.version++;
    this.lastConnected = address;
    const node = [...this.nodes.values()].find((n) => n.address === address);
    this.o.status.emit({
      type: "connected",
      address,
      ...(node ? { nodeId: node.id, region: node.region } : {}),
    });
  }

  /**
   * Addresses to try, best first: the leader of `partition` (a publish lands there without a
   * forward), nodes of this client's region, the rest, and last the ones that failed just now.
   */
  candidates(topic?: string, partition?: number): string[] {
    const now = this.now();
    // Asked once per message: the order is kept until what it depends on changes, or for 100 ms
    // (a node's down mark runs out with time).
    const key = topic === undefined || partition === undefined ? "" : partitionKey(topic, partition);
    const cached = this.candidateCache.get(key);
    if (cached && cached.version === this.version && now < cached.until) return cached.list;
    const list = this.rankCandidates(topic, partition, now);
    this.candidateCache.set(key, { version: this.version, until: now + 100, list });
    return list;
  }

  private rankCandidates(topic: string | undefined, partition: number | undefined, now: number): string[] {
    const leaderId =
      topic !== undefined && partition !== undefined
        ? this.leaders.get(partitionKey(topic, partition))
        : undefined;
    const rank = (address: string): number => {
      const node = [...this.nodes.values()].find((n) => n.address === address);
      let r = 0;
      if ((this.downUntil.get(address) ?? 0) > now) r += 100;
      if (node && !node.reachable) r += 50;
      if (leaderId !== undefined && node?.id === leaderId) return r;
      if (this.o.region === undefined || node?.region !== this.o.region) r += 10;
      if (!node) r += 1;
      return r + 2;
    };
    const all = this.o.onlyEndpoints
      ? this.seeds
      : [...new Set([...[...this.nodes.values()].map((n) => n.address), ...this.seeds])];
    return all
      .map((address, i) => ({ address, r: rank(address), i }))
      .sort((a, b) => a.r - b.r || a.i - b.i)
      .map((x) => x.address);
  }

  /**
   * Runs `attempt` at the best node, and again at the next one while it fails with an error that
   * `mayRetry` allows (a leader hint reorders the candidates), with backoff once every node was
   * tried, until the retry timeout. Rejects with the last error as a GeoBrokerError.
   */
  async call<T>(
    attempt: (address: string, signal: AbortSignal | undefined) => Promise<T>,
    o: { idempotent: boolean; topic?: string; partition?: number; signal?: AbortSignal },
  ): Promise<T> {
    const started = this.now();
    let tries = 0;
    let tried = new Set<string>();
    for (;;) {
      const candidates = this.candidates(o.topic, o.partition);
      const address = candidates.find((a) => !tried.has(a)) ?? candidates[0]!;
      tried.add(address);
      tries++;
      try {
        const out = await attempt(address, o.signal);
        this.markUp(address);
        return out;
      } catch (err) {
        const e = toGeoBrokerError(err);
        if (o.signal?.aborted || !mayRetry(e, o.idempotent)) throw e;
        this.afterFailure(address, e, tries, o.topic, o.partition);
        if (this.now() - started >= this.retry.timeoutMs) throw e;
        if (tried.size >= candidates.length) {
          tried = new Set();
          await sleep(backoffMs(tries, this.retry), o.signal);
        }
      }
    }
  }

  /** After a retryable failure: follow the leader hint, or take the node out of first place. */
  afterFailure(
    address: string,
    e: GeoBrokerError,
    attempt: number,
    topic?: string,
    partition?: number,
  ): void {
    if (e.leaderHint && topic !== undefined) {
      this.noteLeader(topic, partition, e.leaderHint);
      return;
    }
    this.markDown(address, e.message, attempt);
  }
}
