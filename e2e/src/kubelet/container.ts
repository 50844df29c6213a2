import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, openSync, writeSync } from "node:fs";
import { stopChild } from "../../../broker/src/util/child-lines.js";
import { type LaunchSpec, launchScript } from "./launcher.js";
import { ProbeTracker, probeSettings, runProbe } from "./probes.js";

// One container of a pod: its process, its probes and its restarts. The pod worker decides when
// to start and stop; this class keeps the process and reports what the kubelet would report.

// biome-ignore lint/suspicious/noExplicitAny: container specs are free-form JSON
type ContainerSpec = any;

export interface ContainerStatus {
  name: string;
  image: string;
  imageID: string;
  containerID?: string;
  ready: boolean;
  started: boolean;
  restartCount: number;
  state: Record<string, unknown>;
  lastState: Record<string, unknown>;
}

const maxBackoffMs = 10_000;

export class Container {
  private process: ChildProcess | undefined;
  private restartCount = 0;
  private startedAt: string | undefined;
  private lastTermination: Record<string, unknown> | undefined;
  private waiting: { reason: string; message?: string } = { reason: "ContainerCreating" };
  private readiness: ProbeTracker | undefined;
  private startup: ProbeTracker | undefined;
  private probeTimers: NodeJS.Timeout[] = [];
  private stopping = false;
  private restartTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly spec: ContainerSpec,
    private readonly podIp: string,
    private readonly netns: string,
    private readonly logFile: string,
    private readonly onChange: () => void,
    private readonly log: (message: string) => void,
  ) {}

  get pid(): number | undefined {
    return this.process?.exitCode === null ? this.process.pid : undefined;
  }

  setWaiting(reason: string, message?: string): void {
    this.waiting = message === undefined ? { reason } : { reason, message };
    this.onChange();
  }

  /** Starts the process; on exit it is restarted with backoff until `stop` (restartPolicy Always). */
  start(launch: () => Promise<LaunchSpec>): void {
    this.stopping = false;
    void this.launch(launch);
  }

  private async launch(launch: () => Promise<LaunchSpec>): Promise<void> {
    if (this.stopping) return;
    let spec: LaunchSpec;
    try {
      spec = await launch();
    } catch (err) {
      this.setWaiting("CreateContainerConfigError", (err as Error).message);
      this.scheduleRestart(launch, 2_000);
      return;
    }
    if (this.stopping) return;
    const out = openSync(this.logFile, "a");
    writeSync(
      out,
      `--- ${new Date().toISOString()} container ${this.spec.name} starting: ${spec.argv.join(" ")}\n`,
    );
    const child = spawn(
      "ip",
      ["netns", "exec", this.netns, "unshare", "--uts", "--", "/bin/sh", "-c", launchScript(spec)],
      {
        // The environment survives ip netns exec, unshare and setpriv.
        env: spec.env,
        stdio: ["ignore", out, out],
      },
    );
    closeSync(out);
    this.process = child;
    this.startedAt = new Date().toISOString();
    this.resetProbes();
    this.onChange();
    child.on("exit", (code, signal) => {
      const exitCode = code ?? (signal === "SIGKILL" ? 137 : 143);
      this.lastTermination = {
        terminated: {
          exitCode,
          ...(signal ? { signal: signal === "SIGKILL" ? 9 : 15 } : {}),
          reason: exitCode === 0 ? "Completed" : "Error",
          startedAt: this.startedAt,
          finishedAt: new Date().toISOString(),
          containerID: `process://${child.pid}`,
        },
      };
      this.clearProbes();
      this.process = undefined;
      if (this.stopping) return this.onChange();
      this.log(`container ${this.spec.name} (pid ${child.pid}) exited with ${signal ?? code}; restarting`);
      this.restartCount += 1;
      this.waiting = {
        reason: "CrashLoopBackOff",
        message: `back-off restarting container ${this.spec.name}`,
      };
      this.onChange();
      this.scheduleRestart(launch, Math.min(maxBackoffMs, 1000 * 2 ** Math.min(this.restartCount - 1, 4)));
    });
  }

  private scheduleRestart(launch: () => Promise<LaunchSpec>, delayMs: number): void {
    this.restartTimer = setTimeout(() => void this.launch(launch), delayMs);
  }

  private resetProbes(): void {
    this.clearProbes();
    const ports = this.spec.ports ?? [];
    const make = (spec: ContainerSpec | undefined, onVerdict: (tracker: ProbeTracker) => void) => {
      if (!spec) return undefined;
      const settings = probeSettings(spec);
      const tracker = new ProbeTracker(settings);
      const tick = async () => {
        if (!this.process) return;
        const gated = tracker !== this.startup && this.startup && this.startup.verdict !== "success";
        if (!gated) {
          const ok = await runProbe(spec, this.podIp, ports).catch(() => false);
          const before = tracker.verdict;
          tracker.record(ok);
          if (tracker.verdict !== before) onVerdict(tracker);
        }
        this.probeTimers.push(setTimeout(tick, settings.periodMs));
      };
      this.probeTimers.push(setTimeout(tick, settings.initialDelayMs));
      return tracker;
    };
    this.startup = make(this.spec.startupProbe, (t) => {
      if (t.verdict === "failure") this.restartForProbe("startup");
      this.onChange();
    });
    this.readiness = make(this.spec.readinessProbe, () => this.onChange());
    make(this.spec.livenessProbe, (t) => {
      if (t.verdict === "failure") this.restartForProbe("liveness");
    });
  }

  private restartForProbe(which: string): void {
    this.log(`container ${this.spec.name}: ${which} probe failed; killing it for a restart`);
    // The exit handler restarts it (restartPolicy Always), as after a crash.
    if (this.process) void stopChild(this.process, (this.spec.terminationGracePeriodSeconds ?? 30) * 1000);
  }

  private clearProbes(): void {
    for (const t of this.probeTimers) clearTimeout(t);
    this.probeTimers = [];
  }

  get started(): boolean {
    return this.process !== undefined && (!this.startup || this.startup.verdict === "success");
  }

  get ready(): boolean {
    if (!this.started) return false;
    return !this.readiness || this.readiness.verdict === "success";
  }

  status(): ContainerStatus {
    const running = this.process !== undefined;
    return {
      name: this.spec.name,
      image: this.spec.image,
      imageID: `repo://${this.spec.image}`,
      ...(running ? { containerID: `process://${this.process?.pid}` } : {}),
      ready: this.ready,
      started: this.started,
      restartCount: this.restartCount,
      state: running ? { running: { startedAt: this.startedAt } } : { waiting: this.waiting },
      lastState: this.lastTermination ?? {},
    };
  }

  /** SIGKILL the process, as a crash would (the restart policy brings it back). */
  kill9(): void {
    this.process?.kill("SIGKILL");
  }

  /** SIGTERM, then SIGKILL after `graceMs`; no restart. */
  stop(graceMs: number): Promise<void> {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    this.clearProbes();
    return this.process ? stopChild(this.process, graceMs) : Promise.resolve();
  }
}
