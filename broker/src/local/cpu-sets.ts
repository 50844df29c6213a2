// Per-node CPU caps for local clusters and the bench's scaling cells: node i runs under
// `taskset -c <set i>` (sets cycle when there are fewer than nodes). Linux only (util-linux's
// taskset); where it is missing the launch fails with that said.

/** "0;1;2-3" -> ["0", "1", "2-3"]; "" -> [] (no caps). Each set is taskset's -c list syntax. */
export function parseCpuSets(spec: string): string[] {
  if (!spec.trim()) return [];
  return spec.split(";").map((s) => {
    const set = s.trim();
    if (!/^\d+(-\d+)?(,\d+(-\d+)?)*$/.test(set))
      throw new Error(
        `CPU set "${set}": use taskset's list syntax, e.g. 0 or 0-1 or 0,2 (sets separated by ;)`,
      );
    return set;
  });
}

/** The command that runs `command args` as node number `i`, pinned to its set when there are sets. */
export function pinnedCommand(
  i: number,
  command: string,
  args: string[],
  sets: string[],
): { command: string; args: string[] } {
  if (sets.length === 0) return { command, args };
  return { command: "taskset", args: ["-c", sets[i % sets.length]!, command, ...args] };
}
