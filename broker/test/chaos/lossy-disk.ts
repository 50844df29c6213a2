import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import { createConnection } from "node:net";
import { join } from "node:path";
import { projectRoot } from "../../src/util/project-root.js";
import type { ProcessNode } from "../support/process-cluster.js";

// The disk under a node for power-loss, disk-full and disk-eio: lossyfs (tools/lossyfs, built by
// scripts/install-lossyfs.sh into .tools/bin) mounted at the node's data directory over a backing
// directory beside it. It loses the writes not yet fsynced when told to ("drop"), and fails writes
// with ENOSPC or EIO when told to.

export const lossyfsBinary = () => join(projectRoot(), ".tools", "bin", "lossyfs");

/** Why this machine cannot mount lossyfs (one line), or undefined. */
export function lossyfsUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return "needs root (a FUSE mount by mount(2))";
  if (!existsSync("/dev/fuse")) return "needs /dev/fuse";
  const hasGo = spawnSync("go", ["version"], { stdio: "ignore" }).status === 0;
  if (!existsSync(lossyfsBinary()) && !hasGo)
    return "needs Go to build tools/lossyfs (bash scripts/install-lossyfs.sh)";
  return undefined;
}

/** Builds lossyfs when its sources are newer than the binary (idempotent). */
export function buildLossyfs(): void {
  // Its progress lines on our stdout: on a fresh clone the first build fetches go-fuse and takes a while.
  const r = spawnSync("bash", [join(projectRoot(), "scripts", "install-lossyfs.sh")], {
    encoding: "utf8",
    stdio: ["ignore", "inherit", "pipe"],
  });
  if (r.status !== 0) throw new Error(`install-lossyfs.sh failed: ${r.stderr}`);
}

interface Mount {
  child: ChildProcess;
  control: string;
  at: string;
}

export class LossyDisks {
  private readonly mounts = new Map<string, Mount>();

  has(n: ProcessNode): boolean {
    return this.mounts.has(n.id);
  }

  /** Mounts lossyfs at the node's (empty) data directory; resolves once it serves. */
  async mount(n: ProcessNode): Promise<void> {
    const backing = `${n.dataDir}.backing`;
    mkdirSync(backing, { recursive: true });
    mkdirSync(n.dataDir, { recursive: true });
    const control = `${n.dataDir}.lossyfs.sock`;
    const child = spawn(lossyfsBinary(), ["-backing", backing, "-mount", n.dataDir, "-control", control], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`lossyfs for ${n.id} not ready: ${output}`)), 15_000);
      const onData = (b: Buffer) => {
        output += b.toString();
        if (output.includes("lossyfs ready")) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout!.on("data", onData);
      child.stderr!.on("data", onData);
      child.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`lossyfs for ${n.id} exited (${code}): ${output}`));
      });
    });
    this.mounts.set(n.id, { child, control, at: n.dataDir });
  }

  /** Sends one control command (drop, enospc on|off, eio on|off, status); returns its answer. */
  command(n: ProcessNode, line: string): Promise<string> {
    const m = this.mounts.get(n.id);
    if (!m) throw new Error(`${n.id} has no lossyfs`);
    return new Promise((resolve, reject) => {
      const socket = createConnection(m.control);
      let answer = "";
      socket.setTimeout(10_000, () => socket.destroy(new Error(`lossyfs ${n.id}: no answer to ${line}`)));
      socket.on("data", (b) => {
        answer += b.toString();
        if (answer.includes("\n")) {
          socket.end();
          const reply = answer.trim();
          if (reply.startsWith("ok")) resolve(reply);
          else reject(new Error(`lossyfs ${n.id} ${line}: ${reply}`));
        }
      });
      socket.on("error", reject);
      socket.write(`${line}\n`);
    });
  }

  /** Removes everything under the node's data directory, keeping the mount point. */
  wipe(n: ProcessNode): void {
    for (const name of readdirSync(n.dataDir))
      rmSync(join(n.dataDir, name), { recursive: true, force: true });
  }

  /** Unmounts every lossyfs (after the nodes stopped). */
  async unmountAll(): Promise<void> {
    await Promise.all(
      [...this.mounts.values()].map(
        (m) =>
          new Promise<void>((resolve) => {
            if (m.child.exitCode !== null) return resolve();
            const timer = setTimeout(() => m.child.kill("SIGKILL"), 10_000);
            m.child.once("exit", () => {
              clearTimeout(timer);
              // A lossyfs that had to be killed leaves its mount behind ("transport endpoint is not
              // connected"): detach it, or the cluster's directory could not be removed.
              spawnSync("umount", ["-l", m.at], { stdio: "ignore" });
              resolve();
            });
            m.child.kill("SIGTERM");
          }),
      ),
    );
    this.mounts.clear();
  }
}
