import { type ChildProcess, spawn } from "node:child_process";
import { createServer } from "node:net";
import { join } from "node:path";
import { keepLast, onLines, stopChild } from "../util/child-lines.js";
import { projectRoot } from "../util/project-root.js";
import { brokerEnv } from "./allocator.js";
import { parseCpuSets, pinnedCommand } from "./cpu-sets.js";
import type { ClusterFile } from "./layout.js";

const readyTimeoutMs = 60_000;
const stopGraceMs = 10_000;

/** Turns a node's JSON log line into `[eu-0] info  message  key=value`. */
export function prettyLogLine(id: string, line: string): string {
  try {
    const {
      level,
      message,
      timestamp: _t,
      node: _n,
      region: _r,
      ...rest
    } = JSON.parse(line) as Record<string, unknown>;
    const extra = Object.entries(rest)
      .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
      .join(" ");
    return `[${id}] ${String(level).padEnd(5)} ${message}${extra ? `  ${extra}` : ""}`;
  } catch {
    return `[${id}] ${line}`;
  }
}

async function portFree(address: string): Promise<boolean> {
  const [host, port] = address.split(":");
  return new Promise((resolve) => {
    const s = createServer();
    s.once("error", () => resolve(false));
    s.listen(Number(port), host, () => s.close(() => resolve(true)));
  });
}

/** Every port the cluster needs, or the first one in use (another local cluster still running?). */
export async function checkPorts(file: ClusterFile): Promise<void> {
  for (const n of file.nodes) {
    for (const address of [n.client, n.peer, n.http]) {
      if (!(await portFree(address))) {
        throw new Error(
          `${address} is in use (is another local cluster running?); stop it or pick --base-port`,
        );
      }
    }
  }
}

export class LocalCluster {
  private readonly children = new Map<string, ChildProcess>();
  private readonly lastLines = new Map<string, string[]>();
  private stopping = false;

  constructor(
    private readonly file: ClusterFile,
    private readonly out: (line: string) => void,
    /** Node i runs under `taskset -c cpuSets[i]` (cpu-sets.ts); from GEOBROKER_NODE_CPUS unless given. */
    private readonly cpuSets: string[] = parseCpuSets(process.env.GEOBROKER_NODE_CPUS ?? ""),
  ) {}

  start(): void {
    const cli = join(projectRoot(), "dist", "broker", "src", "cli", "main.js");
    // Extra node flags for every node, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof" to profile a
    // bench run (NODE_OPTIONS may not carry --cpu-prof).
    const nodeArgs = (process.env.GEOBROKER_NODE_ARGS ?? "").split(/\s+/).filter(Boolean);
    for (const [i, n] of this.file.nodes.entries()) {
      const run = pinnedCommand(
        i,
        process.execPath,
        [...nodeArgs, cli, "serve", "--config", n.config],
        this.cpuSets,
      );
      const child = spawn(run.command, run.args, {
        env: brokerEnv(),
        stdio: ["ignore", "pipe", "pipe"],
      });
      this.children.set(n.id, child);
      this.lastLines.set(n.id, []);
      onLines(child, (line) => {
        keepLast(this.lastLines.get(n.id)!, line);
        this.out(prettyLogLine(n.id, line));
      });
      child.on("exit", (code, signal) => {
        this.children.delete(n.id);
        if (!this.stopping) this.out(`[${n.id}] exited (${signal ?? `code ${code}`})`);
      });
    }
  }

  /** Resolves when every node's /readyz answers 200; rejects with the failing node's last lines. */
  async waitReady(progress: (line: string) => void): Promise<void> {
    const deadline = Date.now() + readyTimeoutMs;
    let lastReport = 0;
    for (;;) {
      const states = await Promise.all(
        this.file.nodes.map(async (n) => {
          if (!this.children.has(n.id)) return "exited";
          try {
            const res = await fetch(`http://${n.http}/readyz`, { signal: AbortSignal.timeout(1000) });
            return res.status === 200 ? "ready" : (await res.text()).trim();
          } catch {
            return "starting";
          }
        }),
      );
      const exited = this.file.nodes.filter((_, i) => states[i] === "exited");
      if (exited.length > 0) {
        throw new Error(
          `node ${exited[0]!.id} exited while starting:\n  ${(this.lastLines.get(exited[0]!.id) ?? []).join("\n  ")}`,
        );
      }
      const ready = states.filter((s) => s === "ready").length;
      if (ready === states.length) return;
      if (Date.now() - lastReport > 2000) {
        progress(`waiting for the cluster: ${ready}/${states.length} nodes ready`);
        lastReport = Date.now();
      }
      if (Date.now() > deadline) {
        const slow = this.file.nodes.filter((_, i) => states[i] !== "ready");
        throw new Error(
          `not ready within ${readyTimeoutMs / 1000} s: ${slow.map((n, i) => `${n.id} (${states[i]})`).join(", ")}`,
        );
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  /** SIGTERM to every node, SIGKILL to any still running after the grace period. */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all([...this.children.values()].map((child) => stopChild(child, stopGraceMs)));
  }
}
