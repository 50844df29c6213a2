// NATS JetStream side of the benchmark: a 3-node nats-server cluster started as real processes on
// 127.0.0.1, JetStream with sync_interval: always (fsync on every write), file-stored streams
// with 3 replicas. nats-server comes from scripts/install-nats-server.sh (.tools/bin).

import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  DeliverPolicy,
  type JetStreamClient,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
  StorageType,
} from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { pinnedCommand } from "../../broker/src/local/cpu-sets.js";
import { keepLast, onLines, stopChild } from "../../broker/src/util/child-lines.js";
import { projectRoot } from "../../broker/src/util/project-root.js";
import { type BenchSystem, waitFor } from "./system.js";
import type { CellPublisher } from "./workload.js";

export function natsDurability(syncAlways: boolean): string {
  return syncAlways
    ? "ack after the message is committed by the stream's Raft group: stored on a majority (2 of 3) of replicas, with jetstream sync_interval: always (every write fsynced, Raft WAL and stream store); 3 replicas, file storage"
    : "ack after the message is committed by the stream's Raft group: written (not fsynced) on a majority (2 of 3) of replicas; nats-server's default sync_interval (fsync every 2 min); 3 replicas, file storage. NOT the same durability as geobroker";
}

const stopGraceMs = 10_000;

export function natsServerPath(): string {
  return process.env.NATS_SERVER ?? join(projectRoot(), ".tools", "bin", "nats-server");
}

interface NatsNode {
  name: string;
  client: number;
  cluster: number;
  http: number;
}

/** The nats-server configuration of one node (nats-server's own config syntax). */
export function natsConfig(node: NatsNode, all: NatsNode[], storeDir: string, syncAlways = true): string {
  return [
    `server_name: ${node.name}`,
    `listen: 127.0.0.1:${node.client}`,
    `http: 127.0.0.1:${node.http}`,
    "jetstream {",
    `  store_dir: ${JSON.stringify(storeDir)}`,
    ...(syncAlways ? ["  sync_interval: always"] : []),
    "}",
    "cluster {",
    "  name: bench",
    `  listen: 127.0.0.1:${node.cluster}`,
    `  routes: [${all.map((n) => `nats-route://127.0.0.1:${n.cluster}`).join(", ")}]`,
    "}",
    "",
  ].join("\n");
}

export class NatsSystem implements BenchSystem {
  readonly durability: string;
  private readonly nodes: NatsNode[];
  private readonly children = new Map<string, ChildProcess>();
  private readonly lastLines = new Map<string, string[]>();
  private version = "nats-server (unknown version)";
  private admin: { nc: NatsConnection; jsm: JetStreamManager } | undefined;
  private stopping = false;
  private say: (line: string) => void = () => {};
  /** Startup chatter (routes not up yet, no meta leader yet) is expected: logs reach the console once ready. */
  private ready = false;

  constructor(
    /** "nats" (fsync always) or "nats-default"; each runs its own cluster on its own ports. */
    readonly name: "nats" | "nats-default",
    private readonly dir: string,
    private readonly syncAlways: boolean,
    basePort: number,
    /** Node i runs under `taskset -c cpuSets[i]` (--node-cpus). */
    private readonly cpuSets: string[] = [],
  ) {
    this.durability = natsDurability(syncAlways);
    this.nodes = [0, 1, 2].map((i) => ({
      name: `n${i}`,
      client: basePort + i,
      cluster: basePort + 100 + i,
      http: basePort + 200 + i,
    }));
  }

  describe(): string {
    const caps = this.cpuSets.length > 0 ? `, nodes pinned to CPUs ${this.cpuSets.join(" / ")}` : "";
    return `${this.version}, 3 nodes on 127.0.0.1, plaintext, JetStream publish (request/ack) to the stream leader${caps}`;
  }

