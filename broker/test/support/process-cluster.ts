import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { brokerEnv } from "../../src/local/allocator.js";
import { hashPassword } from "../../src/security/passwords.js";
import { keepLast, onLines } from "../../src/util/child-lines.js";
import { projectRoot } from "../../src/util/project-root.js";
import { Network } from "./fault-proxy.js";

export interface ProcessNode {
  id: string;
  region: string;
  clientPort: number;
  peerPort: number;
  httpPort: number;
  configPath: string;
  dataDir: string;
  child: ChildProcess | undefined;
  log: string[];
}

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once("error", () => resolve(false));
    s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
  });
}

/**
 * A free port below the kernel's ephemeral range (32768+ on Linux): ports from bind(0) are also what
 * outgoing connections use, so another test's cluster could take one between picking and binding.
 */
/** Ports this process handed out: a port is bound only later, by a child, so bind-checking alone can repeat one. */
const handedOut = new Set<number>();

/**
 * A port that is free now, for a child process to bind later. Test files run two at a time, each
 * in its own process: each draws from its own slice of 20000-31999 (by pid), so two files rarely
 * race for one port between this check and the child's bind (a chaos run once lost that race).
 */
export async function freePort(): Promise<number> {
  const slices = 6;
  const size = 12_000 / slices;
  const base = 20_000 + (process.pid % slices) * size;
  // A long file could use up its slice: forget the oldest ports by then (their children have bound them).
  if (handedOut.size > size / 2) handedOut.clear();
  for (;;) {
    const port = base + Math.floor(Math.random() * size);
    if (handedOut.has(port)) continue;
    if (await canBind(port)) {
      handedOut.add(port);
      return port;
    }
  }
}

/** Listens on `port` (so that no one else binds it) until released. */
function hold(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(port, "127.0.0.1", () => resolve(s));
  });
}

const release = (servers: Server[]) =>
  Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));

export const testUser = { name: "tester", password: "test-password-1" };

export interface ProcessClusterOptions {
  /** Per region: one-way delay (ms) on this node's peer links to nodes of each region. */
  wanDelayMs?: Record<string, Record<string, number>> | Record<string, number>;
  env?: Record<string, string>;
  raft?: object;
  nodesPerRegion?: number;
  /** Further config keys for every node (consumers, partitions, topicDefaults, ...). */
  config?: Record<string, unknown>;
  /**
   * Route every peer link (node A dialing node B) through its own fault proxy (`peerDialAddresses`),
   * so a test can partition, blackhole, reset or delay links through `cluster.network`. Client
   * traffic, including publishes a node forwards to a leader's client port, is not proxied.
   */
  faultProxies?: boolean;
  /**
   * Users of a node's own users file besides `testUser`: nodes fed different files (as during a
   * rollout of a changed Secret). Without it every node reads one shared file.
   */
  usersFor?: (nodeId: string) => { name: string; password: string }[];
  /** How long `start` and `waitReady` wait for nodes to be ready (default 30 s; a loaded machine needs more). */
  readyTimeoutMs?: number;
  /**
   * Nodes to add later (`joinSpare`): their ports, data directories and, with `faultProxies`, their
   * peer links' proxies exist from the start (every node's `peerDialAddresses` names them), so the
   * faults reach them once they join. They are not launched and not in `nodes` until they join.
   */
  spares?: { id: string; region: string }[];
  /**
   * The file system under the initial nodes' data directories (the chaos suite's lossyfs): mounted
   * before a node first starts, unmounted after every node stopped.
   */
  disks?: { mount(n: ProcessNode): Promise<void>; unmountAll(): Promise<void> };
}

const peerOf = (n: ProcessNode) => ({
  id: n.id,
  region: n.region,
  zone: "",
  peerAddress: `127.0.0.1:${n.peerPort}`,
  clientAddress: `127.0.0.1:${n.clientPort}`,
});

/** Real broker processes (`geobroker serve`) on 127.0.0.1, one per region, for multi-process tests. */
export class ProcessCluster {
  /** The members: the initial nodes and the spares that joined, less the retired ones. */
  readonly nodes: ProcessNode[] = [];
  /** Spares not yet joined. */
  readonly spares: ProcessNode[] = [];
  /** Nodes removed from the cluster (`retire`): stopped, out of `nodes`. */
  readonly retired: ProcessNode[] = [];
  /**
   * A spare's ports are known long before it binds them (its proxies and every node's
   * `peerDialAddresses` name them): held by placeholder listeners until it joins, so that nothing
   * else on the machine takes one meanwhile.
   */
  private readonly held = new Map<string, Server[]>();
  readonly dir = mkdtempSync(join(tmpdir(), "geobroker-cluster-"));
  private initialPeers: ReturnType<typeof peerOf>[] = [];
  private options: ProcessClusterOptions = {};
  /** The fault proxies on the peer links, when started with `faultProxies`. */
  network: Network | undefined;

