// @peculiar/x509 resolves its services through tsyringe, which needs the Reflect metadata API.
import "reflect-metadata";
import { webcrypto } from "node:crypto";
import * as x509 from "@peculiar/x509";

// Certificate generation for the local cluster and tests: ECDSA P-256, pure JavaScript on WebCrypto
// (no openssl binary needed). Production certificates come from cert-manager.

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

type CryptoKeyPair = webcrypto.CryptoKeyPair;
type CryptoKey = webcrypto.CryptoKey;

const algorithm = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };

export interface KeyPairPem {
  cert: string;
  key: string;
}

export interface Authority extends KeyPairPem {
  keys: CryptoKeyPair;
  certificate: x509.X509Certificate;
}

async function keyPem(key: CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey("pkcs8", key));
  return `-----BEGIN PRIVATE KEY-----\n${der
    .toString("base64")
    .replace(/(.{64})/g, "$1\n")
    .trimEnd()}\n-----END PRIVATE KEY-----\n`;
}

const years = (n: number) => new Date(Date.now() + n * 365 * 24 * 3600 * 1000);

export async function createAuthority(commonName: string): Promise<Authority> {
  const keys = (await webcrypto.subtle.generateKey(algorithm, true, ["sign", "verify"])) as CryptoKeyPair;
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    name: `CN=${commonName}`,
    keys,
    signingAlgorithm: algorithm,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: years(10),
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { keys, certificate, cert: certificate.toString("pem"), key: await keyPem(keys.privateKey) };
}

/** A leaf certificate signed by the authority, for a server (SANs) and/or a client (mTLS identity = CN). */
export async function issueCertificate(
  ca: Authority,
  o: { commonName: string; dnsNames?: string[]; ips?: string[]; server?: boolean; client?: boolean },
): Promise<KeyPairPem> {
  const keys = (await webcrypto.subtle.generateKey(algorithm, true, ["sign", "verify"])) as CryptoKeyPair;
  const usages: string[] = [];
  if (o.server ?? true) usages.push(x509.ExtendedKeyUsage.serverAuth);
  if (o.client) usages.push(x509.ExtendedKeyUsage.clientAuth);
  const names = [
    ...(o.dnsNames ?? []).map((value) => ({ type: "dns" as const, value })),
    ...(o.ips ?? []).map((value) => ({ type: "ip" as const, value })),
  ];
  const certificate = await x509.X509CertificateGenerator.create({
    subject: `CN=${o.commonName}`,
    issuer: ca.certificate.subject,
    publicKey: keys.publicKey,
    signingKey: ca.keys.privateKey,
    signingAlgorithm: algorithm,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: years(2),
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
        true,
      ),
      new x509.ExtendedKeyUsageExtension(usages),
      ...(names.length > 0 ? [new x509.SubjectAlternativeNameExtension(names)] : []),
      await x509.AuthorityKeyIdentifierExtension.create(ca.keys.publicKey),
    ],
  });
  return { cert: certificate.toString("pem"), key: await keyPem(keys.privateKey) };
}
