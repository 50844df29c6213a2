import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Code } from "@connectrpc/connect";
import { projectRoot } from "../../src/util/project-root.js";
import { connectRaw, envelope, gzipBomb, rawCall, residentBytes } from "../security/hostile-client.js";
import { eventually } from "../support/eventually.js";

// Issue #19's "Done when", against what `npm start` runs (`geobroker local`: three regions, one
// process per node, TLS on every port, its generated CA and admin user), not a hand-made test node:
// a 32 MiB gzip health request to eu-0 is RESOURCE_EXHAUSTED and eu-0 grows < 50 MB; an
// unauthenticated POST /drain on its HTTP port is refused.

const mib = 1024 * 1024;
const dir = mkdtempSync(join(tmpdir(), "geobroker-local-hostile-"));

describe("npm start (geobroker local) against issue #19's attacks", { timeout: 180_000 }, () => {
  let local: ChildProcess;
  let cluster: { caPath: string; nodes: { id: string; client: string; http: string; config: string }[] };
  const eu0 = () => cluster.nodes.find((n) => n.id === "eu-0")!;

  before(async () => {
    // A base port of its own: client ports base+i, peer base+100+i, HTTP base+200+i.
    const base = 20_000 + 10 * Math.floor(Math.random() * 3000);
    local = spawn(
      process.execPath,
      [
        join(projectRoot(), "dist/broker/src/cli/main.js"),
        "local",
        "--data-dir",
        dir,
        "--base-port",
        String(base),
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let out = "";
    local.stdout?.on("data", (d: Buffer) => (out += d));
    local.stderr?.on("data", (d: Buffer) => (out += d));
    cluster = await eventually(
      "the local cluster's nodes ready",
      120_000,
      async () => {
        if (local.exitCode !== null)
          throw new Error(`geobroker local exited ${local.exitCode}: ${out.slice(-2000)}`);
        const file = join(dir, "cluster.json");
        if (!existsSync(file)) throw new Error("no cluster.json yet");
        const c = JSON.parse(readFileSync(file, "utf8")) as typeof cluster;
        for (const n of c.nodes) {
          const r = await fetch(`http://${n.http}/readyz`, { signal: AbortSignal.timeout(5_000) });
          if (!r.ok) throw new Error(`${n.id} /readyz: ${r.status}`);
        }
        return c;
      },
      1000,
    );
  });
  after(async () => {
    local?.kill("SIGINT");
    if (local && local.exitCode === null) await new Promise((r) => local.once("exit", r));
    rmSync(dir, { recursive: true, force: true });
  });

  /** eu-0's own process: a child of `geobroker local` whose command line names eu-0's config. */
  function eu0Pid(): number {
    for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
      const cmd = (() => {
        try {
          return readFileSync(`/proc/${pid}/cmdline`, "utf8");
        } catch {
          return "";
        }
      })();
      if (cmd.includes(eu0().config)) return Number(pid);
    }
    throw new Error(`no process runs ${eu0().config}`);
  }

  test("a 32 MiB gzip health request to eu-0 is RESOURCE_EXHAUSTED and eu-0 grows < 50 MB", async () => {
    const pid = eu0Pid();
    const bomb = gzipBomb(32 * mib);
    const before = residentBytes(pid);
    const s = connectRaw(`https://${eu0().client}`, { ca: readFileSync(cluster.caPath) });
    try {
      const a = await rawCall(s, {
        path: "/grpc.health.v1.Health/Check",
        headers: { "grpc-encoding": "gzip" },
        body: envelope(bomb, true),
        timeoutMs: 20_000,
      });
      assert.equal(
        a.grpcStatus,
        Code.ResourceExhausted,
        `answer: ${a.grpcStatus} ${a.grpcMessage} (HTTP ${a.httpStatus})`,
      );
      const grown = residentBytes(pid) - before;
      console.log(
        `eu-0 (pid ${pid}): ${(before / mib).toFixed(1)} MB before, grew ${(grown / mib).toFixed(1)} MB; bomb ${bomb.length} bytes`,
      );
      assert.ok(grown < 50 * mib, `eu-0's resident memory grew ${(grown / mib).toFixed(1)} MB`);
      const ok = await rawCall(s, { path: "/grpc.health.v1.Health/Check", body: envelope(Buffer.alloc(0)) });
      assert.equal(ok.grpcStatus, 0, `eu-0 still answers health checks: ${ok.grpcMessage}`);
    } finally {
      s.close();
    }
  });

  test("an unauthenticated POST /drain on eu-0's HTTP port is refused", async () => {
    const http = eu0().http;
    const r = await fetch(`http://${http}/drain`, { method: "POST", signal: AbortSignal.timeout(15_000) });
    assert.equal(r.status, 401, await r.text());
  });
});
