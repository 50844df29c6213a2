import { createWriteStream, mkdirSync, type WriteStream } from "node:fs";
import { join } from "node:path";
import { projectRoot } from "../../src/util/project-root.js";
import type { HistoryEvent } from "./history/events.js";

// The workload's side of the history: every client event, one JSON line each, stamped with
// performance.now() of this process (one monotonic clock for every writer), for the independent
// checker in ./history.

type Untimed<E> = E extends HistoryEvent ? Omit<E, "t"> : never;

export class HistoryLog {
  private readonly out: WriteStream;
  /** Events written, for the run's log. */
  count = 0;

  /** A new history under `.geobroker/chaos/` (git-ignored), named after the seed and the start time. */
  constructor(seed: number) {
    const dir = join(projectRoot(), ".geobroker", "chaos");
    mkdirSync(dir, { recursive: true });
    this.path = join(dir, `seed-${seed}-${new Date().toISOString().replace(/[:.]/g, "-")}.jsonl`);
    this.out = createWriteStream(this.path);
  }

  readonly path: string;

  record(e: Untimed<HistoryEvent>): void {
    this.count++;
    this.out.write(`${JSON.stringify({ t: Math.round(performance.now() * 1000) / 1000, ...e })}\n`);
  }

  close(): Promise<void> {
    return new Promise((resolve, reject) =>
      this.out.end((err?: Error | null) => (err ? reject(err) : resolve())),
    );
  }
}
