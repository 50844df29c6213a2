// @peculiar/x509 resolves its services through tsyringe, which needs the Reflect metadata API.
import "reflect-metadata";
import { webcrypto } from "node:crypto";
import * as x509 from "@peculiar/x509";
import { operatorIdentity } from "../model/tls.js";

// The operator's admin identity on the brokers' client port (CN=geobroker-operator, granted admin
// in the ACL), signed by the operator itself rather than by a cert-manager Issuer: any Certificate in
// a cluster's namespace may reference that namespace's Issuers, so an Issuer able to sign this name
// would make every namespace user who can create Certificates an administrator
// (docs/decisions/0052-operator-signs-its-own-identity.md).
//
// Each identity has its own one-off CA: a key pair made, used for one signature (the operator's
// certificate), and dropped, never exported. The brokers trust only these CA certificates for client
// certificates (the `<cluster>-client-ca` ConfigMap), so nothing else can ever chain to them. The
// operator's own key lives in its memory only.

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export interface OperatorIdentity {
  /** PEM: the operator's client certificate and its PKCS#8 key. */
  cert: string;
  key: string;
  /** PEM: the one-off CA's certificate, what the brokers trust. */
  ca: string;
  notBefore: Date;
  notAfter: Date;
}

const algorithm = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };

type KeyPair = webcrypto.CryptoKeyPair;

async function keyPair(extractable: boolean): Promise<KeyPair> {
  return (await webcrypto.subtle.generateKey(algorithm, extractable, ["sign", "verify"])) as KeyPair;
}

function pkcs8Pem(der: ArrayBuffer): string {
  const body = Buffer.from(der)
    .toString("base64")
    .replace(/(.{64})/g, "$1\n")
    .trimEnd();
  return `-----BEGIN PRIVATE KEY-----\n${body}\n-----END PRIVATE KEY-----\n`;
}

/** A new identity valid from `now` (a minute earlier, for clock skew) for `lifetimeMs`. */
export async function createOperatorIdentity(now: Date, lifetimeMs: number): Promise<OperatorIdentity> {
  const notBefore = new Date(now.getTime() - 60_000);
  const notAfter = new Date(now.getTime() + lifetimeMs);
  const serial = () =>
    Buffer.from(webcrypto.getRandomValues(new Uint8Array(16)))
      .toString("hex")
      .replace(/^[89a-f]/, "7");
  // The CA key is not extractable: it cannot leave WebCrypto, and it is dropped after one signature.
  const caKeys = await keyPair(false);
  const caName = `CN=geobroker operator identity CA ${serial().slice(0, 12)}`;
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: caName,
    keys: caKeys,
    signingAlgorithm: algorithm,
    notBefore,
    notAfter,
    extensions: [
      // pathLength 0: it signs leaves only.
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true),
      await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  });
  const keys = await keyPair(true);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: `CN=${operatorIdentity}`,
    issuer: ca.subject,
    publicKey: keys.publicKey,
    signingKey: caKeys.privateKey,
    signingAlgorithm: algorithm,
    notBefore,
    notAfter,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
      await x509.AuthorityKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  });
  return {
    cert: cert.toString("pem"),
    key: pkcs8Pem(await webcrypto.subtle.exportKey("pkcs8", keys.privateKey)),
    ca: ca.toString("pem"),
    notBefore,
    notAfter,
  };
}
