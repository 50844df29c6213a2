import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { hashPassword } from "../../src/security/passwords.js";
import { projectRoot } from "../../src/util/project-root.js";
import { freePort } from "../support/process-cluster.js";

// One real broker process (`geobroker serve`), a single-node cluster, with whatever security
// configuration a test gives it: the security tests talk to it over real sockets, as clients would.

export interface LiveNode {
  dir: string;
  clientPort: number;
  httpPort: number;
  /** Every line the node wrote (JSON log lines), newest last. */
  log: string[];
  child: ChildProcess;
  alive(): boolean;
  stop(): Promise<void>;
}

export interface LiveNodeOptions {
  /** Merged over the base configuration (ports, peers, data folder are filled in). */
  config: Record<string, unknown>;
  /** name -> password: written hashed to `<dir>/users.yaml`. */
  users?: Record<string, string>;
  dir?: string;
}

export async function startLiveNode(o: LiveNodeOptions): Promise<LiveNode> {
  const dir = o.dir ?? mkdtempSync(join(tmpdir(), "geobroker-sec-"));
  const [clientPort, peerPort, httpPort] = [await freePort(), await freePort(), await freePort()];
  if (o.users) {
    const users = [];
    for (const [name, password] of Object.entries(o.users))
      users.push({ name, passwordHash: await hashPassword(password) });
    writeFileSync(join(dir, "users.yaml"), stringify({ users }));
  }
  const dataDir = join(dir, "data");
  mkdirSync(dataDir, { recursive: true });
  const config = {
    clusterId: "sectest",
    nodeId: "eu-0",
    region: "eu",
    listenHost: "127.0.0.1",
    advertiseHost: "127.0.0.1",
    dataDir,
    peers: [
      {
        id: "eu-0",
        region: "eu",
        zone: "",
        peerAddress: `127.0.0.1:${peerPort}`,
        clientAddress: `127.0.0.1:${clientPort}`,
      },
    ],
    topicDefaults: { replicationFactor: 1 },
    raft: { tickMs: 50, electionTicks: 10, heartbeatTicks: 1, keepLogEntries: 10000 },
    log: { level: "info" },
    ...o.config,
    ports: { client: clientPort, peer: peerPort, http: httpPort, ...(o.config.ports as object) },
    ...(o.users
      ? { auth: { usersFile: join(dir, "users.yaml"), ...(o.config.auth as Record<string, unknown>) } }
      : {}),
  };
  const configPath = join(dir, "node.yaml");
  writeFileSync(configPath, stringify(config));
  const cli = join(projectRoot(), "dist", "broker", "src", "cli", "main.js");
  const child = spawn(process.execPath, [cli, "serve", "--config", configPath], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  const log: string[] = [];
  const keep = (chunk: Buffer) => {
    for (const line of chunk.toString().split("\n")) if (line) log.push(line);
    if (log.length > 5000) log.splice(0, log.length - 5000);
  };
  child.stdout!.on("data", keep);
  child.stderr!.on("data", keep);
  const node: LiveNode = {
    dir,
    clientPort,
    httpPort,
    log,
    child,
    alive: () => child.exitCode === null && child.signalCode === null,
    stop: async () => {
      if (node.alive()) {
        const gone = new Promise((r) => child.once("exit", r));
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
        await gone;
        clearTimeout(timer);
      }
      if (!o.dir) rmSync(dir, { recursive: true, force: true });
    },
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (!node.alive()) throw new Error(`the node exited while starting:\n  ${log.slice(-15).join("\n  ")}`);
    try {
      const res = await fetch(`http://127.0.0.1:${httpPort}/readyz`, { signal: AbortSignal.timeout(1000) });
      if (res.status === 200) return node;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await node.stop();
      throw new Error(`the node was not ready within 30 s:\n  ${log.slice(-15).join("\n  ")}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Audit lines (JSON with `audit: true`) the node wrote with this event as message. */
export function auditLines(node: LiveNode, event: string): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const line of node.log) {
    if (!line.includes(event)) continue;
    try {
      const parsed = JSON.parse(line) as Record<string, unknown>;
      if (parsed.audit === true && parsed.message === event) out.push(parsed);
    } catch {
      // not a JSON line
    }
  }
  return out;
}
