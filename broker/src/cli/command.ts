/** One `geobroker` subcommand. Each lives in its own module and registers in commands.ts. */
export interface Command {
  name: string;
  summary: string;
  /** Usage text printed by `geobroker <name> --help`. */
  usage: string;
  /** The issue that fills it in, while the command is not ready yet. */
  pendingIssue?: number;
  /** Runs the command; resolves to the process exit code. */
  run(args: string[]): Promise<number>;
}

/** A command that exists in the CLI's surface but is not built yet: it says so and exits 0. */
export function pendingCommand(name: string, summary: string, pendingIssue: number): Command {
  return {
    name,
    summary,
    usage: `geobroker ${name}: ${summary}\n\nNot ready yet: issue #${pendingIssue} builds it.`,
    pendingIssue,
    async run() {
      console.log(`geobroker ${name} is not ready yet: issue #${pendingIssue} builds it.`);
      return 0;
    },
  };
}
