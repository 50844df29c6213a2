// Command-line options of `npm run bench`: pure parsing, no I/O.
import { parseArgs } from "node:util";
import { parseCpuSets } from "../../broker/src/local/cpu-sets.js";
import { parseWanDelay } from "../../broker/src/local/wan-delay.js";
import { defaultGeoDelays, geoRegions } from "./geo.js";

/** `nats` fsyncs every write (sync_interval: always); `nats-default` runs nats-server's own default. */
export const systems = ["geobroker", "nats", "nats-default"] as const;
export type SystemName = (typeof systems)[number];

export interface BenchOptions {
  /** Measured seconds per cell (after the warm-up). */
  durationS: number;
  /** Seconds per cell before measuring starts (messages sent, not counted). */
  warmupS: number;
  /** Message body sizes in bytes. */
  sizes: number[];
  /** Publishes in flight per cell (a closed loop: each ack frees one slot). */
  inflight: number[];
  systems: SystemName[];
  /**
   * The batched cell: messages per publish call (0: none), sent `batchInflight` calls at a time, for
   * each size. geobroker sends one PublishStream frame per batch; NATS that many async publishes.
   */
  batch: number;
  batchInflight: number[];
  /**
   * The deliver cell: publishes at this fixed rate (msg/s, open loop) to the leader while a
   * subscriber on another node receives; 0: no deliver cell. Its messages are `deliverSize` bytes.
   */
  deliverRate: number;
  deliverSize: number;
  /**
   * The geo cells' simulated WAN (`npm start --wan-delay` syntax, one-way per region pair), or ""
   * for no geo cells: a fourth cluster (geobroker) where every inter-region path is delayed.
   */
  geo: string;
  /**
   * The scaling cells (geobroker): 256 B, 64 in flight, round-robin over a topic of each of these
   * partition counts (all leaders on eu-0); [] for none.
   */
  partitions: number[];
  /**
   * Per-node CPU caps: node i of every cluster runs under `taskset -c nodeCpus[i]` (cycling); []
   * for none. broker/src/local/cpu-sets.ts.
   */
  nodeCpus: string[];
  /**
   * The node-scaling cells (geobroker): 256 B, 64 in flight over 16 partitions whose leaders are
   * spread over the nodes, on a cluster of each of these sizes (3 or 6: 1 or 2 nodes per region).
   */
  nodes: number[];
  /** Times every cell is run; rounds go through all cells in turn, so slow drifts hit every cell. */
  rounds: number;
  /** Where the JSON result goes (a folder; the file is <timestamp>.json). */
  outDir: string;
  /** Keep the clusters' data folders after the run (they are deleted otherwise). */
  keepData: boolean;
}

export const usage = `npm run bench -- [options]: geobroker and NATS JetStream side by side, one run

Each system runs as a 3-node cluster of real processes on 127.0.0.1 (replication factor 3, file
storage, fsync before acknowledging). Every cell publishes messages of one size with a fixed number
of publishes in flight and measures msg/s, MB/s and publish->ack latency (p50, p99, p99.9).

  --quick            short cells (3 s measured, 1 s warm-up): a smoke run
  --duration S       measured seconds per cell (default 10; 3 with --quick)
  --warmup S         warm-up seconds per cell, not measured (default 2; 1 with --quick)
  --sizes LIST       message sizes, e.g. 256,4KiB (default 256,4096)
  --inflight LIST    publishes in flight, e.g. 1,64 (default 1,64)
  --systems LIST     geobroker,nats,nats-default (default all three): nats fsyncs every write
                     (sync_interval: always), as geobroker does before acking; nats-default runs
                     nats-server's default (fsync every 2 min; its acks are not on disk)
  --batch N          the batched cell: N messages per publish call (default 100; 0: none): one
                     PublishStream frame on geobroker, N async publishes awaited together on NATS
  --batch-inflight LIST  batches in flight in the batched cell (default 8)
  --deliver-rate N   the deliver cell: publish N msg/s (open loop, default 5000; 0: none) to the
                     leader, a subscriber on another node; publish->deliver p50/p99
  --deliver-size S   message size of the deliver cell (default 256)
  --geo DELAYS       the geo cells: geobroker under a simulated WAN, one-way delays per region pair
                     (default eu-us=20ms,eu-ap=60ms,us-ap=60ms; off: none), 256 B, 1 in flight,
                     from eu (the leader) and from ap (forwarded); p99 vs nearest-quorum RTT + 5 ms
  --partitions LIST  the scaling cells (geobroker): 256 B, 64 in flight over a topic of N
                     partitions, for each N (default 1,4,16; off: none)
  --nodes LIST       the node-scaling cells (geobroker): 256 B, 64 in flight over 16 partitions
                     with leaders spread over every node, on 3 and/or 6 nodes (default 3,6; off)
  --node-cpus SETS   pin node i of every cluster (both systems) to CPU set i with taskset, e.g.
                     "0;1;0" (sets separated by ;, cycling; default: no caps; Linux, util-linux)
  --rounds N         run every cell N times, round after round (default 1); the table sums the
                     rounds and shows each round's msg/s
  --out DIR          folder for the JSON result (default bench/results)
  --keep-data        keep the clusters' data folders under bench/results/tmp
  --help             this text

Needs nats-server: bash scripts/install-nats-server.sh (Go; installs into .tools/bin).`;

export class ArgsError extends Error {}

