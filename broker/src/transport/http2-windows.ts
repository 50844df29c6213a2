import type http2 from "node:http2";

// HTTP/2 starts every stream and every connection with a 64 KiB flow-control window, refilled only
// as the receiving event loop reads: at most 64 KiB per round trip per link. Brokers move messages of
// up to 1 MiB, so each stream and connection gets room for many in flight. Measured honestly: on
// its own this did not change the 64 KiB-message throughput seen (1-8 MB/s, then bound by the
// quadratic frame reassembly fixed in framing.ts); it removes a ceiling, it is not a speed-up.

/** Per-stream window, announced in SETTINGS. */
export const streamWindowBytes = 16 * 1024 * 1024;
/** Per-connection window, raised once the session is up. */
export const connectionWindowBytes = 64 * 1024 * 1024;

export const http2Settings: http2.Settings = { initialWindowSize: streamWindowBytes };

/** Widens a session's connection-level receive window (both client and server sessions). */
export function widenWindow(session: http2.Http2Session): void {
  const apply = () => {
    try {
      session.setLocalWindowSize(connectionWindowBytes);
    } catch {
      // the session closed before it was up
    }
  };
  if (session.connecting) session.once("connect", apply);
  else apply();
}
