import { type ParseArgsConfig, parseArgs } from "node:util";
import { type Clients, connectClients, explainError, resolveTarget } from "../client/connect.js";
import type { Command } from "./command.js";
import { connectionFrom, connectionOptions, connectionUsage } from "./connection-flags.js";

/**
 * A CLI command that talks to a cluster: parses its flags plus the connection flags, connects, runs,
 * and turns any failure into one actionable line and exit code 1 (2 for bad usage).
 */
export function clientCommand(o: {
  name: string;
  summary: string;
  usage: string;
  options: ParseArgsConfig["options"];
  run(clients: Clients, values: Record<string, unknown>, positionals: string[]): Promise<number>;
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
      let clients: Clients;
      try {
        clients = connectClients(resolveTarget(connectionFrom(parsed.values)));
      } catch (err) {
        console.error(`geobroker ${o.name}: ${(err as Error).message}`);
        return 2;
      }
      try {
        return await o.run(clients, parsed.values, parsed.positionals);
      } catch (err) {
        if (err instanceof UsageError) {
          console.error(`geobroker ${o.name}: ${err.message}\n\n${usage}`);
          return 2;
        }
        console.error(`geobroker ${o.name}: ${explainError(err, clients.target)}`);
        return 1;
      }
    },
  };
}

export class UsageError extends Error {}
