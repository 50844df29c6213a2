import { type ParseArgsConfig, parseArgs } from "node:util";

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

/**
 * A command's flags, or undefined after printing the parse error and the usage to stderr (the
 * caller exits 2). One place so every command refuses an unknown or malformed flag alike.
 */
export function parseFlags<T extends ParseArgsConfig["options"]>(
  name: string,
  usage: string,
  args: string[],
  options: T,
): ReturnType<typeof parseArgs<{ args: string[]; options: T }>>["values"] | undefined {
  try {
    return parseArgs({ args, options }).values;
  } catch (err) {
    console.error(`geobroker ${name}: ${(err as Error).message}\n\n${usage}`);
    return undefined;
  }
}
