import { createConnection, createServer, type Server, type Socket } from "node:net";

/**
 * Fault injection on real TCP links: one proxy per directed peer link (node A dialing node B), put in
 * place with the node config's `peerDialAddresses`. Each proxy has a mode that applies to the
 * connections it carries now and to those it accepts later:
 * - pass: bytes go through unchanged;
 * - blackhole: connections are accepted, bytes in both directions are dropped silently (a partition as
 *   the sender sees it: no error, no answer). Leaving blackhole resets the connections that lost
 *   bytes, since a byte stream with a hole in it is no longer a valid stream (on a real network the
 *   peers' TCP timers would end it too);
 * - reset: every connection is reset (RST), existing ones at once and new ones as they arrive;
 * - delay: every chunk is held `ms` milliseconds in each direction, order kept.
 */
export type LinkMode =
  | { kind: "pass" }
  | { kind: "blackhole" }
  | { kind: "reset" }
  | { kind: "delay"; ms: number };

export const pass: LinkMode = { kind: "pass" };
export const blackhole: LinkMode = { kind: "blackhole" };
export const reset: LinkMode = { kind: "reset" };
export const delay = (ms: number): LinkMode => ({ kind: "delay", ms });

export const describeMode = (m: LinkMode): string => (m.kind === "delay" ? `delay(${m.ms})` : m.kind);

export interface ProxyStats {
  accepted: number;
  forwardedBytes: number;
  droppedBytes: number;
  resets: number;
}

/** One direction of one proxied connection: writes chunks in order, each when its delay is over. */
class Pump {
  private readonly queue: { at: number; data: Buffer }[] = [];
  private timer: NodeJS.Timeout | undefined;
  private ended = false;

  constructor(
    private readonly conn: Connection,
    private readonly to: Socket,
  ) {}

  push(data: Buffer): void {
    const mode = this.conn.proxy.mode;
    if (mode.kind === "blackhole") {
      this.conn.tainted = true;
      this.conn.proxy.stats.droppedBytes += data.byteLength;
      return;
    }
    const at = Date.now() + (mode.kind === "delay" ? mode.ms : 0);
    this.queue.push({ at, data });
    this.flush();
  }

  end(): void {
    this.ended = true;
    this.flush();
  }

  private flush(): void {
    if (this.timer) return;
    const now = Date.now();
    while (this.queue.length > 0 && this.queue[0]!.at <= now) {
      const { data } = this.queue.shift()!;
      if (this.to.destroyed) return;
      this.conn.proxy.stats.forwardedBytes += data.byteLength;
      this.to.write(data);
    }
    if (this.queue.length > 0) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.flush();
      }, this.queue[0]!.at - now);
    } else if (this.ended && !this.to.destroyed) this.to.end();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.queue.length = 0;
  }
}

class Connection {
  tainted = false;
  private upstream: Socket | undefined;
  private readonly pumps: Pump[] = [];

  constructor(
    readonly proxy: FaultProxy,
    private readonly client: Socket,
  ) {
    // An error (a reset) on one side resets the other. A FIN travels on like the bytes before it
    // (half-open sockets), and the connection is done once both sockets have closed.
    client.on("error", () => this.destroy());
    client.on("close", () => this.closed());
    if (proxy.mode.kind === "blackhole") {
      // Accepted, never connected onwards: everything the client sends disappears.
      this.tainted = true;
      client.on("data", (d: Buffer) => {
        proxy.stats.droppedBytes += d.byteLength;
      });
      return;
    }
    const up = createConnection({ host: proxy.target.host, port: proxy.target.port, allowHalfOpen: true });
    up.setNoDelay(true);
    this.upstream = up;
    up.on("error", () => this.destroy());
    up.on("close", () => this.closed());
    const toUp = new Pump(this, up);
    const toClient = new Pump(this, client);
    this.pumps.push(toUp, toClient);
    client.on("data", (d: Buffer) => toUp.push(d));
    client.on("end", () => toUp.end());
    up.on("data", (d: Buffer) => toClient.push(d));
    up.on("end", () => toClient.end());
  }

  private closed(): void {
    if (this.client.destroyed && (this.upstream?.destroyed ?? true)) this.destroy();
  }

  /** Ends both sides with a TCP reset. */
  destroy(): void {
    if (!this.proxy.connections.delete(this)) return;
    for (const p of this.pumps) p.stop();
    for (const s of [this.client, this.upstream]) if (s && !s.destroyed) s.resetAndDestroy();
  }
}

/** A TCP proxy for one directed link, listening on 127.0.0.1. */
export class FaultProxy {
  mode: LinkMode = pass;
  readonly stats: ProxyStats = { accepted: 0, forwardedBytes: 0, droppedBytes: 0, resets: 0 };
  readonly connections = new Set<Connection>();
  private server: Server | undefined;
  port = 0;

  private constructor(readonly target: { host: string; port: number }) {}

