// geobroker side of the benchmark: a 3-node cluster (regions eu, us, ap, one node each) started as
// real processes on 127.0.0.1 the way `npm start` does it, plaintext (no TLS, as the NATS side).
import { create } from "@bufbuild/protobuf";
import { type Clients, connectClients } from "../../broker/src/client/connect.js";
import { checkPorts, LocalCluster } from "../../broker/src/local/launcher.js";
import { type ClusterFile, prepareLocalCluster } from "../../broker/src/local/layout.js";
import { PublishStreamRequestSchema } from "../../gen/geobroker/v1/publish_pb.js";
import { cpuNote, cpuSeries, fsyncNote, fsyncSeries, promValues } from "./stats.js";
import { type BenchSystem, waitFor } from "./system.js";
import type { CellPublisher } from "./workload.js";

export const geobrokerDurability =
  "ack after the entry is committed by Raft: appended and fsynced (RocksDB synchronous write batch, group commit) on a majority (2 of 3) of replicas; replication factor 3, 1 partition";

export class GeobrokerSystem implements BenchSystem {
  readonly name = "geobroker" as const;
  readonly durability = geobrokerDurability;
  private cluster: LocalCluster | undefined;
  private file: ClusterFile | undefined;
  private admin: Clients | undefined;
  private say: (line: string) => void = () => {};

  constructor(
    private readonly dir: string,
    private readonly basePort = 17000,
    /** The simulated WAN (`npm start --wan-delay` syntax), "" for none: the geo cells. */
    private readonly wanDelay = "",
    /** Node i runs under `taskset -c cpuSets[i]` (--node-cpus). */
    private readonly cpuSets: string[] = [],
    /** Nodes per region (eu, us, ap): 1 for the main cluster, 2 for the 6-node scaling cell. */
    private readonly nodesPerRegion = 1,
  ) {}

  describe(): string {
    const caps = this.cpuSets.length > 0 ? `, nodes pinned to CPUs ${this.cpuSets.join(" / ")}` : "";
    return `geobroker ${3 * this.nodesPerRegion} nodes (eu, us, ap) on 127.0.0.1${this.wanDelay ? ` with the simulated WAN ${this.wanDelay}` : ""}${caps}, plaintext gRPC, PublishStream (pipelined) to the partition leader (topic home region eu, leader on eu-0)`;
  }