  async start(say: (line: string) => void): Promise<void> {
    this.say = say;
    const bin = natsServerPath();
    if (!existsSync(bin) && !process.env.NATS_SERVER) {
      // One command: the first run installs the pinned nats-server (Go module proxy, needs Go).
      say("  nats-server is not installed yet: bash scripts/install-nats-server.sh");
      const script = join(projectRoot(), "scripts", "install-nats-server.sh");
      const r = spawnSync("bash", [script], { stdio: ["ignore", "inherit", "inherit"] });
      if (r.status !== 0) throw new Error("installing nats-server failed (see above); it needs Go");
    }
    if (!existsSync(bin))
      throw new Error(
        `${bin} not found: run bash scripts/install-nats-server.sh (needs Go), or set NATS_SERVER`,
      );
    this.version = execFileSync(bin, ["--version"], { encoding: "utf8" }).trim();
    for (const [i, n] of this.nodes.entries()) {
      const store = join(this.dir, n.name);
      mkdirSync(store, { recursive: true });
      const config = join(this.dir, `${n.name}.conf`);
      writeFileSync(config, natsConfig(n, this.nodes, store, this.syncAlways));
      const run = pinnedCommand(i, bin, ["-c", config], this.cpuSets);
      const child = spawn(run.command, run.args, { stdio: ["ignore", "pipe", "pipe"] });
      this.children.set(n.name, child);
      this.lastLines.set(n.name, []);
      onLines(child, (line) => {
        keepLast(this.lastLines.get(n.name)!, line);
        if (this.ready && /\[(ERR|FTL)\]/.test(line)) say(`  [${this.name} ${n.name}] ${line}`);
      });
      child.on("exit", (code, signal) => {
        this.children.delete(n.name);
        if (!this.stopping) {
          say(`  [${this.name} ${n.name}] exited (${signal ?? `code ${code}`})`);
          say(`    ${(this.lastLines.get(n.name) ?? []).join("\n    ")}`);
        }
      });
    }
    await waitFor("nats-server /healthz on every node", 60_000, async () => {
      if (this.children.size < this.nodes.length) throw new Error("a nats-server exited");
      const codes = await Promise.all(
        this.nodes.map((n) =>
          fetch(`http://127.0.0.1:${n.http}/healthz`, { signal: AbortSignal.timeout(1000) }).then(
            (r) => r.status,
            () => 0,
          ),
        ),
      );
      return codes.every((c) => c === 200) ? true : undefined;
    });
    const nc = await connect({ servers: this.nodes.map((n) => `127.0.0.1:${n.client}`) });
    const jsm = await jetstreamManager(nc);
    await waitFor("JetStream meta leader", 60_000, async () => (await jsm.getAccountInfo()) && true);
    this.admin = { nc, jsm };
    this.ready = true;
    say(
      `  ${this.name} cluster ready: ${this.nodes.map((n) => `${n.name} 127.0.0.1:${n.client}`).join(", ")}`,
    );
  }

  async openCell(cellId: string): Promise<CellPublisher> {
    const { jsm } = this.admin!;
    const stream = `bench-${cellId}`;
    const subject = `bench.${cellId}`;
    await waitFor("create stream", 30_000, async () =>
      jsm.streams.add({ name: stream, subjects: [subject], storage: StorageType.File, num_replicas: 3 }),
    );
    const leader = await waitFor("stream leader", 30_000, async () => {
      const info = await jsm.streams.info(stream);
      const current = (info.cluster?.replicas ?? []).filter((r) => r.current).length;
      return info.cluster?.leader && current === 2 ? info.cluster.leader : undefined;
    });
    const node = this.nodes.find((n) => n.name === leader);
    if (!node) throw new Error(`leader ${leader} of stream ${stream} is not a node of the cluster`);
    const nc = await connect({ servers: `127.0.0.1:${node.client}` });
    const js: JetStreamClient = jetstream(nc);
    await js.publish(subject, new Uint8Array(8));
    return {
      publish: async (body) => {
        await js.publish(subject, body);
      },
      // NATS's fastest JetStream publish: async publishes, all in flight at once, acks awaited together.
      publishBatch: async (body, count) => {
        await Promise.all(Array.from({ length: count }, () => js.publish(subject, body)));
      },
      // An ordered consumer (JetStream delivers what its stream stored) on another server.
      subscribe: async (onBody) => {
        const other = this.nodes.find((n) => n.name !== leader)!;
        const sc = await connect({ servers: `127.0.0.1:${other.client}` });
        const consumer = await jetstream(sc).consumers.get(stream, { deliver_policy: DeliverPolicy.New });
        const messages = await consumer.consume();
        const done = (async () => {
          for await (const m of messages) onBody(m.data);
        })().catch(() => {});
        return {
          close: async () => {
            await messages.close();
            await done;
            await sc.close();
          },
        };
      },
      close: async () => {
        await nc.drain().catch(() => {});
        const now = (await jsm.streams.info(stream).catch(() => undefined))?.cluster?.leader;
        if (now !== leader)
          this.say(`  note: the leader of ${stream} moved from ${leader} to ${now ?? "?"} during the cell`);
        await jsm.streams.delete(stream).catch(() => {});
      },
    };
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.ready = false; // clients and routes closing make noise that says nothing

    await this.admin?.nc.close().catch(() => {});
    this.admin = undefined;
    await Promise.all([...this.children.values()].map((child) => stopChild(child, stopGraceMs)));
  }
}