  static async start(regions: string[], options: ProcessClusterOptions = {}): Promise<ProcessCluster> {
    const c = new ProcessCluster();
    c.options = options;
    writeFileSync(
      c.usersFile,
      stringify({ users: [{ name: testUser.name, passwordHash: await hashPassword(testUser.password) }] }),
    );
    for (const region of regions)
      for (let i = 0; i < (options.nodesPerRegion ?? 1); i++) await c.newNode(`${region}-${i}`, region);
    c.initialPeers = c.nodes.map(peerOf);
    for (const spare of options.spares ?? []) {
      const n = await c.newNode(spare.id, spare.region, false);
      c.spares.push(n);
      c.held.set(n.id, await Promise.all([n.clientPort, n.peerPort, n.httpPort].map(hold)));
    }
    if (options.faultProxies)
      c.network = await Network.create(
        [...c.nodes, ...c.spares].map((n) => ({ id: n.id, peerAddress: `127.0.0.1:${n.peerPort}` })),
      );
    for (const n of c.nodes) c.writeConfig(n);
    for (const n of c.nodes) await options.disks?.mount(n);
    for (const n of c.nodes) c.launch(n, options.env);
    try {
      await c.waitReady();
    } catch (err) {
      await c.stop(); // a node that failed to start must not leave the others running
      throw err;
    }
    return c;
  }

  private get usersFile(): string {
    return join(this.dir, "users.yaml");
  }

  private usersFileOf(nodeId: string): string {
    return join(this.dir, `users-${nodeId}.yaml`);
  }

  /** Writes a node's own users file (`usersFor`): the test user and that node's extra users. */
  private async writeUsersOf(nodeId: string): Promise<void> {
    const users = [testUser, ...(this.options.usersFor?.(nodeId) ?? [])];
    const records = await Promise.all(
      users.map(async (u) => ({ name: u.name, passwordHash: await hashPassword(u.password) })),
    );
    writeFileSync(this.usersFileOf(nodeId), stringify({ users: records }));
  }

  private async newNode(id: string, region: string, member = true): Promise<ProcessNode> {
    const dataDir = join(this.dir, id);
    mkdirSync(dataDir, { recursive: true });
    const n: ProcessNode = {
      id,
      region,
      clientPort: await freePort(),
      peerPort: await freePort(),
      httpPort: await freePort(),
      configPath: join(this.dir, `${id}.yaml`),
      dataDir,
      child: undefined,
      log: [],
    };
    if (member) this.nodes.push(n);
    if (this.options.usersFor) await this.writeUsersOf(id);
    return n;
  }

  /** The WAN delays a node of `region` applies: either one map for every node or one per region. */
  private wanDelayFor(region: string): Record<string, number> {
    const w = this.options.wanDelayMs ?? {};
    const perRegion = Object.values(w).some((v) => typeof v === "object");
    return perRegion
      ? ((w as Record<string, Record<string, number>>)[region] ?? {})
      : (w as Record<string, number>);
  }

  private writeConfig(n: ProcessNode): void {
    const config = {
      nodeId: n.id,
      region: n.region,
      listenHost: "127.0.0.1",
      advertiseHost: "127.0.0.1",
      ports: { client: n.clientPort, peer: n.peerPort, http: n.httpPort },
      dataDir: n.dataDir,
      peers: this.initialPeers,
      auth: { mode: "basic", usersFile: this.options.usersFor ? this.usersFileOf(n.id) : this.usersFile },
      raft: {
        tickMs: 50,
        electionTicks: 10,
        heartbeatTicks: 1,
        keepLogEntries: 10000,
        ...(this.options.raft ?? {}),
      },
      wanDelayMs: this.wanDelayFor(n.region),
      ...(this.network?.ids.includes(n.id) ? { peerDialAddresses: this.network.dialAddresses(n.id) } : {}),
      log: { level: "info" },
      ...(this.options.config ?? {}),
    };
    writeFileSync(n.configPath, stringify(config));
  }

  /**
   * Starts a node that is not one of the initial voters: it waits to be added (ClusterService.AddNode)
   * and is not ready before. Returns its address for the AddNode call. Its peer links are not proxied
   * (`faultProxies` covers the initial nodes).
   */
  async startJoiningNode(
    id: string,
    region: string,
  ): Promise<{ node: ProcessNode; address: ReturnType<typeof peerOf> }> {
    const n = await this.newNode(id, region);
    this.writeConfig(n);
    this.launch(n, this.options.env);
    return { node: n, address: peerOf(n) };
  }

