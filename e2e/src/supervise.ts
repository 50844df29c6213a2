// Runs the control plane's daemons: each one's output goes to <logDir>/<name>.log, the last lines
// stay in memory for error messages, and readiness waits fail fast (with that tail) when the
// daemon dies instead of running into the timeout.
import { type ChildProcess, spawn } from "node:child_process";
import { createWriteStream, mkdirSync } from "node:fs";
import { join } from "node:path";
import { keepLast, onLines, stopChild } from "../../broker/src/util/child-lines.js";

export interface Daemon {
  name: string;
  child: ChildProcess;
  logFile: string;
  /** The last lines it wrote. */
  tail(): string;
  /** How it ended, or undefined while it runs. */
  ended(): string | undefined;
  stop(): Promise<void>;
}

// Daemons outlive a crashed or interrupted test run otherwise, holding ports and the etcd data dir.
const running = new Set<ChildProcess>();
let exitHook = false;

function killOnExit(child: ChildProcess): void {
  running.add(child);
  child.once("exit", () => running.delete(child));
  if (exitHook) return;
  exitHook = true;
  const killAll = () => {
    for (const c of running) c.kill("SIGKILL");
  };
  process.once("exit", killAll);
  // A signal ends node without the "exit" event: kill the daemons, then let the signal do what it
  // would have done (the handler is gone after `once`, so re-raising it takes the default action).
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.once(signal, () => {
      killAll();
      process.kill(process.pid, signal);
    });
  }
}

/** Starts a daemon the caller keeps track of (so that it is stopped even if its readiness wait fails). */
export type Spawn = (name: string, bin: string, args: string[]) => Daemon;

export function startDaemon(name: string, bin: string, args: string[], logDir: string): Daemon {
  mkdirSync(logDir, { recursive: true });
  const logFile = join(logDir, `${name}.log`);
  const log = createWriteStream(logFile, { flags: "a" });
  log.write(`# ${new Date().toISOString()} ${bin} ${args.join(" ")}\n`);
  const child = spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"] });
  killOnExit(child);
  // Raw chunks keep the log file byte-exact; onLines only feeds the in-memory tail.
  child.stdout?.pipe(log, { end: false });
  child.stderr?.pipe(log, { end: false });
  const lines: string[] = [];
  onLines(child, (line) => keepLast(lines, line, 30));
  let ended: string | undefined;
  child.on("error", (err) => {
    ended = `failed to start: ${err.message}`;
  });
  child.on("exit", (code, signal) => {
    ended ??= signal ? `killed by ${signal}` : `exited with code ${code}`;
  });
  child.on("close", () => log.end());
  return {
    name,
    child,
    logFile,
    tail: () => lines.join("\n"),
    ended: () => ended,
    stop: () => stopChild(child, 5_000),
  };
}

function describe(daemon: Daemon): string {
  return `last lines of ${daemon.logFile}:\n${daemon.tail()}`;
}

/**
 * Polls `check` until it returns without throwing. Throws when one of `daemons` ends first or after
 * `timeoutMs`, with the check's last error and the daemons' log tails.
 */
export async function waitUntil(
  what: string,
  daemons: Daemon[],
  check: () => Promise<void>,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError = "never checked";
  for (;;) {
    for (const d of daemons) {
      const ended = d.ended();
      if (ended) throw new Error(`${d.name} ${ended} while waiting for ${what}; ${describe(d)}`);
    }
    try {
      await check();
      return;
    } catch (err) {
      lastError = err instanceof Error ? err.message : String(err);
    }
    if (Date.now() > deadline) {
      const tails = daemons.map(describe).join("\n");
      throw new Error(`${what}: not ready after ${timeoutMs / 1000}s (last check: ${lastError}); ${tails}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}
