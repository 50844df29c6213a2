import { lookup } from "node:dns/promises";
import { isIP } from "node:net";

// Which connections count as a cluster node's on a client port without TLS. There, a forwarded
// call carries no certificate, and the `geobroker-forwarded-hops` header (which ends forwarding and
// keeps a call off the metrics of the node it was forwarded to) would be believed from anyone. A
// TCP connection's source address cannot be chosen by a remote client, so the header is believed
// only from the addresses the cluster's own nodes resolve to. On a shared host (every node and
// client on 127.0.0.1) that cannot tell them apart: TLS with node certificates is the real answer.

/** `::ffff:10.0.0.1` (an IPv4 client on a dual-stack socket) is `10.0.0.1`. */
export function normalizeAddress(address: string): string {
  return address.startsWith("::ffff:") && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}

/** The host part of `host:port`, `[v6]:port` or a bare host. */
export function hostOf(address: string): string {
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(address);
  if (bracketed) return bracketed[1]!;
  if (isIP(address) === 6) return address;
  const colon = address.lastIndexOf(":");
  return colon > 0 ? address.slice(0, colon) : address;
}

export type Resolve = (host: string) => Promise<string[]>;

const resolveAll: Resolve = async (host) => (await lookup(host, { all: true })).map((a) => a.address);

/**
 * The IP addresses of the cluster's nodes, from their advertised host names, resolved again on
 * `refresh` (the node calls it when membership changes and periodically: pods move).
 */
export class NodeAddressBook {
  private addresses: ReadonlySet<string> = new Set();
  private pending: Promise<void> | undefined;

  constructor(
    private readonly hosts: () => readonly string[],
    private readonly resolve: Resolve = resolveAll,
    private readonly onError: (host: string, message: string) => void = () => {},
  ) {}

  /** Whether a connection from `remoteAddress` comes from a node (as last resolved). */
  has(remoteAddress: string | undefined): boolean {
    return remoteAddress !== undefined && this.addresses.has(normalizeAddress(remoteAddress));
  }

  /** Resolves every node host; a host that fails keeps no address until it resolves again. */
  refresh(): Promise<void> {
    this.pending ??= this.resolveNow().finally(() => {
      this.pending = undefined;
    });
    return this.pending;
  }

  private async resolveNow(): Promise<void> {
    const hosts = [
      ...new Set(
        this.hosts()
          .map(hostOf)
          .filter((h) => h.length > 0),
      ),
    ];
    const found = await Promise.all(
      hosts.map((host) =>
        isIP(host)
          ? Promise.resolve([host])
          : this.resolve(host).catch((err: Error) => {
              this.onError(host, err.message);
              return [] as string[];
            }),
      ),
    );
    this.addresses = new Set(found.flat().map(normalizeAddress));
  }
}
