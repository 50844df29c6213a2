// What the page says when a call fails: the broker's own message, and what the user can do about it,
// chosen by the error's code (never by parsing its text).

/** Connect's codes, as numbers (the same values as @connectrpc/connect's Code enum). */
export const codes = {
  canceled: 1,
  unknown: 2,
  invalidArgument: 3,
  deadlineExceeded: 4,
  notFound: 5,
  alreadyExists: 6,
  permissionDenied: 7,
  resourceExhausted: 8,
  failedPrecondition: 9,
  unavailable: 14,
  unauthenticated: 16,
} as const;

export interface Explained {
  /** A short title: "No permission", "Node unreachable or no quorum", ... */
  title: string;
  /** The broker's (or the network's) own words. */
  detail: string;
  /** What to do next. */
  hint: string;
  /** Signing in again is the way out. */
  signIn: boolean;
}

/** Title, what to do, and whether signing in again is the way out, by code. */
const byCode: Record<number, [title: string, hint: string, signIn?: boolean]> = {
  [codes.permissionDenied]: [
    "No permission",
    "Your user lacks the grant this needs; an administrator can add it (docs/security.md).",
  ],
  [codes.unauthenticated]: [
    "Not signed in",
    "The user name or password was refused, or has changed: sign in again.",
    true,
  ],
  [codes.unavailable]: [
    "Node unreachable or no quorum",
    "The node serving this page cannot reach the group's leader, or too few replicas are up for a majority. It may pass: the page retries on its next refresh.",
  ],
  [codes.deadlineExceeded]: [
    "Timed out",
    "The cluster did not answer in time; it may be overloaded or partitioned. Try again.",
  ],
  [codes.notFound]: ["Not found", "It may have been deleted meanwhile: refresh the list."],
  [codes.alreadyExists]: ["Already exists", "Pick another name, or edit the existing one."],
  [codes.invalidArgument]: ["Invalid input", "Correct the field named above and submit again."],
  [codes.failedPrecondition]: [
    "Not possible now",
    "The cluster's state does not allow it yet; the message says what is missing.",
  ],
  [codes.resourceExhausted]: [
    "Limit reached",
    "A limit of the cluster was hit; wait, or ask for a larger quota.",
  ],
  [codes.canceled]: ["Cancelled", "The call was cancelled (the connection dropped, or you left the view)."],
};

export function explainError(err: unknown): Explained {
  const code = (err as { code?: unknown })?.code;
  const [title, hint, signIn] = (typeof code === "number" ? byCode[code] : undefined) ?? [
    "Unexpected error",
    "See the browser console for details.",
  ];
  return { title, detail: err instanceof Error ? err.message : String(err), hint, signIn: signIn === true };
}
