import type http2 from "node:http2";

// HTTP/2 starts every stream and every connection with a 64 KiB flow-control window. A window is
// refilled only when the receiving event loop reads, so a busy node capped a link at
// 64 KiB per event-loop turn: a few MB/s for large messages. Brokers move bulk data: give each
// stream and each connection room for many large messages in flight.

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
