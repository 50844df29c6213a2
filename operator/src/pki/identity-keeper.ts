import { createOperatorIdentity, type OperatorIdentity } from "./operator-identity.js";

// Keeps the operator's identity current. A new identity's CA must reach every broker (the ConfigMap,
// then the kubelet's volume sync, then the broker's file watch: about a minute) before the operator
// may present its certificate, so renewal is two steps: the successor's CA is published next to the
// current one `renewBeforeMs` before expiry, and the successor is presented from `handOverMs` later.
// A restarted operator has lost its key and starts with a new identity; its first admin calls fail
// until the brokers have its CA (the controller retries).

export interface IdentityTimes {
  lifetimeMs: number;
  /** Publish the successor's CA this long before the current identity expires. */
  renewBeforeMs: number;
  /** Present the successor this long after its CA was first published. */
  handOverMs: number;
}

export const defaultIdentityTimes: IdentityTimes = {
  lifetimeMs: 30 * 24 * 3600_000,
  renewBeforeMs: 10 * 24 * 3600_000,
  handOverMs: 10 * 60_000,
};

export class IdentityKeeper {
  private current: OperatorIdentity | undefined;
  private successor: { identity: OperatorIdentity; publishedAt: number } | undefined;
  private making: Promise<OperatorIdentity> | undefined;

  constructor(
    private readonly now: () => Date = () => new Date(),
    private readonly times: IdentityTimes = defaultIdentityTimes,
    private readonly create: typeof createOperatorIdentity = createOperatorIdentity,
  ) {}

  /** The identity to present now (made, renewed or handed over as time requires). */
  async identity(): Promise<OperatorIdentity> {
    const t = this.now().getTime();
    if (!this.current || this.current.notAfter.getTime() <= t) {
      // None yet, or expired (the operator was not reconciling): nothing to hand over from.
      this.current = this.successor?.identity ?? (await this.make());
      this.successor = undefined;
    }
    if (!this.successor && this.current.notAfter.getTime() - t <= this.times.renewBeforeMs)
      this.successor = { identity: await this.make(), publishedAt: t };
    if (this.successor && t - this.successor.publishedAt >= this.times.handOverMs) {
      this.current = this.successor.identity;
      this.successor = undefined;
    }
    return this.current;
  }

  /** The CA certificates the brokers must trust: the presented identity's and its successor's, PEM. */
  async trustBundle(): Promise<string> {
    const current = await this.identity();
    return [current.ca, ...(this.successor ? [this.successor.identity.ca] : [])].join("");
  }

  private async make(): Promise<OperatorIdentity> {
    // Concurrent reconciles share one new identity.
    this.making ??= this.create(this.now(), this.times.lifetimeMs).finally(() => {
      this.making = undefined;
    });
    return this.making;
  }
}
