// The pure parts of the bench's geo, scaling and CPU-capped cells (bench.test.ts has the rest).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseCpuSets, pinnedCommand } from "../../broker/src/local/cpu-sets.js";
import { LatencyRecorder } from "../../broker/src/util/latency.js";
import { parseBenchArgs } from "../src/args.js";
import { formatGeoLine, geoCell } from "../src/geo.js";
import { formatNodesLine, formatScalingLine } from "../src/report.js";
import { summarize } from "../src/stats.js";

describe("geo cells", () => {
  it("bounds p99 by the nearest-quorum RTT + 5 ms, plus the forwarding RTT for a far client", () => {
    const delays = "eu-us=20ms,eu-ap=60ms,us-ap=60ms";
    assert.deepEqual(geoCell(delays, "eu", "eu"), {
      from: "eu",
      leader: "eu",
      quorumRttMs: 40,
      forwardRttMs: 0,
      boundMs: 45,
    });
    assert.deepEqual(geoCell(delays, "eu", "ap"), {
      from: "ap",
      leader: "eu",
      quorumRttMs: 40,
      forwardRttMs: 120,
      boundMs: 165,
    });
    assert.equal(geoCell("30ms", "ap", "us").boundMs, 125);
  });

  it("prints one RESULT geo line per cell, within=yes only when p99 is at or under the bound", () => {
    const latency = new LatencyRecorder();
    latency.recordMs(44);
    const r = summarize({ system: "geobroker", size: 256, inflight: 1, batch: 1 }, [
      { seconds: 1, messages: 20, errors: 0, latency },
    ]);
    const cell = geoCell("eu-us=20ms,eu-ap=60ms,us-ap=60ms", "eu", "eu");
    assert.equal(
      formatGeoLine(cell, r),
      "RESULT geo size=256 inflight=1 from=eu leader=eu p50_ms=44.03 p99_ms=44.03 quorum_rtt_ms=40 forward_rtt_ms=0 bound_ms=45 within=yes",
    );
    assert.match(formatGeoLine({ ...cell, boundMs: 43 }, r), /within=no$/);
    assert.match(formatGeoLine(cell, { ...r, messages: 0 }), /p50_ms=na p99_ms=na .* within=no$/);
  });

  it("reads --geo off and rejects a malformed WAN", () => {
    const o = parseBenchArgs(["--geo", "off"]);
    assert.ok(o !== "help" && o.geo === "");
    assert.throws(() => parseBenchArgs(["--geo", "eu-mars=5ms"]), /--geo eu-mars=5ms: region mars/);
  });
});

describe("scaling cells", () => {
  it("prints one RESULT partitions line, sorted by partitions, with the speedup of the most over the fewest", () => {
    const at = (partitions: number, msgs: number) => {
      const latency = new LatencyRecorder();
      latency.recordMs(10);
      const r = summarize({ system: "geobroker", size: 256, inflight: 64, batch: 1 }, [
        { seconds: 1, messages: msgs, errors: 0, latency },
      ]);
      return { ...r, partitions };
    };
    assert.deepEqual(formatScalingLine([at(4, 3000), at(1, 2000), at(16, 5000)]), [
      "RESULT partitions size=256 inflight=64 p1=2000 p4=3000 p16=5000 speedup=2.50",
    ]);
    assert.deepEqual(formatScalingLine([at(1, 2000), at(16, 0)]), [
      "RESULT partitions size=256 inflight=64 p1=2000 p16=na speedup=na",
    ]);
    assert.deepEqual(formatScalingLine([]), []);
    const n = (nodes: number, msgs: number) => ({ ...at(16, msgs), nodes });
    assert.deepEqual(formatNodesLine([n(6, 3000), n(3, 2000)]), [
      "RESULT nodes size=256 inflight=64 partitions=16 n3=2000 n6=3000 speedup=1.50",
    ]);
    assert.throws(() => parseBenchArgs(["--nodes", "5"]), /--nodes 5: 3 or 6/);
    const o = parseBenchArgs(["--partitions", "off"]);
    assert.ok(o !== "help" && o.partitions.length === 0);
    assert.throws(() => parseBenchArgs(["--partitions", "0"]), /--partitions 0: whole numbers from 1 to 64/);
  });
});

describe("per-node CPU caps", () => {
  it("pins node i to CPU set i with taskset, cycling, and nothing without sets", () => {
    assert.deepEqual(parseCpuSets(""), []);
    assert.deepEqual(parseCpuSets("0;1;0-1"), ["0", "1", "0-1"]);
    assert.throws(() => parseCpuSets("0;a"), /CPU set "a": use taskset's list syntax/);
    assert.deepEqual(pinnedCommand(0, "node", ["x.js"], []), { command: "node", args: ["x.js"] });
    assert.deepEqual(pinnedCommand(3, "node", ["x.js"], ["0", "1", "2,3"]), {
      command: "taskset",
      args: ["-c", "0", "node", "x.js"],
    });
    const o = parseBenchArgs(["--node-cpus", "0;1"]);
    assert.ok(o !== "help" && o.nodeCpus.join("|") === "0|1");
    assert.throws(() => parseBenchArgs(["--node-cpus", "zero"]), /--node-cpus: CPU set "zero"/);
  });
});
