// The e2e bridge inside the e2e network namespace (the caller already runs inside it): the control
// plane listens on the bridge's own address and pods get addresses on it, so nothing ever binds
// or talks to an address of the real host.
import { execFileSync } from "node:child_process";
import { network } from "./paths.js";

const ip = (args: string[]) =>
  execFileSync("ip", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });

/** Creates the bridge with its host address and brings it and lo up; a no-op when already done. */
export function setupBridge(): void {
  ip(["link", "set", "lo", "up"]);
  const exists = ip(["-o", "link", "show"])
    .split("\n")
    .some((l) => l.split(": ")[1]?.split("@")[0] === network.bridge);
  if (!exists) ip(["link", "add", network.bridge, "type", "bridge"]);
  const address = `${network.hostIp}/${network.prefix}`;
  if (!ip(["-o", "addr", "show", "dev", network.bridge]).includes(` ${address} `)) {
    ip(["addr", "add", address, "dev", network.bridge]);
  }
  // A bridge without ports has no carrier, but an admin-up link is enough for its own address
  // to be local and bindable.
  ip(["link", "set", network.bridge, "up"]);
}
