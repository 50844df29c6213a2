import { operatorIdentity } from "../model/tls.js";
import { type CaPem, signLeaf } from "./ca.js";

// The operator's admin identity on the brokers' client port (CN=geobroker-operator, granted admin
// in the ACL), signed by the operator itself rather than by a cert-manager Issuer: any Certificate in
// a cluster's namespace may reference that namespace's Issuers, so an Issuer able to sign this name
// would make every namespace user who can create Certificates an administrator (decision 0052).
//
// The CA is the operator's identity CA, kept in a Secret of the operator's own namespace
// (pki/pki-store.ts), not made per process: every replica and every restart signs under the same CA,
// so the brokers' client CA (the `<cluster>-client-ca` ConfigMap) does not change when the leader
// does, and a new leader is trusted at once (decision 0066). Only the leaf and its key are per process.

export interface OperatorIdentity {
  /** PEM: the operator's client certificate and its PKCS#8 key. */
  cert: string;
  key: string;
  /** PEM: the identity CA's certificate, what the brokers trust. */
  ca: string;
  notBefore: Date;
  notAfter: Date;
}

/** A new identity under `ca`, valid from `now` (a minute earlier, for clock skew) for `lifetimeMs`. */
export async function createOperatorIdentity(
  ca: CaPem,
  now: Date,
  lifetimeMs: number,
): Promise<OperatorIdentity> {
  const leaf = await signLeaf(ca, { commonName: operatorIdentity, usages: ["clientAuth"], now, lifetimeMs });
  return { ...leaf, ca: ca.cert };
}
