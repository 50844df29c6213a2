import type { ProcessCluster } from "../support/process-cluster.js";
import type { HistoryLog } from "./history-log.js";
import { clientsOf, sleep } from "./workload.js";

// Live subscribers for the history: one per partition, reading from offset 0 through every fault. A
// broken stream (a killed node, a reset) is resumed at the next node from the offset after the last
// delivery, as a real client resumes, so the checker can hold each subscription to no gap and no step
// back. A stream that only stalls (a paused or cut-off node) is abandoned after `stallMs` without a
// message (the publishers add one to every partition about every 10 ms), and resumed elsewhere.

export class Subscribers {
  private readonly abort = new AbortController();
  private loops: Promise<void>[] = [];
  /** Messages delivered, and streams resumed at another node. */
  delivered = 0;
  resumed = 0;

  constructor(
    private readonly cluster: ProcessCluster,
    private readonly topic: string,
    private readonly partitions: number,
    private readonly history: HistoryLog,
    private readonly stallMs = 5000,
  ) {}

  start(): void {
    this.loops = Array.from({ length: this.partitions }, (_, p) => this.run(p));
  }

  private async run(partition: number): Promise<void> {
    const reader = `subscriber-${partition}`;
    let next = 0;
    let nodeIndex = partition + 1; // not where this partition's publisher starts
    while (!this.abort.signal.aborted) {
      const live = this.cluster.nodes.filter((n) => n.child);
      const node = live[nodeIndex++ % Math.max(1, live.length)];
      if (!node) {
        await sleep(100);
        continue;
      }
      const c = clientsOf(node);
      const stream = new AbortController();
      const onStop = () => stream.abort();
      this.abort.signal.addEventListener("abort", onStop);
      let lastAt = performance.now();
      const watchdog = setInterval(() => {
        if (performance.now() - lastAt > this.stallMs) stream.abort();
      }, 250);
      this.history.record({ type: "subscribe", reader, partition, from: next });
      try {
        for await (const r of c.consume.subscribe(
          {
            topic: this.topic,
            partitions: [partition],
            start: { position: { case: "offset", value: BigInt(next) } },
          },
          { headers: c.headers, signal: stream.signal },
        )) {
          if (!r.message) continue;
          lastAt = performance.now();
          const offset = Number(r.message.offset);
          this.history.record({
            type: "deliver",
            reader,
            partition,
            offset,
            body: new TextDecoder().decode(r.message.body),
          });
          this.delivered++;
          next = Math.max(next, offset + 1);
        }
      } catch {
        // a broken or abandoned stream: resume at the next node
      } finally {
        clearInterval(watchdog);
        this.abort.signal.removeEventListener("abort", onStop);
      }
      if (!this.abort.signal.aborted) {
        this.resumed++;
        await sleep(50);
      }
    }
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await Promise.all(this.loops);
  }
}
