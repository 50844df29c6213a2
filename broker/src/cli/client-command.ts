import { type ParseArgsConfig, parseArgs } from "node:util";
import { type Clients, connectClients } from "../client/connect.js";
import type { GeoBrokerClient } from "../client/node.js";
import type { Command } from "./command.js";
import { connectionFrom, connectionOptions, connectionUsage } from "./connection-flags.js";
import { type CliTarget, explainError, libraryClient, resolveTarget } from "./target.js";

/** What a client command runs with: the library client, the plain generated clients, the target. */
export interface CliContext {
  client: GeoBrokerClient;
  raw: Clients;
  target: CliTarget;
}

/**
 * A CLI command that talks to a cluster: parses its flags plus the connection flags, connects, runs,
 * and turns any failure into one actionable line and exit code 1 (2 for bad usage).
 */
export function clientCommand(o: {
  name: string;
  summary: string;
  usage: string;
  options: ParseArgsConfig["options"];
  run(c: CliContext, values: Record<string, unknown>, positionals: string[]): Promise<number>;
}): Command {
  const usage = `${o.usage}\n\n${connectionUsage}`;
  return {
    name: o.name,
    summary: o.summary,
    usage,
    async run(args) {
      let parsed: { values: Record<string, unknown>; positionals: string[] };
      try {
        parsed = parseArgs({
          args,
          options: { ...connectionOptions, ...o.options },
          allowPositionals: true,
        }) as typeof parsed;
      } catch (err) {
        console.error(`geobroker ${o.name}: ${(err as Error).message}\n\n${usage}`);
        return 2;
      }
      let ctx: CliContext;
      try {
        const target = resolveTarget(connectionFrom(parsed.values));
        ctx = { target, raw: connectClients(target), client: libraryClient(target) };
      } catch (err) {
        console.error(`geobroker ${o.name}: ${(err as Error).message}`);
        return 2;
      }
      try {
        return await o.run(ctx, parsed.values, parsed.positionals);
      } catch (err) {
        if (err instanceof UsageError) {
          console.error(`geobroker ${o.name}: ${err.message}\n\n${usage}`);
          return 2;
        }
        console.error(`geobroker ${o.name}: ${explainError(err, ctx.target)}`);
        return 1;
      }
    },
  };
}

export class UsageError extends Error {}
