import { Code, ConnectError } from "@connectrpc/connect";
import type { PublishError } from "../../../gen/geobroker/v1/publish_pb.js";
import { detailsOfInfo, type ErrorDetails, errorDetailsOf, type LeaderHint } from "../engine/errors.js";

export type { LeaderHint };

// Codes after which the same call may succeed later or elsewhere. A refused connection arrives as
// UNAVAILABLE; a node killed mid-stream as CANCELED ("http/2 stream closed with error code CANCEL"):
// the client's own cancellations never reach this test (each caller checks its signal first).
// UNKNOWN is a failure nobody classified, so it is not retried. Whether a call may be *sent again*
// is decided by retrySafe (the broker did not act) or a message id (the broker deduplicates).
const transientCodes = new Set<Code>([
  Code.Canceled,
  Code.Unavailable,
  Code.DeadlineExceeded,
  Code.Aborted,
  Code.ResourceExhausted,
]);

/**
 * Every failure the client reports: the broker's code, whether trying again can help (`retryable`),
 * whether the broker is known not to have acted (`retrySafe`), and where the leader is (`leaderHint`).
 * All three come from the error's typed details (geobroker.v1.ErrorInfo), never from its text.
 */
export class GeoBrokerError extends Error {
  override readonly name = "GeoBrokerError";
  readonly code: Code;
  readonly retryable: boolean;
  readonly retrySafe: boolean;
  readonly leaderHint: LeaderHint | undefined;

  constructor(message: string, code: Code, details: ErrorDetails = {}, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.code = code;
    this.retrySafe = details.retrySafe === true;
    this.leaderHint = details.leader;
    this.retryable = transientCodes.has(code);
  }

  /** The code's name as Connect spells it ("unavailable", "not_found", ...). */
  get codeName(): string {
    return (Code[this.code] ?? "unknown").replace(/([a-z])([A-Z])/g, "$1_$2").toLowerCase();
  }
}

/** Any thrown value as a GeoBrokerError (network failures arrive as UNAVAILABLE ConnectErrors). */
export function toGeoBrokerError(err: unknown): GeoBrokerError {
  if (err instanceof GeoBrokerError) return err;
  if (err instanceof ConnectError)
    return new GeoBrokerError(err.rawMessage, err.code, errorDetailsOf(err), err);
  if (err instanceof Error && err.name === "AbortError")
    return new GeoBrokerError(err.message, Code.Canceled, {}, err);
  return new GeoBrokerError(err instanceof Error ? err.message : String(err), Code.Unknown, {}, err);
}

/** A per-message failure on PublishStream as a GeoBrokerError. */
export function fromPublishError(e: PublishError): GeoBrokerError {
  return new GeoBrokerError(e.message, e.code as Code, detailsOfInfo(e.info));
}

/** The client was closed while the call waited. */
export function closedError(what: string): GeoBrokerError {
  return new GeoBrokerError(`${what} is closed`, Code.Canceled, { retrySafe: true });
}
