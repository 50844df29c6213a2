import { ip } from "../network.js";
import { network } from "../paths.js";

// A pod's network: its own network namespace with a veth pair to the e2e bridge, so every pod
// has its own address, as in a real cluster (brokers bind the same ports in every pod and peer by
// address). The namespace lives as long as the pod, across container restarts.

export interface Sandbox {
  netns: string;
  ip: string;
}

/** Hands out pod addresses in order and takes them back when pods go away. */
export class AddressPool {
  private next = 1;
  private readonly free: number[] = [];

  take(): string {
    const n = this.free.shift() ?? this.next++;
    if (n > 250 * 250) throw new Error("the e2e pod network is out of addresses");
    return `${network.podBase}.${Math.floor(n / 250) + 1}.${(n % 250) + 1}`;
  }

  give(address: string): void {
    const [, , third, fourth] = address.split(".").map(Number);
    if (third === undefined || fourth === undefined) return;
    this.free.push((third - 1) * 250 + (fourth - 1));
  }
}

/** Creates the pod's namespace and link; `id` is short and unique per live pod (interface names max 15). */
export async function createSandbox(id: string, address: string): Promise<Sandbox> {
  const netns = `gbpod-${id}`;
  const hostSide = `gbh${id}`;
  const podSide = `gbp${id}`;
  await ip("netns", "add", netns);
  try {
    await ip("link", "add", hostSide, "type", "veth", "peer", "name", podSide);
    await ip("link", "set", podSide, "netns", netns);
    await ip("link", "set", hostSide, "master", network.bridge);
    await ip("link", "set", hostSide, "up");
    const inPod = (...args: string[]) => ip("-n", netns, ...args);
    await inPod("link", "set", "lo", "up");
    await inPod("link", "set", podSide, "name", "eth0");
    await inPod("addr", "add", `${address}/${network.prefix}`, "dev", "eth0");
    await inPod("link", "set", "eth0", "up");
    await inPod("route", "add", "default", "via", network.hostIp);
  } catch (err) {
    await destroySandbox({ netns, ip: address }).catch(() => {});
    throw err;
  }
  return { netns, ip: address };
}

/** Deleting the namespace also deletes the veth pair. */
export async function destroySandbox(sandbox: Sandbox): Promise<void> {
  await ip("netns", "del", sandbox.netns);
}
