/**
 * A Kubernetes MicroTime (Lease renewTime/acquireTime, Event eventTime): the API server parses
 * exactly six fractional digits and rejects what Date.toISOString writes (three), and
 * @kubernetes/client-node serializes Dates with toISOString. Found by the e2e suite against a real
 * API server; the fake one accepted both.
 */
export class MicroTime extends Date {
  override toISOString(): string {
    return super.toISOString().replace("Z", "000Z");
  }
}