/** "256", "4k", "4KiB", "1MiB" -> bytes. */
export function parseSize(text: string): number {
  const m = /^(\d+)\s*(b|k|kb|kib|m|mb|mib)?$/i.exec(text.trim());
  if (!m) throw new ArgsError(`size "${text}": use bytes or a KiB/MiB suffix, e.g. 256 or 4KiB`);
  const unit = (m[2] ?? "b").toLowerCase();
  const n = Number(m[1]) * (unit.startsWith("m") ? 1024 * 1024 : unit.startsWith("k") ? 1024 : 1);
  if (n < 1 || n > 1024 * 1024) throw new ArgsError(`size "${text}": 1 B to 1 MiB`);
  return n;
}

/** "5", "5s", "1.5s", "500ms" -> seconds. */
export function parseSeconds(text: string, flag: string, min: number): number {
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s)?$/.exec(text.trim());
  const s = m ? Number(m[1]) / (m[2] === "ms" ? 1000 : 1) : Number.NaN;
  if (!(s >= min) || s > 3600) throw new ArgsError(`${flag} ${text}: seconds from ${min} to 3600`);
  return s;
}

function list<T>(text: string, flag: string, one: (s: string) => T): T[] {
  const items = text
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  if (items.length === 0) throw new ArgsError(`${flag}: give at least one value`);
  const out = items.map(one);
  return [...new Set(out)];
}

export function parseBenchArgs(argv: string[]): BenchOptions | "help" {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        quick: { type: "boolean", default: false },
        duration: { type: "string" },
        warmup: { type: "string" },
        sizes: { type: "string", default: "256,4096" },
        inflight: { type: "string", default: "1,64" },
        systems: { type: "string", default: systems.join(",") },
        rounds: { type: "string", default: "1" },
        batch: { type: "string", default: "100" },
        "batch-inflight": { type: "string", default: "8" },
        "deliver-rate": { type: "string", default: "5000" },
        "deliver-size": { type: "string", default: "256" },
        geo: { type: "string", default: defaultGeoDelays },
        partitions: { type: "string", default: "1,4,16" },
        "node-cpus": { type: "string", default: "" },
        nodes: { type: "string", default: "3,6" },
        out: { type: "string", default: "bench/results" },
        "keep-data": { type: "boolean", default: false },
        help: { type: "boolean", default: false },
      },
    }));
  } catch (err) {
    throw new ArgsError((err as Error).message);
  }
  if (values.help) return "help";
  const quick = values.quick === true;
  const durationS = parseSeconds(String(values.duration ?? (quick ? "3" : "10")), "--duration", 0.5);
  const warmupS = parseSeconds(String(values.warmup ?? (quick ? "1" : "2")), "--warmup", 0);
  const sizes = list(String(values.sizes), "--sizes", parseSize);
  const inflightList = (flag: string, text: string) =>
    list(text, flag, (s) => {
      const n = Number(s);
      if (!Number.isInteger(n) || n < 1 || n > 10_000)
        throw new ArgsError(`${flag} ${s}: whole numbers from 1 to 10000`);
      return n;
    });
  const inflight = inflightList("--inflight", String(values.inflight));
  const batchInflight = inflightList("--batch-inflight", String(values["batch-inflight"]));
  const batch = Number(values.batch);
  if (!Number.isInteger(batch) || batch < 0 || batch === 1 || batch > 1000)
    throw new ArgsError(`--batch ${values.batch}: 0 (no batched cell) or 2 to 1000 messages`);
  const chosen = list(String(values.systems), "--systems", (s) => {
    if (!(systems as readonly string[]).includes(s))
      throw new ArgsError(`--systems ${s}: one of ${systems.join(", ")}`);
    return s as SystemName;
  });
  const deliverRate = Number(values["deliver-rate"]);
  if (!Number.isInteger(deliverRate) || deliverRate < 0 || deliverRate > 100_000)
    throw new ArgsError(`--deliver-rate ${values["deliver-rate"]}: 0 (no deliver cell) to 100000 msg/s`);
  const deliverSize = parseSize(String(values["deliver-size"]));
  if (deliverSize < 8)
    throw new ArgsError(`--deliver-size ${values["deliver-size"]}: at least 8 bytes (the send time)`);
  const geo = values.geo === "off" ? "" : String(values.geo);
  try {
    if (geo) parseWanDelay(geo, geoRegions);
  } catch (err) {
    throw new ArgsError(`--geo ${geo}: ${(err as Error).message.replace(/^--wan-delay: /, "")} (or off)`);
  }
  const partitions =
    values.partitions === "off"
      ? []
      : list(String(values.partitions), "--partitions", (p) => {
          const n = Number(p);
          if (!Number.isInteger(n) || n < 1 || n > 64)
            throw new ArgsError(`--partitions ${p}: whole numbers from 1 to 64 (or off)`);
          return n;
        });
  let nodeCpus: string[];
  try {
    nodeCpus = parseCpuSets(String(values["node-cpus"]));
  } catch (err) {
    throw new ArgsError(`--node-cpus: ${(err as Error).message}`);
  }
  const nodes =
    values.nodes === "off"
      ? []
      : list(String(values.nodes), "--nodes", (n) => {
          if (n !== "3" && n !== "6") throw new ArgsError(`--nodes ${n}: 3 or 6 (or off)`);
          return Number(n);
        });
  const rounds = Number(values.rounds);
  if (!Number.isInteger(rounds) || rounds < 1 || rounds > 100)
    throw new ArgsError(`--rounds ${values.rounds}: whole numbers from 1 to 100`);
  return {
    durationS,
    warmupS,
    sizes,
    inflight,
    systems: chosen,
    rounds,
    batch,
    batchInflight,
    deliverRate,
    deliverSize,
    geo,
    partitions,
    nodeCpus,
    nodes,
    outDir: String(values.out),
    keepData: values["keep-data"] === true,
  };
}
