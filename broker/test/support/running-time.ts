import { ProcessClock, VirtualTime } from "../../src/sim/virtual-time.js";
import { eventually } from "./eventually.js";

/**
 * Virtual time that runs by itself, for the in-process cluster: a pump turns the real event loop
 * once per step and, in each, runs the events due in the next millisecond of virtual time. Tests
 * then await their calls as usual and wait with `sleep`, while every timer of the cluster (Raft
 * ticks, time-outs, the network's delays, the disks' completions) fires in an order the seed alone
 * decides, as fast as the CPU allows and never early or late because the machine is busy.
 *
 * Why one millisecond a step rather than jumping to the next event: work that is not on the clock
 * (a test's own chain of awaits, an in-memory RPC's promise chain) needs real turns of the event
 * loop, and a step bounds how much virtual time passes meanwhile.
 */
export class RunningTime {
  readonly time = new VirtualTime();
  private stopped = false;
  private readonly pumping: Promise<void>;

  constructor() {
    this.pumping = this.pump();
  }

  /** Virtual milliseconds since the start. */
  get now(): number {
    return this.time.now;
  }

  /** A process's clock, `skewMicros` off the true time; dead (timers never fire) once `alive` is false. */
  clock(skewMicros = 0): ProcessClock {
    return new ProcessClock(this.time, () => skewMicros);
  }

  /** Runs `fn` after `ms` of virtual time, whatever process is alive (a network, a disk). */
  after(ms: number, fn: () => void): void {
    this.time.after(ms, fn);
  }

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.time.after(ms, resolve));
  }

  /** Polls `probe` every 10 ms of virtual time until it gives a value; fails after `timeoutMs` of it. */
  eventually<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
    return eventually(`${what} (virtual time)`, timeoutMs, probe, 10, {
      now: () => this.now,
      sleep: (ms) => this.sleep(ms),
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.pumping;
  }

  private async pump(): Promise<void> {
    while (!this.stopped) {
      await this.time.runUntil(this.time.now + 1, () => undefined);
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }
}
