import { benchCommand } from "./bench.js";
import type { Command } from "./command.js";
import { consoleCommand } from "./console.js";
import { consumeCommand } from "./consume.js";
import { consumersCommand } from "./consumers.js";
import { hashPasswordCommand } from "./hash-password.js";
import { localCommand } from "./local.js";
import { pubCommand } from "./pub.js";
import { serveCommand } from "./serve.js";
import { statusCommand } from "./status.js";
import { subCommand } from "./sub.js";
import { topicsCommand } from "./topics.js";
import { aclCommand, usersCommand } from "./users.js";
import { geobrokerVersion } from "./version.js";

const version: Command = {
  name: "version",
  summary: "print the geobroker version",
  usage: "geobroker version",
  async run() {
    console.log(geobrokerVersion());
    return 0;
  },
};

/** Every subcommand, in the order `--help` lists them. */
export const commands: Command[] = [
  serveCommand,
  localCommand,
  pubCommand,
  subCommand,
  consumeCommand,
  consumersCommand,
  topicsCommand,
  usersCommand,
  aclCommand,
  benchCommand,
  statusCommand,
  consoleCommand,
  hashPasswordCommand,
  version,
];
