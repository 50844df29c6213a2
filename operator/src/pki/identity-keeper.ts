import type { CaPem } from "./ca.js";
import { createOperatorIdentity, type OperatorIdentity } from "./operator-identity.js";

// Keeps the operator's identity current: a leaf under the shared identity CA (pki/pki-store.ts),
// renewed once a third of its lifetime is left. The CA does not change with the leaf, so a renewal,
// a restart or a failover to another replica needs nothing new on the brokers (decision 0066).

export interface IdentityTimes {
  lifetimeMs: number;
  /** Sign a new leaf this long before the current one expires. */
  renewBeforeMs: number;
}

export const defaultIdentityTimes: IdentityTimes = {
  lifetimeMs: 30 * 24 * 3600_000,
  renewBeforeMs: 10 * 24 * 3600_000,
};

export class IdentityKeeper {
  private current: OperatorIdentity | undefined;
  private making: Promise<OperatorIdentity> | undefined;

  constructor(
    /** The identity CA, shared by every replica (read or created once). */
    private readonly ca: () => Promise<CaPem>,
    private readonly now: () => Date = () => new Date(),
    private readonly times: IdentityTimes = defaultIdentityTimes,
    private readonly create: typeof createOperatorIdentity = createOperatorIdentity,
  ) {}

  /** The identity to present now (made or renewed as time requires). */
  async identity(): Promise<OperatorIdentity> {
    const t = this.now().getTime();
    if (!this.current || this.current.notAfter.getTime() - t <= this.times.renewBeforeMs)
      this.current = await this.make();
    return this.current;
  }

  /** The CA certificate the brokers must trust for the operator's client certificate, PEM. */
  async trustBundle(): Promise<string> {
    return (await this.ca()).cert;
  }

  private async make(): Promise<OperatorIdentity> {
    // Concurrent reconciles share one new leaf.
    this.making ??= this.ca()
      .then((ca) => this.create(ca, this.now(), this.times.lifetimeMs))
      .finally(() => {
        this.making = undefined;
      });
    return this.making;
  }
}
