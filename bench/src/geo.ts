// The geo cells: publish->ack under the simulated WAN (eu/us/ap delays as `npm start --wan-delay`),
// from the leader's region and from a far one (the call is forwarded to the leader). The issue's
// bar is p99 <= the nearest-quorum round trip + 5 ms; a forwarded call also crosses the WAN to the
// leader and back, so its bound adds that round trip. Pure: the delays in, bounds and lines out.
import { parseWanDelay } from "../../broker/src/local/wan-delay.js";
import type { CellResult } from "./stats.js";

export const geoRegions = ["eu", "us", "ap"];
export const defaultGeoDelays = "eu-us=20ms,eu-ap=60ms,us-ap=60ms";

export interface GeoCell {
  /** The region of the node the client connects to. */
  from: string;
  /** The partition leader's region (the topic's home). */
  leader: string;
  /** Round trip leader -> nearest follower (a majority of 3 is the leader and one follower), ms. */
  quorumRttMs: number;
  /** Round trip from -> leader of a forwarded call (0 from the leader's own node), ms. */
  forwardRttMs: number;
  /** quorumRttMs + forwardRttMs + 5 ms: the bar for p99. */
  boundMs: number;
}

export function geoCell(delays: string, leader: string, from: string): GeoCell {
  const oneWay = parseWanDelay(delays, geoRegions);
  const d = (a: string, b: string) => (a === b ? 0 : (oneWay.get(a)?.[b] ?? 0));
  const followers = geoRegions.filter((r) => r !== leader).map((r) => 2 * d(leader, r));
  const quorumRttMs = Math.min(...followers);
  const forwardRttMs = 2 * d(from, leader);
  return { from, leader, quorumRttMs, forwardRttMs, boundMs: quorumRttMs + forwardRttMs + 5 };
}

/**
 * `RESULT geo size=256 inflight=1 from=ap leader=eu p50_ms=A p99_ms=B quorum_rtt_ms=40
 * forward_rtt_ms=120 bound_ms=165 within=yes` per geo cell (within: p99 <= bound).
 */
export function formatGeoLine(cell: GeoCell, r: CellResult): string {
  const ok = r.messages > 0 && r.latencyMs.p99 <= cell.boundMs;
  return [
    "RESULT geo",
    `size=${r.size}`,
    `inflight=${r.inflight}`,
    `from=${cell.from}`,
    `leader=${cell.leader}`,
    `p50_ms=${r.messages > 0 ? r.latencyMs.p50.toFixed(2) : "na"}`,
    `p99_ms=${r.messages > 0 ? r.latencyMs.p99.toFixed(2) : "na"}`,
    `quorum_rtt_ms=${cell.quorumRttMs}`,
    `forward_rtt_ms=${cell.forwardRttMs}`,
    `bound_ms=${cell.boundMs}`,
    `within=${ok ? "yes" : "no"}`,
  ].join(" ");
}