  /** Listens on `port` (0: any free one) and forwards to `target`. */
  static async start(target: { host: string; port: number }, port = 0): Promise<FaultProxy> {
    const p = new FaultProxy(target);
    const server = createServer({ allowHalfOpen: true }, (socket) => p.accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => resolve());
    });
    const address = server.address();
    p.port = typeof address === "object" && address ? address.port : port;
    p.server = server;
    return p;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  private accept(socket: Socket): void {
    this.stats.accepted++;
    socket.setNoDelay(true);
    if (this.mode.kind === "reset") {
      this.stats.resets++;
      socket.on("error", () => {});
      socket.resetAndDestroy();
      return;
    }
    this.connections.add(new Connection(this, socket));
  }

  setMode(mode: LinkMode): void {
    const before = this.mode;
    this.mode = mode;
    if (mode.kind === "reset") this.resetAll(() => true);
    else if (before.kind === "blackhole" && mode.kind !== "blackhole") this.resetAll((c) => c.tainted);
  }

  private resetAll(which: (c: Connection) => boolean): void {
    for (const c of [...this.connections])
      if (which(c)) {
        this.stats.resets++;
        c.destroy();
      }
  }

  async close(): Promise<void> {
    this.resetAll(() => true);
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((r) => server.close(() => r()));
  }
}

export interface NetworkNode {
  id: string;
  /** Where the node's peer port listens: "host:port". */
  peerAddress: string;
}

const linkKey = (from: string, to: string) => `${from}->${to}`;

/**
 * A proxy on every directed link between a set of nodes, and the partitions a test asks for. Node A
 * reaches node B at `dialAddresses(A)[B]`; what A sends to B, and what B answers on that connection,
 * goes through link(A, B).
 */
export class Network {
  private readonly links = new Map<string, FaultProxy>();
  /** What was done, for the test log: "t=12.3s partition [eu-0] | [us-0, ap-0]". */
  readonly history: string[] = [];
  private readonly t0 = Date.now();

  private constructor(readonly ids: string[]) {}

  static async create(nodes: NetworkNode[]): Promise<Network> {
    const net = new Network(nodes.map((n) => n.id));
    for (const from of nodes)
      for (const to of nodes) {
        if (from.id === to.id) continue;
        const [host, port] = splitAddress(to.peerAddress);
        net.links.set(linkKey(from.id, to.id), await FaultProxy.start({ host, port }));
      }
    return net;
  }

  link(from: string, to: string): FaultProxy {
    const l = this.links.get(linkKey(from, to));
    if (!l) throw new Error(`no link ${from} -> ${to}`);
    return l;
  }

  /** The `peerDialAddresses` of node `from`: every other node through its proxy. */
  dialAddresses(from: string): Record<string, string> {
    return Object.fromEntries(
      this.ids.filter((id) => id !== from).map((id) => [id, this.link(from, id).address]),
    );
  }

  setLink(from: string, to: string, mode: LinkMode): void {
    this.link(from, to).setMode(mode);
  }

  /** Both directions between a and b. */
  setBetween(a: string, b: string, mode: LinkMode): void {
    this.setLink(a, b, mode);
    this.setLink(b, a, mode);
  }

  /**
   * Splits the nodes into the given groups (nodes named in none form one more group): links inside a
   * group pass, links across groups get `mode` (a blackhole unless told otherwise).
   */
  partition(groups: string[][], mode: LinkMode = blackhole): void {
    const named = new Set(groups.flat());
    const rest = this.ids.filter((id) => !named.has(id));
    const all = rest.length > 0 ? [...groups, rest] : groups;
    const groupOf = new Map<string, number>();
    all.forEach((g, i) => {
      for (const id of g) {
        if (!this.ids.includes(id)) throw new Error(`unknown node ${id}`);
        groupOf.set(id, i);
      }
    });
    for (const from of this.ids)
      for (const to of this.ids)
        if (from !== to) this.setLink(from, to, groupOf.get(from) === groupOf.get(to) ? pass : mode);
    this.note(`partition ${all.map((g) => `[${g.join(", ")}]`).join(" | ")} (${describeMode(mode)})`);
  }

  /** Cuts `ids` off from every other node (they still reach each other). */
  isolate(ids: string[], mode: LinkMode = blackhole): void {
    this.partition([ids], mode);
  }

  /** Every link touching one of `ids` gets `mode` (e.g. a slow or flaky node). */
  degrade(ids: string[], mode: LinkMode): void {
    for (const from of this.ids)
      for (const to of this.ids)
        if (from !== to && (ids.includes(from) || ids.includes(to))) this.setLink(from, to, mode);
    this.note(`links of [${ids.join(", ")}]: ${describeMode(mode)}`);
  }

  /** Every link passes again. */
  heal(): void {
    for (const l of this.links.values()) l.setMode(pass);
    this.note("heal");
  }

  stats(): ProxyStats {
    const total: ProxyStats = { accepted: 0, forwardedBytes: 0, droppedBytes: 0, resets: 0 };
    for (const l of this.links.values())
      for (const k of Object.keys(total) as (keyof ProxyStats)[]) total[k] += l.stats[k];
    return total;
  }

  private note(what: string): void {
    this.history.push(`t=${((Date.now() - this.t0) / 1000).toFixed(1)}s ${what}`);
  }

  async close(): Promise<void> {
    await Promise.all([...this.links.values()].map((l) => l.close()));
  }
}

function splitAddress(address: string): [string, number] {
  const at = address.lastIndexOf(":");
  return [address.slice(0, at), Number(address.slice(at + 1))];
}
