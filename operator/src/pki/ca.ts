// @peculiar/x509 resolves its services through tsyringe, which needs the Reflect metadata API.
import "reflect-metadata";
import { webcrypto } from "node:crypto";
import * as x509 from "@peculiar/x509";

// The certificate authorities the operator keeps itself (its admin identity's, each cluster's peer
// CA) and the leaves it signs with them. ECDSA P-256 throughout; keys travel as PKCS#8 PEM because
// a CA's key lives in a Secret of the operator's namespace, so every replica signs alike
// (docs/decisions/0065-operator-signs-peer-certificates.md).

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export const algorithm = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };

/** A CA as stored: its certificate and PKCS#8 key, PEM. */
export interface CaPem {
  cert: string;
  key: string;
}

/** A leaf certificate with its key (PEM) and validity. */
export interface Issued {
  cert: string;
  key: string;
  notBefore: Date;
  notAfter: Date;
}

type KeyPair = webcrypto.CryptoKeyPair;

export async function keyPair(): Promise<KeyPair> {
  return (await webcrypto.subtle.generateKey(algorithm, true, ["sign", "verify"])) as KeyPair;
}

export function pkcs8Pem(der: ArrayBuffer): string {
  const body = Buffer.from(der)
    .toString("base64")
    .replace(/(.{64})/g, "$1\n")
    .trimEnd();
  return `-----BEGIN PRIVATE KEY-----\n${body}\n-----END PRIVATE KEY-----\n`;
}

function pemBody(pem: string): Buffer {
  return Buffer.from(pem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, ""), "base64");
}

export function serial(): string {
  // 16 random bytes, first bit clear: a positive DER integer.
  return Buffer.from(webcrypto.getRandomValues(new Uint8Array(16)))
    .toString("hex")
    .replace(/^[89a-f]/, "7");
}

/** A new self-signed CA (pathLength 0: it signs leaves only), valid from a minute before `now`. */
export async function createCa(commonName: string, now: Date, lifetimeMs: number): Promise<CaPem> {
  const keys = await keyPair();
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=${commonName}`,
    keys,
    signingAlgorithm: algorithm,
    notBefore: new Date(now.getTime() - 60_000),
    notAfter: new Date(now.getTime() + lifetimeMs),
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return {
    cert: ca.toString("pem"),
    key: pkcs8Pem(await webcrypto.subtle.exportKey("pkcs8", keys.privateKey)),
  };
}

export interface LeafRequest {
  commonName: string;
  dnsNames?: string[];
  usages: ("serverAuth" | "clientAuth")[];
  /** The subject's public key; a new key pair is made (and returned) when absent. */
  publicKey?: webcrypto.CryptoKey;
  now: Date;
  lifetimeMs: number;
}

/** A leaf signed by `ca`. The key of the result is empty when the caller brought its public key. */
export async function signLeaf(ca: CaPem, req: LeafRequest): Promise<Issued> {
  const caCert = new x509.X509Certificate(ca.cert);
  const caKey = await webcrypto.subtle.importKey("pkcs8", pemBody(ca.key), algorithm, false, ["sign"]);
  const own = req.publicKey ? undefined : await keyPair();
  const publicKey = req.publicKey ?? own!.publicKey;
  const notBefore = new Date(req.now.getTime() - 60_000);
  // Never past the CA's own end: a chain is only as valid as its shortest link.
  const notAfter = new Date(Math.min(req.now.getTime() + req.lifetimeMs, caCert.notAfter.getTime()));
  const usages = req.usages.map((u) => x509.ExtendedKeyUsage[u]);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: `CN=${req.commonName}`,
    issuer: caCert.subject,
    publicKey,
    signingKey: caKey,
    signingAlgorithm: algorithm,
    notBefore,
    notAfter,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension(usages),
      await x509.AuthorityKeyIdentifierExtension.create(await caCert.publicKey.export()),
      ...(req.dnsNames?.length
        ? [
            new x509.SubjectAlternativeNameExtension(
              req.dnsNames.map((value) => ({ type: "dns" as const, value })),
            ),
          ]
        : []),
    ],
  });
  return {
    cert: cert.toString("pem"),
    key: own ? pkcs8Pem(await webcrypto.subtle.exportKey("pkcs8", own.privateKey)) : "",
    notBefore,
    notAfter,
  };
}
