import { Code, ConnectError } from "@connectrpc/connect";
import type { ProcessCluster } from "../support/process-cluster.js";
import type { HistoryLog } from "./history-log.js";
import { clientsOf, sleep } from "./workload.js";

// A durable consumer for the history (ConsumeService.Consume): one consumer on every partition of
// the topic, from the earliest offset, acknowledging every delivery at once. A broken or silent
// session (a killed, paused or cut-off node) is reopened at the next node, as a real client would;
// the consumer's position lives in the cluster, so the new session resumes from the committed acks
// and redelivers what was not acknowledged. Each session's start reports the ack floors (committed
// state): those are `consumer-floor` events, the checker's judge of what was acknowledged.

/** Deliveries a session may have outstanding (the client's credit). */
const credit = 64;

export class DurableConsumer {
  private readonly abort = new AbortController();
  private loop: Promise<void> | undefined;
  /** Deliveries, redeliveries among them, and sessions reopened at another node. */
  delivered = 0;
  redelivered = 0;
  sessions = 0;
  /** Per partition: the highest offset delivered so far. */
  readonly highest = new Map<number, number>();

  constructor(
    private readonly cluster: ProcessCluster,
    private readonly topic: string,
    private readonly history: HistoryLog,
    readonly name = "chaos-consumer",
    private readonly o: { ackTimeoutMs: number; stallMs: number } = { ackTimeoutMs: 3000, stallMs: 5000 },
  ) {}

  start(): void {
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    let nodeIndex = 2; // not where the publishers and subscribers start
    while (!this.abort.signal.aborted) {
      const live = this.cluster.nodes.filter((n) => n.child);
      const node = live[nodeIndex++ % Math.max(1, live.length)];
      if (node) await this.session(node).catch(() => undefined);
      if (!this.abort.signal.aborted) await sleep(100);
    }
  }

  /** One Consume stream at `node`, until it breaks, stalls or the consumer stops. */
  private async session(node: ProcessCluster["nodes"][number]): Promise<void> {
    this.sessions++;
    const c = clientsOf(node);
    const stream = new AbortController();
    const onStop = () => stream.abort();
    this.abort.signal.addEventListener("abort", onStop);
    const outbox = new Outbox();
    let lastAt = performance.now();
    const watchdog = setInterval(() => {
      if (performance.now() - lastAt > this.o.stallMs) stream.abort();
    }, 250);
    const seen = new Set<string>();
    try {
      outbox.push({
        request: {
          case: "start",
          value: {
            name: this.name,
            topic: this.topic,
            start: { position: { case: "earliest", value: true } },
            ackTimeoutMs: BigInt(this.o.ackTimeoutMs),
          },
        },
      });
      outbox.push({ request: { case: "credit", value: credit } });
      for await (const r of c.consume.consume(outbox.drain(stream.signal), {
        headers: c.headers,
        signal: stream.signal,
      })) {
        lastAt = performance.now();
        if (r.response.case === "started") {
          for (const [p, floor] of Object.entries(r.response.value.ackFloor))
            this.history.record({
              type: "consumer-floor",
              consumer: this.name,
              partition: Number(p),
              floor: Number(floor),
            });
          continue;
        }
        if (r.response.case !== "delivery") continue;
        const m = r.response.value.message!;
        const partition = m.partition;
        const offset = Number(m.offset);
        this.history.record({
          type: "consume",
          consumer: this.name,
          partition,
          offset,
          body: new TextDecoder().decode(m.body),
        });
        this.delivered++;
        const key = `${partition}/${offset}`;
        if (r.response.value.deliveryCount > 1 || seen.has(key)) this.redelivered++;
        seen.add(key);
        this.highest.set(partition, Math.max(this.highest.get(partition) ?? -1, offset));
        outbox.push({ request: { case: "ack", value: { refs: [{ partition, offset: m.offset }] } } });
        this.history.record({ type: "ack", consumer: this.name, partition, offset });
        outbox.push({ request: { case: "credit", value: 1 } });
      }
    } catch (err) {
      // a broken or abandoned session; anything but a transport failure is worth seeing in the log
      const e = ConnectError.from(err);
      if (![Code.Unavailable, Code.Canceled, Code.DeadlineExceeded, Code.Aborted].includes(e.code))
        console.log(`  consumer session at ${node.id}: ${Code[e.code]}: ${e.rawMessage.slice(0, 160)}`);
    } finally {
      clearInterval(watchdog);
      this.abort.signal.removeEventListener("abort", onStop);
      stream.abort();
    }
  }

  /**
   * Waits until the consumer was delivered every offset up to `upTo` per partition (or timeoutMs),
   * then stops it and records the floors the cluster reports (polling until they cover `upTo` too)
   * as final: the checker holds every acknowledged publish below them to have been consumed.
   */
  async drainAndStop(upTo: Map<number, number>, timeoutMs: number): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    const done = () => [...upTo].every(([p, o]) => (this.highest.get(p) ?? -1) >= o);
    while (!done() && performance.now() < deadline) await sleep(100);
    let floors: Map<number, number> = new Map();
    const covered = () => [...upTo].every(([p, o]) => (floors.get(p) ?? 0) > o);
    while (performance.now() < deadline || floors.size === 0) {
      floors = await this.floors();
      if (covered() || performance.now() >= deadline) break;
      await sleep(200);
    }
    this.abort.abort();
    await this.loop;
    for (const [partition, floor] of floors)
      this.history.record({ type: "consumer-floor", consumer: this.name, partition, floor, final: true });
  }

  /** The ack floors as the first node that answers reports them. */
  private async floors(): Promise<Map<number, number>> {
    for (const n of this.cluster.nodes.filter((x) => x.child)) {
      try {
        const c = clientsOf(n);
        const r = await c.consume.getConsumer(
          { topic: this.topic, name: this.name },
          { headers: c.headers, timeoutMs: 2000 },
        );
        return new Map(Object.entries(r.consumer?.ackFloor ?? {}).map(([p, f]) => [Number(p), Number(f)]));
      } catch {
        // ask the next node
      }
    }
    return new Map();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop;
  }
}

type ConsumeInit =
  Parameters<ReturnType<typeof clientsOf>["consume"]["consume"]>[0] extends AsyncIterable<infer T>
    ? T
    : never;

/** The requests of one session: pushed by the reader, sent in order until the session ends. */
class Outbox {
  private readonly queue: ConsumeInit[] = [];
  private wake: (() => void) | undefined;

  push(r: ConsumeInit): void {
    this.queue.push(r);
    this.wake?.();
  }

  async *drain(signal: AbortSignal): AsyncGenerator<ConsumeInit> {
    const onAbort = () => this.wake?.();
    signal.addEventListener("abort", onAbort);
    try {
      while (!signal.aborted) {
        const next = this.queue.shift();
        if (next) yield next;
        else await new Promise<void>((r) => (this.wake = r));
      }
    } finally {
      signal.removeEventListener("abort", onAbort);
    }
  }
}