  /**
   * Starts the next spare of `region` (`spares`), as `startJoiningNode` starts a new node: it waits
   * to be added (ClusterService.AddNode). Undefined when the region has no spare left.
   */
  async joinSpare(
    region: string,
  ): Promise<{ node: ProcessNode; address: ReturnType<typeof peerOf> } | undefined> {
    const i = this.spares.findIndex((n) => n.region === region);
    if (i < 0) return undefined;
    const [n] = this.spares.splice(i, 1) as [ProcessNode];
    await release(this.held.get(n.id) ?? []);
    this.held.delete(n.id);
    this.nodes.push(n);
    this.writeConfig(n);
    this.launch(n, this.options.env);
    return { node: n, address: peerOf(n) };
  }

  /** A node removed from the cluster: stopped (kill -9) and no longer one of `nodes`. */
  async retire(n: ProcessNode): Promise<void> {
    await this.kill(n);
    const i = this.nodes.indexOf(n);
    if (i >= 0) this.nodes.splice(i, 1);
    this.retired.push(n);
  }

  launch(n: ProcessNode, env: Record<string, string> = {}): void {
    const cli = join(projectRoot(), "dist", "broker", "src", "cli", "main.js");
    // GEOBROKER_NODE_ARGS: extra node flags for every broker process (e.g. --cpu-prof when profiling).
    const nodeArgs = (process.env.GEOBROKER_NODE_ARGS ?? "").split(" ").filter(Boolean);
    const child = spawn(process.execPath, [...nodeArgs, cli, "serve", "--config", n.configPath], {
      env: brokerEnv({ ...process.env, ...env }),
      stdio: ["ignore", "pipe", "pipe"],
    });
    const echo = process.env.GEOBROKER_TEST_LOGS; // every node's log on stderr, when debugging a test
    onLines(child, (line) => {
      keepLast(n.log, line, 200);
      if (echo) process.stderr.write(`[${n.id}] ${line}\n`);
    });
    n.child = child;
  }

  node(id: string): ProcessNode {
    const n = this.nodes.find((x) => x.id === id);
    if (!n) throw new Error(`no node ${id}`);
    return n;
  }

  async ready(n: ProcessNode): Promise<boolean> {
    try {
      const res = await fetch(`http://127.0.0.1:${n.httpPort}/readyz`, { signal: AbortSignal.timeout(1000) });
      return res.status === 200;
    } catch {
      return false;
    }
  }

  async waitReady(
    nodes = this.nodes.filter((n) => n.child),
    timeoutMs = this.options.readyTimeoutMs ?? 30_000,
  ): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const exited = nodes.find((n) => !n.child || n.child.exitCode !== null);
      if (exited)
        throw new Error(`${exited.id} exited while starting:\n  ${exited.log.slice(-10).join("\n  ")}`);
      const states = await Promise.all(nodes.map((n) => this.ready(n)));
      if (states.every(Boolean)) return;
      if (Date.now() > deadline) {
        const notReady = nodes.filter((_, i) => !states[i]);
        throw new Error(
          `not ready within ${timeoutMs} ms: ${notReady.map((n) => `${n.id}\n  ${n.log.slice(-10).join("\n  ")}`).join("\n")}`,
        );
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /**
   * SIGTERM, and SIGKILL if the node has not stopped within `graceMs`: a node that hangs on shutdown
   * is reported (with its last log lines), never left to hang the test.
   */
  async stopNode(n: ProcessNode, graceMs = 15_000): Promise<void> {
    const child = n.child;
    if (!child || child.exitCode !== null) return;
    const timer = setTimeout(() => {
      console.log(
        `${n.id} did not stop within ${graceMs} ms of SIGTERM; killed. Its last lines:\n  ${n.log.slice(-15).join("\n  ")}`,
      );
      child.kill("SIGKILL");
    }, graceMs);
    await this.kill(n, "SIGTERM");
    clearTimeout(timer);
  }

  /** kill -9 (or another signal); resolves when the process is gone. */
  async kill(n: ProcessNode, signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    const child = n.child;
    if (!child || child.exitCode !== null) return;
    const gone = new Promise((r) => child.once("exit", r));
    child.kill(signal);
    await gone;
    n.child = undefined;
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => this.stopNode(n)));
    await this.options.disks?.unmountAll();
    await release([...this.held.values()].flat());
    await this.network?.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
