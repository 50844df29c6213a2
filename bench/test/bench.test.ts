// The pure parts of `npm run bench`: options, statistics, table. The bench itself is not run here.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { LatencyRecorder } from "../../broker/src/util/latency.js";
import { ArgsError, parseBenchArgs, parseSeconds, parseSize } from "../src/args.js";
import { dueBy, stamped, stampOf } from "../src/deliver.js";
import { natsConfig } from "../src/nats.js";
import { breakdown, type CpuProfile, formatBreakdown } from "../src/profile-breakdown.js";
import { benchReport } from "../src/report.js";
import { cpuNote, cpuSeries, fsyncNote, fsyncSeries, promValues, ratio, summarize } from "../src/stats.js";
import {
  formatCpuLine,
  formatDeliver,
  formatFsyncLine,
  formatMs,
  formatResultLines,
  formatSize,
  formatTable,
  progressLine,
} from "../src/table.js";

describe("bench options", () => {
  it("defaults to geobroker and NATS at both sync settings, 256 B and 4 KiB, 1 and 64 in flight, 10 s cells", () => {
    assert.deepEqual(parseBenchArgs([]), {
      durationS: 10,
      warmupS: 2,
      sizes: [256, 4096],
      inflight: [1, 64],
      systems: ["geobroker", "nats", "nats-default"],
      rounds: 1,
      batch: 100,
      batchInflight: [8],
      deliverRate: 5000,
      deliverSize: 256,
      geo: "eu-us=20ms,eu-ap=60ms,us-ap=60ms",
      partitions: [1, 4, 16],
      nodeCpus: [],
      nodes: [3, 6],
      outDir: "bench/results",
      keepData: false,
    });
  });

  it("--quick shortens the cells; explicit flags win over it", () => {
    const quick = parseBenchArgs(["--quick"]);
    assert.ok(quick !== "help");
    assert.equal(quick.durationS, 3);
    assert.equal(quick.warmupS, 1);
    const both = parseBenchArgs(["--quick", "--duration", "5s", "--warmup", "500ms"]);
    assert.ok(both !== "help");
    assert.equal(both.durationS, 5);
    assert.equal(both.warmupS, 0.5);
  });

  it("reads size units, lists, and drops repeated values", () => {
    const o = parseBenchArgs(["--sizes", "256, 4KiB,4k,1MiB", "--inflight", "64,1,64", "--systems", "nats"]);
    assert.ok(o !== "help");
    assert.deepEqual(o.sizes, [256, 4096, 1024 * 1024]);
    assert.deepEqual(o.inflight, [64, 1]);
    assert.deepEqual(o.systems, ["nats"]);
    assert.equal(parseSize("512b"), 512);
    assert.equal(parseSeconds("2.5", "--duration", 0.5), 2.5);
  });

  it("rejects bad values with the flag named, and answers --help", () => {
    assert.equal(parseBenchArgs(["--help"]), "help");
    const bad: [string[], RegExp][] = [
      [["--sizes", "big"], /size "big"/],
      [["--sizes", "0"], /1 B to 1 MiB/],
      [["--sizes", "2MiB"], /1 B to 1 MiB/],
      [["--inflight", "0"], /--inflight 0/],
      [["--inflight", "1.5"], /--inflight 1.5/],
      [["--systems", "kafka"], /--systems kafka/],
      [["--duration", "0.1"], /--duration 0.1/],
      [["--duration", "soon"], /--duration soon/],
      [["--sizes", ","], /--sizes: give at least one value/],
      [["--rounds", "0"], /--rounds 0/],
      [["--batch", "1"], /--batch 1: 0 \(no batched cell\) or 2 to 1000/],
      [["--batch-inflight", "0"], /--batch-inflight 0/],
      [["--nats-sync", "default"], /nats-sync/],
      [["--nope"], /nope/],
    ];
    for (const [argv, message] of bad) {
      assert.throws(
        () => parseBenchArgs(argv),
        (err: Error) => err instanceof ArgsError && message.test(err.message),
      );
    }
  });
});