  async start(say: (line: string) => void): Promise<void> {
    this.say = say;
    this.file = await prepareLocalCluster(
      {
        regions: ["eu", "us", "ap"],
        nodesPerRegion: this.nodesPerRegion,
        basePort: this.basePort,
        dir: this.dir,
        wanDelay: this.wanDelay,
        tls: false,
      },
      () => {},
    );
    await checkPorts(this.file);
    // Only warnings and errors of the nodes reach the console.
    this.cluster = new LocalCluster(
      this.file,
      (line) => {
        if (/^\[[^\]]+\] (warn|error)|exited/.test(line)) say(`  ${line}`);
      },
      this.cpuSets,
    );
    this.cluster.start();
    await this.cluster.waitReady(() => {});
    this.admin = this.clientsFor(this.file.nodes[0]!.client);
    say(`  geobroker cluster ready: ${this.file.nodes.map((n) => `${n.id} ${n.client}`).join(", ")}`);
  }

  private clientsFor(endpoint: string): Clients {
    return connectClients({ endpoint, user: this.file!.username, password: this.file!.password });
  }

  async openCell(cellId: string, via?: string, partitions = 1): Promise<CellPublisher> {
    const admin = this.admin!;
    const topic = `bench-${cellId}`;
    await waitFor("create topic", 30_000, async () =>
      admin.topics
        .createTopic({
          topic: {
            name: topic,
            partitions,
            replicationFactor: 3,
            homeRegion: this.file!.nodes[0]!.region,
          },
        })
        .then(
          () => true,
          (err: { code?: number }) => {
            if (err.code === 6) return true; // ALREADY_EXISTS
            throw err;
          },
        ),
    );
    // With a home region the metadata leader keeps the partition's leader there; without one it may
    // move the leadership to balance the nodes, in the middle of a cell. Wait until it has settled.
    const home = this.file!.nodes[0]!;
    const leader = await waitFor(`partition leader on ${home.id}`, 30_000, async () => {
      const t = await admin.topics.getTopic({ name: topic });
      const all = t.topic?.partitionInfo ?? [];
      const settled =
        all.length === partitions &&
        all.every((p) => p.leaderNodeId === home.id && p.replicaNodeIds.length === 3);
      return settled ? home.id : undefined;
    });
    const node = this.file!.nodes.find((n) => n.id === leader);
    if (!node) throw new Error(`leader ${leader} of ${topic} is not a node of the cluster`);
    const entry = via ? this.file!.nodes.find((n) => n.region === via) : node;
    if (!entry) throw new Error(`no node in region ${via}`);
    const publisher = new StreamPublisher(this.clientsFor(entry.client), topic, partitions);
    // One acknowledged message before the clock starts: the stream and the leader are warm.
    await publisher.publish(new Uint8Array(8));
    // The leader's fsyncs and CPU, and one follower's CPU, before and after the cell.
    const follower = this.file!.nodes.find((n) => n.id !== leader)!;
    const metrics = async (n: { http: string }) => {
      const res = await fetch(`http://${n.http}/metrics`, { signal: AbortSignal.timeout(2000) });
      return promValues(await res.text(), [...fsyncSeries, ...cpuSeries]);
    };
    const readings = async () => ({ leader: await metrics(node), follower: await metrics(follower) });
    const before = await readings().catch(() => undefined);
    const openedAt = performance.now();
    return {
      publish: (body) => publisher.publish(body),
      publishBatch: (body, count) => publisher.publishBatch(body, count),
      note: async (acked) => {
        if (!before) return undefined;
        const after = await readings();
        const n = fsyncNote(before.leader, after.leader, (performance.now() - openedAt) / 1000, acked);
        const c = cpuNote(
          { before: before.leader, after: after.leader },
          { before: before.follower, after: after.follower },
          acked,
        );
        return {
          ...n,
          ...(c.cpu ? { cpu: c.cpu } : {}),
          text: `leader ${node.id}: ${n.text}; ${c.text} (follower ${follower.id})`,
        };
      },
      subscribe: (onBody) => subscribeOn(this.clientsFor(follower.client), topic, onBody),
      close: async () => {
        await publisher.close();
        const after = await admin.topics.getTopic({ name: topic }).catch(() => undefined);
        const now = after?.topic?.partitionInfo[0]?.leaderNodeId;
        if (now !== leader)
          this.say(`  note: the leader of ${topic} moved from ${leader} to ${now ?? "?"} during the cell`);
        await admin.topics.deleteTopic({ name: topic }).catch(() => {});
      },
    };
  }

  /**
   * The node-scaling cell: a topic of `partitions` partitions with no home region, so the metadata
   * leader spreads the partitions' leaders over every node, and a publisher per leader node; single
   * publishes go round-robin over the partitions, each to its partition's leader.
   */
  async openSpreadCell(cellId: string, partitions: number): Promise<CellPublisher> {
    const admin = this.admin!;
    const topic = `bench-${cellId}`;
    await waitFor("create topic", 30_000, async () =>
      admin.topics.createTopic({ topic: { name: topic, partitions, replicationFactor: 3 } }).then(
        () => true,
        (err: { code?: number }) => {
          if (err.code === 6) return true; // ALREADY_EXISTS
          throw err;
        },
      ),
    );
    // Leaders move while the metadata leader balances them: wait for two equal readings in a row,
    // or, on a loaded machine where balancing takes long, go on after 30 s with the latest reading
    // (a publish that reaches a node no longer leading its partition is forwarded, not lost).
    let last = "";
    const since = performance.now();
    // A node knows the leader only of the partitions it holds a replica of (GetTopic on eu-0 shows
    // none for a partition on eu-1, us-1, ap-1): ask every node, take any answer per partition.
    const views = this.file!.nodes.map((n) => this.clientsFor(n.client));
    const leaders = await waitFor(`${partitions} partition leaders`, 60_000, async () => {
      const infos = await Promise.all(
        views.map((v) =>
          v.topics.getTopic({ name: topic }).then(
            (t) => t.topic?.partitionInfo ?? [],
            () => [],
          ),
        ),
      );
      const now = Array.from(
        { length: partitions },
        (_, p) =>
          infos.map((info) => info[p]).find((x) => x?.leaderNodeId && x.replicaNodeIds.length === 3)
            ?.leaderNodeId ?? "",
      ).join(",");
      const complete = !now.split(",").includes("");
      const settled = complete && (now === last || performance.now() - since > 30_000);
      last = now;
      if (settled) return now.split(",");
      await new Promise((r) => setTimeout(r, 1000));
      return undefined;
    });
    const byNode = new Map<string, StreamPublisher>();
    for (const id of new Set(leaders)) {
      const node = this.file!.nodes.find((n) => n.id === id);
      if (!node) throw new Error(`leader ${id} of ${topic} is not a node of the cluster`);
      byNode.set(id, new StreamPublisher(this.clientsFor(node.client), topic));
    }
    const publishers = leaders.map((id) => byNode.get(id)!);
    let next = 0;
    for (const [p, publisher] of publishers.entries()) await publisher.publish(new Uint8Array(8), p);
    this.say(
      `  partition leaders: ${[...byNode.keys()].map((id) => `${id} ${leaders.filter((l) => l === id).length}`).join(", ")}`,
    );
    return {
      publish: (body) => {
        const p = next++ % partitions;
        return publishers[p]!.publish(body, p);
      },
      publishBatch: () => Promise.reject(new Error("the node-scaling cell publishes one by one")),
      close: async () => {
        for (const publisher of byNode.values()) await publisher.close();
        await admin.topics.deleteTopic({ name: topic }).catch(() => {});
      },
    };
  }

  async stop(): Promise<void> {
    await this.cluster?.stop();
    this.cluster = undefined;
  }
}

