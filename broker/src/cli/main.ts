#!/usr/bin/env node
import { commands } from "./commands.js";
import { geobrokerVersion } from "./version.js";

function help(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  const lines = commands.map((c) => {
    const pending = c.pendingIssue === undefined ? "" : `  (not ready yet: issue #${c.pendingIssue})`;
    return `  ${c.name.padEnd(width)}  ${c.summary}${pending}`;
  });
  return [
    `geobroker ${geobrokerVersion()}: a geo-distributed, strongly consistent message broker`,
    "",
    "Usage: geobroker <command> [options]",
    "       geobroker <command> --help",
    "",
    "Commands:",
    ...lines,
  ].join("\n");
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    console.log(help());
    return 0;
  }
  if (name === "--version" || name === "-v") {
    console.log(geobrokerVersion());
    return 0;
  }
  const command = commands.find((c) => c.name === name);
  if (!command) {
    console.error(`geobroker: unknown command "${name}"\n\n${help()}`);
    return 2;
  }
  if (rest.includes("--help") || rest.includes("-h")) {
    console.log(command.usage);
    return 0;
  }
  return command.run(rest);
}

// Exit explicitly: client commands leave idle HTTP/2 sessions open that would keep the process alive.
process.exit(await main(process.argv.slice(2)));
