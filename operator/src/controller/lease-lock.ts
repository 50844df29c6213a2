import type { CoordinationV1Api, V1Lease } from "@kubernetes/client-node";
import { isConflict, isNotFound } from "../kube/client.js";
import { MicroTime } from "../kube/micro-time.js";
import { decideLease, type LeaseState } from "./leader-election.js";
import type { Logger } from "./logger.js";

// The I/O loop around decideLease: read the Lease, write what the decision says, with the
// resourceVersion as the guard so two candidates can never both win.

export interface LeaderElectionOptions {
  namespace: string;
  name: string;
  identity: string;
  leaseDurationSeconds: number;
  retryPeriodMs: number;
  log: Logger;
  onStartedLeading(): void;
  onStoppedLeading(): void;
}

/**
 * A leader must stop leading before its Lease can expire, whatever its requests are doing: a
 * renewal that hangs (a stalled connection) must not leave it acting while another replica, seeing
 * the Lease expire, takes over. client-go calls this the renew deadline; here 2/3 of the duration.
 * Found by the e2e suite: two operator replicas both reconciled for 21 s.
 */
export function renewDeadlineMs(leaseDurationSeconds: number): number {
  return Math.floor((leaseDurationSeconds * 1000 * 2) / 3);
}

export class LeaseLock {
  private leading = false;
  private timer: NodeJS.Timeout | undefined;
  private watchdog: NodeJS.Timeout | undefined;
  private stopped = false;
  /** When the last successful renewal's request was sent (the Lease holds from then at least). */
  private renewedAt = 0;

  constructor(
    private readonly api: CoordinationV1Api,
    private readonly o: LeaderElectionOptions,
  ) {}

  start(): void {
    void this.tick();
    const deadline = renewDeadlineMs(this.o.leaseDurationSeconds);
    this.watchdog = setInterval(
      () => {
        if (!this.leading || Date.now() - this.renewedAt <= deadline) return;
        this.o.log.error("could not renew the leader lease in time; stepping down", { deadlineMs: deadline });
        this.leading = false;
        this.o.onStoppedLeading();
      },
      Math.max(50, Math.min(this.o.retryPeriodMs, deadline / 4)),
    );
    this.watchdog.unref();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.watchdog) clearInterval(this.watchdog);
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    try {
      const sentAt = Date.now();
      const won = await this.tryAcquireOrRenew();
      if (won) this.renewedAt = sentAt;
      if (won && !this.leading) {
        this.leading = true;
        this.o.log.info("became leader", {
          lease: `${this.o.namespace}/${this.o.name}`,
          identity: this.o.identity,
        });
        this.o.onStartedLeading();
      } else if (!won && this.leading) {
        this.leading = false;
        this.o.onStoppedLeading();
      }
    } catch (err) {
      // One failed call (an API server restart, a timeout) is retried at the next period, as
      // client-go does: the Lease still holds until its renew deadline, and the watchdog steps
      // down once that passes without a successful renewal. Stepping down here cost 15 s of
      // reconciling per API server hiccup.
      this.o.log.warn("leader election call failed; retrying", {
        error: (err as Error).message,
        leading: this.leading,
      });
    }
    this.timer = setTimeout(() => void this.tick(), this.o.retryPeriodMs);
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const { namespace, name } = this.o;
    let existing: V1Lease | undefined;
    try {
      existing = await this.api.readNamespacedLease({ name, namespace });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    const spec = existing?.spec;
    const current: LeaseState | undefined = spec
      ? {
          ...(spec.holderIdentity ? { holderIdentity: spec.holderIdentity } : {}),
          ...(spec.leaseDurationSeconds !== undefined
            ? { leaseDurationSeconds: spec.leaseDurationSeconds }
            : {}),
          ...(spec.renewTime
            ? { renewTime: new Date(spec.renewTime as unknown as string).toISOString() }
            : {}),
          ...(spec.leaseTransitions !== undefined ? { leaseTransitions: spec.leaseTransitions } : {}),
        }
      : undefined;
    const d = decideLease(current, this.o.identity, Date.now(), this.o.leaseDurationSeconds);
    if (d.kind === "wait") return false;
    const body: V1Lease = {
      apiVersion: "coordination.k8s.io/v1",
      kind: "Lease",
      metadata: {
        name,
        namespace,
        ...(existing?.metadata?.resourceVersion
          ? { resourceVersion: existing.metadata.resourceVersion }
          : {}),
      },
      spec: {
        holderIdentity: d.lease.holderIdentity ?? this.o.identity,
        leaseDurationSeconds: d.lease.leaseDurationSeconds ?? this.o.leaseDurationSeconds,
        renewTime: new MicroTime(),
        ...(d.kind === "acquire"
          ? { acquireTime: new MicroTime() }
          : spec?.acquireTime
            ? { acquireTime: new MicroTime(spec.acquireTime) }
            : {}),
        leaseTransitions: d.lease.leaseTransitions ?? 0,
      },
    };
    try {
      if (existing) await this.api.replaceNamespacedLease({ name, namespace, body });
      else await this.api.createNamespacedLease({ namespace, body });
      return true;
    } catch (err) {
      // Someone else wrote first: they lead this round.
      if (isConflict(err)) return false;
      throw err;
    }
  }
}