describe("bench statistics", () => {
  it("records latencies in a histogram and reads percentiles in milliseconds", () => {
    const r = new LatencyRecorder();
    assert.ok(Number.isNaN(r.percentileMs(50)));
    for (let ms = 1; ms <= 1000; ms++) r.recordMs(ms);
    assert.equal(r.count, 1000);
    // 3 significant digits: within 0.1 % of the exact value.
    assert.ok(Math.abs(r.percentileMs(50) - 500) <= 0.5, String(r.percentileMs(50)));
    assert.ok(Math.abs(r.percentileMs(99) - 990) <= 1, String(r.percentileMs(99)));
    assert.ok(Math.abs(r.percentileMs(99.9) - 999) <= 1, String(r.percentileMs(99.9)));
    assert.ok(Math.abs(r.maxMs - 1000) <= 1);
    assert.ok(Math.abs(r.meanMs - 500.5) <= 1);
    r.reset();
    assert.equal(r.count, 0);
  });

  it("keeps sub-millisecond latencies apart", () => {
    const r = new LatencyRecorder();
    for (let i = 0; i < 99; i++) r.recordMs(0.25);
    r.recordMs(0.75);
    assert.equal(r.percentileMs(50), 0.25);
    assert.equal(r.percentileMs(100), 0.75);
  });

  it("summarizes a cell: msg/s over the measured seconds, MB/s from the body size", () => {
    const latency = new LatencyRecorder();
    latency.recordMs(2);
    const s = summarize({ system: "geobroker", size: 4096, inflight: 64, batch: 1 }, [
      { seconds: 5, messages: 10_000, errors: 1, latency },
    ]);
    assert.equal(s.msgsPerSec, 2000);
    assert.equal(s.mbPerSec, (2000 * 4096) / 1e6);
    assert.equal(s.latencyMs.p50, 2);
    assert.equal(s.errors, 1);
    assert.equal("firstError" in s, false);
    assert.deepEqual(s.roundsMsgsPerSec, [2000]);
  });

  it("sums rounds: msg/s over all measured seconds, percentiles over every ack", () => {
    const fast = new LatencyRecorder();
    for (let i = 0; i < 90; i++) fast.recordMs(1);
    const slow = new LatencyRecorder();
    for (let i = 0; i < 10; i++) slow.recordMs(100);
    const s = summarize({ system: "nats", size: 256, inflight: 1, batch: 1 }, [
      { seconds: 2, messages: 90, errors: 0, latency: fast },
      { seconds: 2, messages: 10, errors: 3, latency: slow, firstError: "timeout" },
    ]);
    assert.equal(s.seconds, 4);
    assert.equal(s.messages, 100);
    assert.equal(s.msgsPerSec, 25);
    assert.deepEqual(s.roundsMsgsPerSec, [45, 5]);
    assert.equal(s.errors, 3);
    assert.equal(s.firstError, "timeout");
    assert.equal(s.latencyMs.p50, 1);
    assert.ok(Math.abs(s.latencyMs.p99 - 100) < 0.1);
  });

  it("reads fsync counters from /metrics text and tells the fsyncs of a cell", () => {
    const text = (count: number, sum: number, entries: number) =>
      [
        "# HELP geobroker_storage_fsync_seconds Duration of each synced write batch",
        'geobroker_storage_fsync_seconds_bucket{le="0.005",node="eu-0"} 3',
        `geobroker_storage_fsync_seconds_sum{node="eu-0"} ${sum}`,
        `geobroker_storage_fsync_seconds_count{node="eu-0"} ${count}`,
        `geobroker_storage_fsync_entries_sum{node="eu-0"} ${entries}`,
        "geobroker_storage_fsync_entries_sum_other 99",
      ].join("\n");
    const before = promValues(text(10, 0.05, 20), fsyncSeries);
    assert.deepEqual(before, {
      geobroker_storage_fsync_seconds_count: 10,
      geobroker_storage_fsync_seconds_sum: 0.05,
      geobroker_storage_fsync_entries_sum: 20,
    });
    const after = promValues(text(110, 0.35, 2020), fsyncSeries);
    assert.deepEqual(fsyncNote(before, after, 10, 400), {
      text: "100 fsyncs (10/s), mean 3.0 ms, 20.0 Raft entries each, 0.25 fsyncs per acked message (400 acks)",
      fsyncsPerAck: 0.25,
    });
    assert.deepEqual(fsyncNote(before, after, 10, 0), {
      text: "100 fsyncs (10/s), mean 3.0 ms, 20.0 Raft entries each",
    });
    assert.deepEqual(fsyncNote(before, before, 10, 5), { text: "no fsync" });
  });

  it("ratio needs two positive numbers", () => {
    assert.equal(ratio(300, 100), 3);
    assert.equal(ratio(300, 0), undefined);
    assert.equal(ratio(undefined, 100), undefined);
    assert.equal(ratio(Number.NaN, 100), undefined);
  });
});