/**
 * Subscribe from the latest message on, on the given node; resolves when the server's first
 * status response says the subscription is live (report_status).
 */
async function subscribeOn(
  clients: Clients,
  topic: string,
  onBody: (body: Uint8Array) => void,
): Promise<{ close(): Promise<void> }> {
  const abort = new AbortController();
  let live: () => void = () => {};
  const started = new Promise<void>((r) => (live = r));
  const stream = clients.consume.subscribe(
    {
      topic,
      start: { position: { case: "latest", value: true } },
      linearizableStart: true,
      reportStatus: true,
    },
    { signal: abort.signal },
  );
  const done = (async () => {
    for await (const res of stream) {
      live();
      if (res.message) onBody(res.message.body);
    }
  })().catch(() => {});
  await Promise.race([
    started,
    done.then(() => {
      throw new Error(`subscription to ${topic} ended before it started`);
    }),
  ]);
  return {
    close: async () => {
      abort.abort();
      await done;
    },
  };
}

/** PublishStream as a promise per message: requests are queued, acks matched by sequence. */
class StreamPublisher {
  private readonly queue: ReturnType<typeof create<typeof PublishStreamRequestSchema>>[] = [];
  private readonly pending = new Map<bigint, { resolve: () => void; reject: (err: Error) => void }>();
  private wake: (() => void) | undefined;
  private ended = false;
  private failure: Error | undefined;
  private next = 0n;
  private readonly done: Promise<void>;

  constructor(
    clients: Clients,
    private readonly topic: string,
    /** Single publishes go round-robin over this many partitions (the scaling cells). */
    private readonly partitions = 1,
  ) {
    this.done = (async () => {
      for await (const res of clients.publish.publishStream(this.requests())) {
        const waiter = this.pending.get(res.sequence);
        if (!waiter) continue;
        this.pending.delete(res.sequence);
        // A batch frame's answer: one result per message; the batch fails with its first error.
        const failed =
          res.batchResults.length > 0
            ? res.batchResults.find((r) => r.result.case !== "ack")?.result
            : res.result.case === "ack"
              ? undefined
              : res.result;
        if (!failed) waiter.resolve();
        else {
          const e = failed.case === "error" ? failed.value : undefined;
          waiter.reject(new Error(`publish failed: code ${e?.code} ${e?.message}`));
        }
      }
    })().catch((err: Error) => {
      this.failure = err;
      for (const w of this.pending.values()) w.reject(err);
      this.pending.clear();
    });
  }

  private async *requests() {
    for (;;) {
      while (this.queue.length > 0) yield this.queue.shift()!;
      if (this.ended) return;
      await new Promise<void>((r) => (this.wake = r));
      this.wake = undefined;
    }
  }

  /** One message: to `partition`, or round-robin over the partitions (the key-less default with one). */
  publish(body: Uint8Array, partition?: number): Promise<void> {
    return this.send((sequence) => {
      const p = partition ?? (this.partitions > 1 ? Number(sequence % BigInt(this.partitions)) : undefined);
      return create(PublishStreamRequestSchema, {
        sequence,
        request: { topic: this.topic, body, ...(p !== undefined ? { partition: p } : {}) },
      });
    });
  }

  /** `count` messages in one frame (PublishStream's `batch`), answered by one response. */
  publishBatch(body: Uint8Array, count: number): Promise<void> {
    const message = { topic: this.topic, body };
    return this.send((sequence) =>
      create(PublishStreamRequestSchema, { sequence, batch: Array.from({ length: count }, () => message) }),
    );
  }

  private send(frame: (sequence: bigint) => ReturnType<typeof create<typeof PublishStreamRequestSchema>>) {
    if (this.failure) return Promise.reject(this.failure);
    const sequence = this.next++;
    return new Promise<void>((resolve, reject) => {
      this.pending.set(sequence, { resolve, reject });
      this.queue.push(frame(sequence));
      this.wake?.();
    });
  }

  async close(): Promise<void> {
    this.ended = true;
    this.wake?.();
    await Promise.race([this.done, new Promise((r) => setTimeout(r, 5000))]);
  }
}
