import { type Command, pendingCommand } from "./command.js";
import { hashPasswordCommand } from "./hash-password.js";
import { serveCommand } from "./serve.js";
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
  pendingCommand("local", "run a local multi-region cluster on loopback (what `npm start` runs)", 5),
  pendingCommand("pub", "publish messages to a topic", 5),
  pendingCommand("sub", "subscribe to topics and print messages", 5),
  pendingCommand("topics", "create, list, describe and delete topics", 5),
  pendingCommand("status", "show cluster regions, nodes, groups and leaders", 6),
  hashPasswordCommand,
  version,
];
