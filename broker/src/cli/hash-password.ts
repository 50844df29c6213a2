import { hashPassword } from "../security/passwords.js";
import type { Command } from "./command.js";
import { readStdin } from "./read-stdin.js";

export const hashPasswordCommand: Command = {
  name: "hash-password",
  summary: "print the scrypt hash of a password (read from stdin) for a users file",
  usage: "geobroker hash-password < password.txt\n\nPrints `scrypt$...` for `passwordHash` in a users file.",
  async run() {
    const password = (await readStdin()).replace(/\r?\n$/, "");
    if (password.length === 0) {
      console.error("geobroker hash-password: no password on standard input");
      return 2;
    }
    console.log(await hashPassword(password));
    return 0;
  },
};