describe("bench output", () => {
  const cell = (
    system: string,
    size: number,
    inflight: number,
    msgsPerSec: number,
    p99: number,
    rounds = 1,
    batch = 1,
  ) => {
    const latency = new LatencyRecorder();
    latency.recordMs(p99);
    const round = { seconds: 1, messages: msgsPerSec, errors: 0, latency };
    return summarize(
      { system, size, inflight, batch },
      Array.from({ length: rounds }, () => round),
    );
  };

  it("prints one row per system and cell, sorted, with geobroker relative to both NATS settings", () => {
    const table = formatTable([
      cell("nats", 4096, 1, 500, 4),
      cell("geobroker", 4096, 1, 1000, 2),
      cell("nats-default", 256, 64, 6000, 5),
      cell("geobroker", 256, 64, 3000, 10),
      cell("nats", 256, 64, 1000, 20),
    ]);
    const lines = table.split("\n");
    assert.equal(lines.length, 7);
    assert.match(lines[0]!, /^\| size .*\| msg\/s vs NATS \| p99 vs NATS \| msg\/s vs NATS default \|$/);
    assert.match(
      lines[2]!,
      /^\| 256 B \| 64 +\| geobroker +\| +3,000 \| +0\.77 \| .* \| +3\.00x \| +0\.50x \| +0\.50x \|$/,
    );
    assert.match(lines[3]!, /^\| 256 B \| 64 +\| nats +\| +1,000 \|.*\| +\| +\| +\|$/);
    assert.match(lines[4]!, /^\| 256 B \| 64 +\| nats-default \| +6,000 \|.*\| +\| +\| +\|$/);
    assert.match(
      lines[5]!,
      /^\| 4 KiB \| 1 +\| geobroker +\| +1,000 \| +4\.10 \|.* 2\.00x \| +0\.50x \| +\|$/,
    );
    assert.ok(lines.every((l) => l.length === lines[0]!.length));
  });

  it("prints one RESULT line per cell, in the issue's exact shape, with na for what did not run", () => {
    const lines = formatResultLines([
      cell("geobroker", 256, 64, 3000, 10),
      cell("nats", 256, 64, 1000, 20),
      cell("nats-default", 256, 64, 6000, 5),
      cell("geobroker", 256, 1, 400, 2.5),
      cell("nats", 256, 1, 0, 1),
    ]);
    assert.deepEqual(lines, [
      "RESULT throughput size=256 inflight=1 geobroker=400 nats_sync=na nats_default=na ratio_sync=na ratio_default=na p99_ratio_sync=2.50",
      "RESULT throughput size=256 inflight=64 geobroker=3000 nats_sync=1000 nats_default=6000 ratio_sync=3.00 ratio_default=0.50 p99_ratio_sync=0.50",
    ]);
    const shape =
      /^RESULT throughput size=\d+ inflight=\d+ geobroker=(\d+|na) nats_sync=(\d+|na) nats_default=(\d+|na) ratio_sync=(\d+\.\d\d|na) ratio_default=(\d+\.\d\d|na) p99_ratio_sync=(\d+\.\d\d|na)$/;
    for (const l of lines) assert.match(l, shape);
  });

  it("puts batched cells after the single ones, as `8 x 100`, with their own RESULT batched line", () => {
    const results = [
      cell("nats", 256, 8, 20000, 30, 1, 100),
      cell("geobroker", 256, 8, 100000, 12, 1, 100),
      cell("geobroker", 256, 64, 3000, 10),
    ];
    const lines = formatTable(results).split("\n");
    assert.match(lines[2]!, /^\| 256 B \| 64 +\| geobroker /);
    assert.match(lines[3]!, /^\| 256 B \| 8 x 100 +\| geobroker +\| +100,000 \|.*\| +5\.00x \| +0\.40x \|/);
    assert.deepEqual(formatResultLines(results), [
      "RESULT throughput size=256 inflight=64 geobroker=3000 nats_sync=na nats_default=na ratio_sync=na ratio_default=na p99_ratio_sync=na",
      "RESULT batched size=256 inflight=8 batch=100 geobroker=100000 nats_sync=20000 nats_default=na ratio_sync=5.00 ratio_default=na p99_ratio_sync=0.40",
    ]);
  });

  it("tells geobroker's fsyncs per acked message, averaged over rounds", () => {
    const latency = new LatencyRecorder();
    latency.recordMs(1);
    const r = summarize({ system: "geobroker", size: 256, inflight: 1, batch: 1 }, [
      { seconds: 1, messages: 10, errors: 0, latency, note: "a", fsyncsPerAck: 1 },
      { seconds: 1, messages: 10, errors: 0, latency, note: "b", fsyncsPerAck: 1.5 },
    ]);
    assert.equal(r.fsyncsPerAck, 1.25);
    assert.deepEqual(r.notes, ["a", "b"]);
    assert.equal(
      formatFsyncLine([r, cell("nats", 256, 1, 10, 1)]),
      "geobroker fsyncs per acked message (the leader's synced Raft log writes / acks, warm-up included): 256 B x1 1.25",
    );
    assert.equal(formatFsyncLine([cell("geobroker", 256, 1, 10, 1)]), undefined);
  });

  it("writes the JSON with results[] named geobroker, nats and nats-default, and the RESULT lines", () => {
    const options = parseBenchArgs(["--quick"]);
    assert.ok(options !== "help");
    const results = [
      cell("geobroker", 256, 64, 3000, 10),
      cell("nats", 256, 64, 1000, 20),
      cell("nats-default", 256, 64, 6000, 5),
    ];
    const report = JSON.parse(
      JSON.stringify(
        benchReport({
          runId: "r",
          startedAt: "s",
          finishedAt: "f",
          machine: { cores: 2, cpu: "x", memoryBytes: 1, node: "v20" },
          options,
          systems: {},
          results,
          deliver: [],
          geo: [],
          scaling: [],
          nodes: [],
        }),
      ),
    );
    assert.deepEqual(
      report.results.map((r: { system: string }) => r.system),
      ["geobroker", "nats", "nats-default"],
    );
    for (const r of report.results) {
      assert.equal(r.size, 256);
      assert.equal(r.inflight, 64);
      assert.equal(typeof r.msgsPerSec, "number");
      assert.equal(typeof r.latencyMs.p99, "number");
    }
    assert.equal(report.results[0].msgsPerSec, 3000);
    assert.deepEqual(report.resultLines, formatResultLines(results));
  });

  it("adds each round's msg/s when there were several rounds", () => {
    const lines = formatTable([cell("geobroker", 256, 1, 100, 1, 2), cell("nats", 256, 1, 50, 1, 2)]).split(
      "\n",
    );
    assert.match(lines[0]!, /\| msg\/s per round \|$/);
    assert.match(lines[2]!, /\| 100 100 +\|$/);
    assert.match(lines[3]!, /\| 50 50 +\|$/);
  });

  it("leaves the comparison empty when NATS did not run", () => {
    const table = formatTable([cell("geobroker", 256, 1, 100, 1)]);
    assert.match(table.split("\n")[2]!, /\| +\| +\|$/);
  });

  it("formats sizes, milliseconds and progress lines", () => {
    assert.equal(formatSize(256), "256 B");
    assert.equal(formatSize(4096), "4 KiB");
    assert.equal(formatSize(1024 * 1024), "1 MiB");
    assert.equal(formatSize(1500), "1500 B");
    assert.equal(formatMs(1.234), "1.23");
    assert.equal(formatMs(12.34), "12.3");
    assert.equal(formatMs(123.4), "123");
    assert.equal(formatMs(Number.NaN), "-");
    const line = progressLine({
      system: "nats",
      size: 256,
      inflight: 64,
      batch: 1,
      phase: "measure",
      elapsedS: 3,
      totalS: 5,
      msgsPerSec: 12345.6,
      p99Ms: 4.2,
      errors: 2,
    });
    assert.match(line, /nats +256 B x64 +measure +3\/5 s +12,346 msg\/s +p99 4\.20 ms +errors 2/);
  });
});

