import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { type ErrorInfo, ErrorInfoSchema } from "../../../gen/geobroker/v1/errors_pb.js";

// The one error model: every failure a caller can act on is a BrokerError with a gRPC/Connect code,
// a message a person can act on, and typed details (retry safety, a leader hint) that travel on the
// wire as geobroker.v1.ErrorInfo (proto/geobroker/v1/errors.proto). Connect turns it into a gRPC
// status or a Connect error; `errorInfoOf` reads the details back from whatever came over the wire.

export interface LeaderHint {
  nodeId: string;
  region?: string;
  clientAddress?: string;
}

export interface ErrorDetails {
  /** The broker did not act on the call: sending it again cannot apply it twice. */
  retrySafe?: boolean;
  /** The node that leads what the call needed. */
  leader?: LeaderHint;
}

/**
 * A ConnectError (its `name` stays "ConnectError": Connect recognizes its own errors by name, and
 * would answer INTERNAL for any other) with typed details.
 */
export class BrokerError extends ConnectError {
  readonly retrySafe: boolean;
  readonly leader: LeaderHint | undefined;

  constructor(message: string, code: Code, details: ErrorDetails = {}, cause?: unknown) {
    const info = errorInfoOf(details);
    super(message, code, undefined, info ? [{ desc: ErrorInfoSchema, value: info }] : undefined, cause);
    this.retrySafe = details.retrySafe === true;
    this.leader = details.leader;
  }

  // ConnectError's own check accepts any error named "ConnectError", so without this every
  // ConnectError would pass `instanceof BrokerError` (and of its subclasses, ProposalNotAccepted).
  static override [Symbol.hasInstance](value: unknown): boolean {
    // biome-ignore lint/complexity/noThisInStatic: `this` is the class `instanceof` was asked about (a subclass too)
    return Function.prototype[Symbol.hasInstance].call(this, value);
  }
}

/** The details as geobroker.v1.ErrorInfo; undefined when there are none. */
export function errorInfoOf(d: ErrorDetails): ErrorInfo | undefined {
  if (!d.retrySafe && !d.leader) return undefined;
  return create(ErrorInfoSchema, {
    retrySafe: d.retrySafe === true,
    ...(d.leader
      ? {
          leader: {
            nodeId: d.leader.nodeId,
            region: d.leader.region ?? "",
            clientAddress: d.leader.clientAddress ?? "",
          },
        }
      : {}),
  });
}

const make =
  (code: Code) =>
  (message: string, details?: ErrorDetails, cause?: unknown): BrokerError =>
    new BrokerError(message, code, details, cause);

export const invalidArgument = make(Code.InvalidArgument);
export const notFound = make(Code.NotFound);
export const alreadyExists = make(Code.AlreadyExists);
export const failedPrecondition = make(Code.FailedPrecondition);
export const unavailable = make(Code.Unavailable);
export const resourceExhausted = make(Code.ResourceExhausted);
export const unauthenticated = make(Code.Unauthenticated);
export const permissionDenied = make(Code.PermissionDenied);
export const deadlineExceeded = make(Code.DeadlineExceeded);
export const dataLoss = make(Code.DataLoss);

/** A node that does not lead what a call needs: UNAVAILABLE, safe to retry, naming the leader it knows. */
export function notLeader(what: string, leader: LeaderHint | undefined): BrokerError {
  return unavailable(`this node is not the leader of ${what} (leader: ${leader?.nodeId || "unknown"})`, {
    retrySafe: true,
    ...(leader?.nodeId ? { leader } : {}),
  });
}

/**
 * The typed details of any failure: a BrokerError's own, or those a remote broker sent (a
 * ConnectError decoded from the wire carries them as ErrorInfo).
 */
export function errorDetailsOf(err: unknown): ErrorDetails {
  if (err instanceof BrokerError)
    return { retrySafe: err.retrySafe, ...(err.leader ? { leader: err.leader } : {}) };
  if (!(err instanceof ConnectError)) return {};
  return detailsOfInfo(err.findDetails(ErrorInfoSchema)[0]);
}

/** geobroker.v1.ErrorInfo (from a stream's per-message error, or an error's details) as ErrorDetails. */
export function detailsOfInfo(info: ErrorInfo | undefined): ErrorDetails {
  if (!info) return {};
  const l = info.leader;
  return {
    retrySafe: info.retrySafe,
    ...(l?.nodeId
      ? {
          leader: {
            nodeId: l.nodeId,
            ...(l.region ? { region: l.region } : {}),
            ...(l.clientAddress ? { clientAddress: l.clientAddress } : {}),
          },
        }
      : {}),
  };
}

/** Any thrown value as a ConnectError; unknown failures become INTERNAL without leaking internals. */
export function toConnectError(err: unknown): ConnectError {
  if (err instanceof ConnectError) return err;
  return new ConnectError("internal error", Code.Internal, undefined, undefined, err);
}

/** A state machine's refusal (metadata-state.ts, consumer-records.ts) as the code a client gets. */
export function metadataError(e: { code: string; message: string }): BrokerError {
  switch (e.code) {
    case "not_found":
      return notFound(e.message);
    case "already_exists":
      return alreadyExists(e.message);
    default:
      return failedPrecondition(e.message);
  }
}
