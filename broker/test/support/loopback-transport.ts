import { controlCodec } from "../../src/cluster/peers/internal-requests.js";
import { PeerTransport, type PeerTransportOptions } from "../../src/transport/peer-transport.js";

/**
 * A production peer transport for node `nodeId`, listening on loopback `port`, dialling `peers`
 * (id -> address), with the cluster's Control codec: what the transport tests build their nodes from.
 */
export function loopbackTransport(
  nodeId: string,
  port: number,
  peers: Map<string, string>,
  extra: Partial<PeerTransportOptions> = {},
): PeerTransport {
  return new PeerTransport({
    control: controlCodec,
    nodeId,
    listen: { host: "127.0.0.1", port },
    peers,
    ...extra,
  });
}