describe("nats-server configuration", () => {
  it("names the node, fsyncs every write and routes to all three nodes", () => {
    const nodes = [0, 1, 2].map((i) => ({
      name: `n${i}`,
      client: 4222 + i,
      cluster: 6222 + i,
      http: 8222 + i,
    }));
    const conf = natsConfig(nodes[1]!, nodes, "/data/n1");
    assert.match(conf, /^server_name: n1$/m);
    assert.match(conf, /^listen: 127\.0\.0\.1:4223$/m);
    assert.match(conf, /^ {2}store_dir: "\/data\/n1"$/m);
    assert.match(conf, /^ {2}sync_interval: always$/m);
    assert.match(
      conf,
      /routes: \[nats-route:\/\/127\.0\.0\.1:6222, nats-route:\/\/127\.0\.0\.1:6223, nats-route:\/\/127\.0\.0\.1:6224\]/,
    );
    assert.doesNotMatch(natsConfig(nodes[0]!, nodes, "/data/n0", false), /sync_interval/);
  });
});

describe("CPU per message, deliver cells, profiles", () => {
  const leader = (cpu: number, lag: number) => ({
    geobroker_process_process_cpu_seconds_total: cpu,
    geobroker_process_nodejs_eventloop_lag_p99_seconds: lag,
  });

  it("reads the process series and tells each node's CPU per acked message and the leader's loop delay", () => {
    const text = [
      "# HELP geobroker_process_process_cpu_seconds_total Total user and system CPU time spent in seconds.",
      'geobroker_process_process_cpu_seconds_total{node="eu-0"} 12.5',
      'geobroker_process_nodejs_eventloop_lag_p99_seconds{node="eu-0"} 0.0123',
    ].join("\n");
    assert.deepEqual(promValues(text, cpuSeries), leader(12.5, 0.0123));
    const n = cpuNote(
      { before: leader(10, 0), after: leader(12, 0.0123) },
      { before: leader(5, 0), after: leader(6, 0.5) },
      10_000,
    );
    assert.deepEqual(n.cpu, { leaderUs: 200, followerUs: 100, leaderLoopDelayP99Ms: 12.3 });
    assert.equal(n.text, "leader 200 µs CPU/msg, follower 100 µs, leader event loop p99 12.3 ms");
    assert.equal(
      cpuNote({ before: leader(1, 0), after: leader(2, 0) }, { before: {}, after: {} }, 0).cpu,
      undefined,
    );
  });

  it("averages CPU per message over rounds, keeps the worst loop delay, and prints one line", () => {
    const latency = new LatencyRecorder();
    latency.recordMs(1);
    const round = (leaderUs: number, lag: number) => ({
      seconds: 1,
      messages: 100,
      errors: 0,
      latency,
      windowMonotonicUs: [1, 2] as [number, number],
      cpu: { leaderUs, followerUs: leaderUs / 2, leaderLoopDelayP99Ms: lag },
    });
    const r = summarize({ system: "geobroker", size: 256, inflight: 64, batch: 1 }, [
      round(100, 5),
      round(300, 9),
    ]);
    assert.deepEqual(r.cpu, { leaderUs: 200, followerUs: 100, leaderLoopDelayP99Ms: 9 });
    assert.deepEqual(r.windowsMonotonicUs, [
      [1, 2],
      [1, 2],
    ]);
    assert.equal(
      formatCpuLine([r]),
      "geobroker CPU per acked message (µs of user+system CPU, leader / follower, warm-up included; leader event loop delay p99): 256 B x64 200 / 100 (9.0 ms)",
    );
  });

  it("deliver cells: a body carries its scheduled send time; the schedule is rate-exact", () => {
    const template = new Uint8Array(256).fill(7);
    const body = stamped(template, 1234.5);
    assert.equal(stampOf(body), 1234.5);
    assert.equal(body[8], 7, "the rest of the body is the template's");
    assert.equal(
      stampOf(template),
      stampOf(new Uint8Array(256).fill(7)),
      "the template itself is not stamped",
    );
    assert.equal(dueBy(-1, 5000), 0);
    assert.equal(dueBy(0, 5000), 1);
    assert.equal(dueBy(1000, 5000), 5001);
    assert.equal(dueBy(0.5, 5000), 3);
  });

  it("deliver cells: a table and one RESULT deliver line per rate, na for what did not run", () => {
    const at = (system: string, p99: number, delivered: number) => {
      const latency = new LatencyRecorder();
      latency.recordMs(p99);
      const r = summarize({ system, size: 256, inflight: 0, batch: 1 }, [
        { seconds: 1, messages: delivered, errors: 0, latency },
      ]);
      return { ...r, rate: 5000 };
    };
    const { table, lines } = formatDeliver([at("geobroker", 4, 5000), at("nats", 8, 4990)]);
    assert.deepEqual(lines, [
      "RESULT deliver rate=5000 size=256 geobroker_p50_ms=4.00 geobroker_p99_ms=4.00 nats_sync_p50_ms=8.00 nats_sync_p99_ms=8.00 nats_default_p50_ms=na nats_default_p99_ms=na p99_ratio_sync=0.50 p99_ratio_default=na geobroker_delivered=5000 nats_sync_delivered=4990 nats_default_delivered=na",
    ]);
    assert.equal(table.split("\n").length, 4);
    assert.match(table.split("\n")[2]!, /^\| 256 B \| 5000 \| geobroker \| 5,000 \| 4\.00 \| 4\.00 \|/);
  });

  it("attributes a profile's samples in a window to components, natives to their caller", () => {
    // root -> (idle); root -> publish (geobroker publish) -> writev (native, no url); root -> toBinary (protobuf)
    const profile: CpuProfile = {
      nodes: [
        { id: 1, callFrame: { functionName: "(root)", url: "" }, children: [2, 3, 5, 6] },
        { id: 2, callFrame: { functionName: "(idle)", url: "" } },
        {
          id: 3,
          callFrame: {
            functionName: "publish",
            url: "file:///r/dist/broker/src/cluster/publish/publisher.js",
          },
          children: [4],
        },
        { id: 4, callFrame: { functionName: "writev", url: "" } },
        {
          id: 5,
          callFrame: {
            functionName: "toBinary",
            url: "file:///r/node_modules/@bufbuild/protobuf/dist/esm/to-binary.js",
          },
        },
        { id: 6, callFrame: { functionName: "(garbage collector)", url: "" } },
      ],
      startTime: 1000,
      endTime: 1100,
      // samples at t = 1010, 1020, ... each standing for 10 µs until the next
      samples: [2, 3, 4, 5, 6, 2, 5, 5, 2, 2],
      timeDeltas: [10, 10, 10, 10, 10, 10, 10, 10, 10, 10],
    };
    const all = breakdown(profile);
    assert.deepEqual(all.components, [
      { component: "idle", us: 30 },
      { component: "protobuf (@bufbuild/protobuf)", us: 30 },
      { component: "geobroker publish/forwarding", us: 20 },
      { component: "gc", us: 10 },
    ]);
    assert.equal(all.busyUs, 60);
    // The window [1030, 1060] holds the samples at 1030 (writev), 1040, 1050, 1060.
    const cut = breakdown(profile, 1030, 1060);
    assert.deepEqual(cut.components, [
      { component: "geobroker publish/forwarding", us: 10 },
      { component: "protobuf (@bufbuild/protobuf)", us: 10 },
      { component: "gc", us: 10 },
      { component: "idle", us: 10 },
    ]);
    const text = formatBreakdown("eu-0", cut, 2);
    assert.match(text, /^eu-0: 2 messages in 0\.0 s sampled, busy 75%, idle 5\.0 µs\/msg/);
    assert.match(text, /\| \*\*busy total\*\* \| \*\*15\.0\*\* \| 100% \|$/);
    // Scaled to a measured 6 µs of CPU per message: each third of the busy samples is 2 µs.
    const scaled = formatBreakdown("eu-0", cut, 2, 6).split("\n");
    assert.ok(scaled.includes("| geobroker publish/forwarding | 5.0 | 33.3% | 2.0 |"), scaled.join("\n"));
    assert.equal(scaled.at(-1), "| **busy total** | **15.0** | 100% | **6.0** |");
  });
});
