import type { ChildProcess } from "node:child_process";

/** Calls `each` for every non-empty line a child process writes to stdout or stderr. */
export function onLines(child: ChildProcess, each: (line: string) => void): void {
  const split = (chunk: Buffer) => {
    for (const line of chunk.toString().split("\n")) if (line) each(line);
  };
  child.stdout?.on("data", split);
  child.stderr?.on("data", split);
}

/** Appends a line, keeping only the last `max` (what to show when the process fails). */
export function keepLast(lines: string[], line: string, max = 20): void {
  lines.push(line);
  if (lines.length > max) lines.shift();
}

/** SIGTERM, then SIGKILL if the process still runs after `graceMs`; resolves once it exited. */
export function stopChild(child: ChildProcess, graceMs: number): Promise<void> {
  return new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill("SIGTERM");
  });
}
