/**
 * What the transport needs to know of Control payloads, which it otherwise carries as bytes: how a
 * failure becomes a reply, and how payloads translate for peers of builds that spoke JSON
 * (cluster/peers/internal-requests.ts `controlCodec`; docs/decisions/0026).
 */
export interface ControlCodec {
  encodeError(err: unknown): Uint8Array;
  isLegacy(bytes: Uint8Array): boolean;
  toLegacy(bytes: Uint8Array): Uint8Array;
  fromLegacy(bytes: Uint8Array): Uint8Array;
  legacyFailure(message: string): Uint8Array;
  /** A handler's failure as the text an older build reads (its grpc-message), the leader hint in it. */
  legacyFailureText(err: unknown): string;
}
