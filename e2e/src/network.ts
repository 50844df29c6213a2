// The e2e bridge inside the e2e network namespace (the caller already runs inside it): the control
// plane listens on the bridge's own address and pods get addresses on it, so nothing ever binds
// or talks to an address of the real host.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { network } from "./paths.js";

const exec = promisify(execFile);

/** Runs `ip` (iproute2); resolves with its output, throws with what it printed on stderr. */
export async function ip(...args: string[]): Promise<string> {
  try {
    return (await exec("ip", args, { encoding: "utf8" })).stdout;
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr?.trim();
    throw new Error(`ip ${args.join(" ")}: ${stderr || (err as Error).message}`);
  }
}

/** Creates the bridge with its host address and brings it and lo up; a no-op when already done. */
export async function setupBridge(): Promise<void> {
  await ip("link", "set", "lo", "up");
  const exists = (await ip("-o", "link", "show"))
    .split("\n")
    .some((l) => l.split(": ")[1]?.split("@")[0] === network.bridge);
  if (!exists) await ip("link", "add", network.bridge, "type", "bridge");
  const address = `${network.hostIp}/${network.prefix}`;
  if (!(await ip("-o", "addr", "show", "dev", network.bridge)).includes(` ${address} `)) {
    await ip("addr", "add", address, "dev", network.bridge);
  }
  // A bridge without ports has no carrier, but an admin-up link is enough for its own address
  // to be local and bindable.
  await ip("link", "set", network.bridge, "up");
}
