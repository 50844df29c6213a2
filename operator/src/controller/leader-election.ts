// Leader election on a coordination.k8s.io/v1 Lease, as client-go's leaderelection does it: the
// holder renews the lease; anyone may take it once it has not been renewed for its duration.
// The decision is pure; the loop around it (lease-lock.ts) only reads and writes the Lease.

export interface LeaseState {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  /** RFC 3339 with microseconds, as the API server stores it. */
  renewTime?: string;
  acquireTime?: string;
  leaseTransitions?: number;
}

export type LeaseDecision =
  | { kind: "renew"; lease: LeaseState }
  | { kind: "acquire"; lease: LeaseState }
  | { kind: "wait"; holder: string; expiresInMs: number };

export function decideLease(
  current: LeaseState | undefined,
  me: string,
  nowMs: number,
  durationSeconds: number,
): LeaseDecision {
  const now = new Date(nowMs).toISOString().replace("Z", "000Z");
  if (current?.holderIdentity === me) {
    return { kind: "renew", lease: { ...current, renewTime: now, leaseDurationSeconds: durationSeconds } };
  }
  const holder = current?.holderIdentity;
  if (holder && current?.renewTime) {
    const expires = Date.parse(current.renewTime) + (current.leaseDurationSeconds ?? durationSeconds) * 1000;
    if (expires > nowMs) return { kind: "wait", holder, expiresInMs: expires - nowMs };
  }
  return {
    kind: "acquire",
    lease: {
      holderIdentity: me,
      leaseDurationSeconds: durationSeconds,
      acquireTime: now,
      renewTime: now,
      leaseTransitions: (current?.leaseTransitions ?? 0) + (holder ? 1 : 0),
    },
  };
}
