import { Code, ConnectError } from "@connectrpc/connect";

// One place that turns a failure into a standard gRPC code a client can act on: INVALID_ARGUMENT
// (bad topic name, oversized message), NOT_FOUND, ALREADY_EXISTS, UNAUTHENTICATED,
// PERMISSION_DENIED, UNAVAILABLE (no quorum: retryable), RESOURCE_EXHAUSTED (limits),
// FAILED_PRECONDITION.

export const invalidArgument = (message: string) => new ConnectError(message, Code.InvalidArgument);
export const notFound = (message: string) => new ConnectError(message, Code.NotFound);
export const alreadyExists = (message: string) => new ConnectError(message, Code.AlreadyExists);
export const failedPrecondition = (message: string) => new ConnectError(message, Code.FailedPrecondition);
export const unavailable = (message: string) => new ConnectError(message, Code.Unavailable);
export const resourceExhausted = (message: string) => new ConnectError(message, Code.ResourceExhausted);
export const unauthenticated = (message: string) => new ConnectError(message, Code.Unauthenticated);
export const permissionDenied = (message: string) => new ConnectError(message, Code.PermissionDenied);
export const deadlineExceeded = (message: string) => new ConnectError(message, Code.DeadlineExceeded);

/** Any thrown value as a ConnectError; unknown failures become INTERNAL without leaking internals. */
export function toConnectError(err: unknown): ConnectError {
  if (err instanceof ConnectError) return err;
  return new ConnectError("internal error", Code.Internal, undefined, undefined, err);
}

/** A state machine's refusal (metadata-state.ts, consumer-records.ts) as the code a client gets. */
export function metadataError(e: { code: string; message: string }): ConnectError {
  switch (e.code) {
    case "not_found":
      return notFound(e.message);
    case "already_exists":
      return alreadyExists(e.message);
    default:
      return failedPrecondition(e.message);
  }
}
