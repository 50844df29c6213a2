// `npm run bench`: geobroker and NATS JetStream side by side, in one run. Starts both 3-node
// clusters as real processes on loopback, runs every (size, in flight) cell against each system in
// turn, prints a table and writes bench/results/<timestamp>.json. Options: bench/src/args.ts.
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { isAbsolute, join, relative } from "node:path";
import { LatencyRecorder } from "../../broker/src/util/latency.js";
import { projectRoot } from "../../broker/src/util/project-root.js";
import { ArgsError, type BenchOptions, parseBenchArgs, usage } from "./args.js";
import { runDeliverCell } from "./deliver.js";
import { geoCell } from "./geo.js";
import { GeobrokerSystem } from "./geobroker.js";
import { NatsSystem } from "./nats.js";
import { benchReport, type GeoResult, type NodesResult, type ScalingResult } from "./report.js";
import { type CellResult, type Measurement, summarize } from "./stats.js";
import type { BenchSystem } from "./system.js";
import {
  type DeliverResult,
  formatCpuLine,
  formatDeliver,
  formatFsyncLine,
  formatMs,
  formatSize,
  formatTable,
} from "./table.js";
import { type CellPublisher, runCell } from "./workload.js";

const say = (line: string) => console.log(line);

async function main(argv: string[]): Promise<number> {
  let options: BenchOptions | "help";
  try {
    options = parseBenchArgs(argv);
  } catch (err) {
    if (!(err instanceof ArgsError)) throw err;
    console.error(`bench: ${err.message}\n\n${usage}`);
    return 2;
  }
  if (options === "help") {
    console.log(usage);
    return 0;
  }
  const root = projectRoot();
  const runId = new Date().toISOString().replace(/[:.]/g, "-");
  const runDir = join(root, "bench", "results", "tmp", runId);
  const outDir = isAbsolute(options.outDir) ? options.outDir : join(root, options.outDir);
  const all: BenchSystem[] = options.systems.map((s) =>
    s === "geobroker"
      ? new GeobrokerSystem(join(runDir, "geobroker"), 17000, "", options.nodeCpus)
      : s === "nats"
        ? new NatsSystem("nats", join(runDir, s), true, 14222, options.nodeCpus)
        : new NatsSystem("nats-default", join(runDir, s), false, 15222, options.nodeCpus),
  );
  const cells = [
    ...options.sizes.flatMap((size) => options.inflight.map((inflight) => ({ size, inflight, batch: 1 }))),
    ...(options.batch > 1
      ? options.sizes.flatMap((size) =>
          options.batchInflight.map((inflight) => ({ size, inflight, batch: options.batch })),
        )
      : []),
  ];
  // Each cell: warm-up + measured + ~2 s to open and close it; a deliver cell adds its 3 s drain;
  // the geo cells' cluster takes ~20 s to start.
  const cellS = options.warmupS + options.durationS + 2;
  const seconds =
    20 +
    options.rounds * all.length * (cells.length * cellS + (options.deliverRate > 0 ? cellS + 3 : 0)) +
    (options.systems.includes("geobroker") ? options.partitions.length * (cellS + 3) : 0) +
    (options.systems.includes("geobroker")
      ? options.nodes.length * (cellS + 5) + (options.nodes.includes(6) ? 25 : 0)
      : 0) +
    (options.geo ? 20 + 2 * cellS : 0);
  say(
    `bench: ${options.systems.join(" vs ")}, ${cells.length} cells${options.deliverRate > 0 ? " + deliver" : ""} x ${all.length} systems x ${options.rounds} rounds` +
      `${options.partitions.length > 0 ? ` + ${options.partitions.length} partition cells` : ""}` +
      `${options.nodes.length > 0 ? ` + ${options.nodes.length} node cells` : ""}${options.geo ? " + 2 geo cells" : ""}, ${options.warmupS} s warm-up + ${options.durationS} s measured each ` +
      `(about ${Math.ceil(seconds / 60)} min)`,
  );
  say(
    `machine: ${cpus().length} cores (${cpus()[0]?.model ?? "?"}), ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`,
  );
  say(`data under ${relative(process.cwd(), runDir)} (same disk for every system)`);

  let interrupted = false;
  const started: BenchSystem[] = [];
  const stopAll = async () => {
    for (const s of started.splice(0)) await s.stop().catch(() => {});
  };
  process.once("SIGINT", () => {
    interrupted = true;
    say("interrupted: stopping the clusters...");
    void stopAll().then(() => {
      if (!options.keepData) rmSync(runDir, { recursive: true, force: true });
      process.exit(130);
    });
  });

  const measured = new Map<string, Measurement[]>();
  const delivered = new Map<string, Measurement[]>();
  const geo: GeoResult[] = [];
  const scaling: ScalingResult[] = [];
  const byNodes: NodesResult[] = [];
  const keyOf = (system: string, size: number, inflight: number, batch: number) =>
    `${system}/${size}/${inflight}/${batch}`;
  const report = (m: Measurement) => {
    say(
      `  => ${Math.round(m.messages / m.seconds)} msg/s, p50 ${formatMs(m.latency.percentileMs(50))} ms, ` +
        `p99 ${formatMs(m.latency.percentileMs(99))} ms, p99.9 ${formatMs(m.latency.percentileMs(99.9))} ms, ` +
        `errors ${m.errors}${m.firstError ? ` (first: ${m.firstError})` : ""}`,
    );
    if (m.note) say(`     ${m.note}`);
    if (m.windowMonotonicUs)
      say(
        `     measured window (CLOCK_MONOTONIC µs, for bench/src/profile.ts): ${m.windowMonotonicUs.join("-")}`,
      );
  };
  const startedAt = new Date().toISOString();
  try {
    for (const s of all) {
      say(`starting ${s.name} (3 nodes)...`);
      started.push(s);
      await s.start(say);
      say(`  ${s.describe()}`);
    }
    for (let round = 1; round <= options.rounds; round++) {
      const tag = options.rounds > 1 ? ` (round ${round}/${options.rounds})` : "";
      for (const { size, inflight, batch } of cells) {
        for (const s of all) {
          if (interrupted) return 130;
          const what = batch > 1 ? `${inflight} batches of ${batch} in flight` : `${inflight} in flight`;
          say(`${s.name}: ${formatSize(size)}, ${what}${tag}`);
          const plan = {
            system: s.name,
            size,
            inflight,
            batch,
            warmupS: options.warmupS,
            durationS: options.durationS,
          };
          const m = await measure(s, `s${size}-k${inflight}-b${batch}-r${round}`, options.durationS, (p) =>
            runCell(plan, p, say),
          );
          const key = keyOf(s.name, size, inflight, batch);
          measured.set(key, [...(measured.get(key) ?? []), m]);
          report(m);
        }
      }
      if (options.deliverRate === 0) continue;
      for (const s of all) {
        if (interrupted) return 130;
        const { deliverRate: rate, deliverSize: size } = options;
        say(`${s.name}: deliver, ${formatSize(size)} at ${rate} msg/s, subscriber on another node${tag}`);
        const plan = { system: s.name, size, rate, warmupS: options.warmupS, durationS: options.durationS };
        const m = await measure(s, `deliver-r${round}`, options.durationS, (p) =>
          runDeliverCell(plan, p, say),
        );
        delivered.set(s.name, [...(delivered.get(s.name) ?? []), m]);
        report(m);
      }
    }
    const gb = all.find((s) => s.name === "geobroker");
    for (const partitions of gb ? options.partitions : []) {
      if (interrupted) return 130;
      say(
        `geobroker: 256 B, 64 in flight over ${partitions} partition${partitions > 1 ? "s" : ""} (scaling)`,
      );
      const key = { system: "geobroker" as const, size: 256, inflight: 64, batch: 1 };
      const plan = { ...key, warmupS: options.warmupS, durationS: options.durationS };
      const run = (p: CellPublisher) => runCell(plan, p, say);
      const m = await measure(gb!, `part${partitions}`, options.durationS, run, undefined, partitions);
      report(m);
      scaling.push({ ...summarize(key, [m]), partitions });
    }
    const main3 = all.find((s): s is GeobrokerSystem => s instanceof GeobrokerSystem);
    for (const nodes of main3 ? options.nodes : []) {
      if (interrupted) return 130;
      const system =
        nodes === 3
          ? main3!
          : new GeobrokerSystem(join(runDir, "six"), 17300, "", options.nodeCpus, nodes / 3);
      if (system !== main3) {
        say(`starting geobroker (${nodes} nodes, 2 per region) for the node-scaling cell...`);
        started.push(system);
        await system.start(say);
      }
      say(`geobroker: 256 B, 64 in flight over 16 partitions, leaders spread over ${nodes} nodes (scaling)`);
      const key = { system: "geobroker" as const, size: 256, inflight: 64, batch: 1 };
      const plan = { ...key, warmupS: options.warmupS, durationS: options.durationS };
      const m = await measureOpen(
        () => system.openSpreadCell(`nodes${nodes}`, 16),
        options.durationS,
        (p) => runCell(plan, p, say),
      );
      report(m);
      byNodes.push({ ...summarize(key, [m]), nodes, partitions: 16 });
      if (system !== main3) {
        await system.stop();
        started.splice(started.indexOf(system), 1);
      }
    }
    if (options.geo) {
      const system = new GeobrokerSystem(join(runDir, "geo"), 17500, options.geo, options.nodeCpus);
      say(`starting geobroker under the simulated WAN ${options.geo} (3 nodes)...`);
      started.push(system);
      await system.start(say);
      const key = { system: system.name, size: 256, inflight: 1, batch: 1 };
      for (const from of ["eu", "ap"]) {
        if (interrupted) return 130;
        say(`geobroker (geo): 256 B, 1 in flight, client on the ${from} node, leader in eu`);
        const plan = { ...key, warmupS: options.warmupS, durationS: options.durationS };
        const m = await measure(system, `geo-${from}`, options.durationS, (p) => runCell(plan, p, say), from);
        report(m);
        geo.push({ ...summarize(key, [m]), ...geoCell(options.geo, "eu", from) });
      }
    }
  } finally {
    await stopAll();
    if (!options.keepData) rmSync(runDir, { recursive: true, force: true });
  }

  const results: CellResult[] = [];
  for (const { size, inflight, batch } of cells) {
    for (const s of all) {
      const rounds = measured.get(keyOf(s.name, size, inflight, batch));
      if (rounds) results.push(summarize({ system: s.name, size, inflight, batch }, rounds));
    }
  }
  // A deliver cell is an open loop: no publishes "in flight" by design, so its key says 0.
  const deliver: DeliverResult[] = all.flatMap((s) => {
    const rounds = delivered.get(s.name);
    const key = { system: s.name, size: options.deliverSize, inflight: 0, batch: 1 };
    return rounds ? [{ ...summarize(key, rounds), rate: options.deliverRate }] : [];
  });
  say("");
  say(formatTable(results));
  if (deliver.length > 0) {
    say("");
    say("publish->deliver at a fixed rate (open loop; from each message's scheduled send to its delivery):");
    say(formatDeliver(deliver).table);
  }
  if (scaling.length > 0) {
    say("");
    say(
      "scaling cells (geobroker, 256 B, 64 in flight, round-robin over the partitions, all leaders on eu-0):",
    );
    for (const r of scaling)
      say(
        `  ${r.partitions} partitions: ${Math.round(r.msgsPerSec)} msg/s, p99 ${formatMs(r.latencyMs.p99)} ms`,
      );
  }
  if (byNodes.length > 0) {
    say("");
    say("node-scaling cells (geobroker, 256 B, 64 in flight over 16 partitions, leaders spread):");
    for (const r of byNodes)
      say(`  ${r.nodes} nodes: ${Math.round(r.msgsPerSec)} msg/s, p99 ${formatMs(r.latencyMs.p99)} ms`);
  }
  if (geo.length > 0) {
    say("");
    say(`geo cells (simulated WAN ${options.geo}; bound = nearest-quorum RTT + forwarding RTT + 5 ms):`);
    for (const g of geo)
      say(
        `  from ${g.from}: ${Math.round(g.msgsPerSec)} msg/s, p50 ${formatMs(g.latencyMs.p50)} ms, p99 ${formatMs(g.latencyMs.p99)} ms, bound ${g.boundMs} ms`,
      );
  }
  say("");
  for (const s of all) say(`${s.name}: ${s.durability}`);
  const fsyncs = formatFsyncLine(results);
  if (fsyncs) say(fsyncs);
  const cpu = formatCpuLine(results);
  if (cpu) say(cpu);
  mkdirSync(outDir, { recursive: true });
  const outFile = join(outDir, `${runId}.json`);
  const json = benchReport({
    runId,
    startedAt,
    finishedAt: new Date().toISOString(),
    machine: { cores: cpus().length, cpu: cpus()[0]?.model, memoryBytes: totalmem(), node: process.version },
    options,
    systems: Object.fromEntries(all.map((s) => [s.name, { setup: s.describe(), durability: s.durability }])),
    results,
    deliver,
    geo,
    scaling,
    nodes: byNodes,
  });
  say("");
  for (const line of json.resultLines) say(line);
  writeFileSync(outFile, `${JSON.stringify(json, null, 2)}\n`);
  say(`results: ${relative(process.cwd(), outFile)}`);
  return [...results, ...deliver, ...geo, ...scaling, ...byNodes].some((r) => r.messages === 0) ? 1 : 0;
}

/** Opens a cell on `system` and runs it; a failed cell does not end the run: it shows as 0 msg/s with its error. */
async function measure(
  system: BenchSystem,
  cellId: string,
  durationS: number,
  run: (publisher: CellPublisher) => Promise<Measurement>,
  via?: string,
  partitions?: number,
): Promise<Measurement> {
  return measureOpen(() => system.openCell(cellId, via, partitions), durationS, run);
}

/** Opens a cell with `open` and runs it (see measure). */
async function measureOpen(
  open: () => Promise<CellPublisher>,
  durationS: number,
  run: (publisher: CellPublisher) => Promise<Measurement>,
): Promise<Measurement> {
  try {
    const publisher = await open();
    try {
      return await run(publisher);
    } finally {
      await publisher.close();
    }
  } catch (err) {
    return {
      seconds: durationS,
      messages: 0,
      errors: 1,
      latency: new LatencyRecorder(),
      firstError: (err as Error).message,
    };
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: Error) => {
    console.error(`bench: ${err.stack ?? err.message}`);
    process.exit(1);
  },
);
