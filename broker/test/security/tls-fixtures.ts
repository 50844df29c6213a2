// @peculiar/x509 resolves its services through tsyringe, which needs the Reflect metadata API.
import "reflect-metadata";
import {
  createHash,
  createPrivateKey,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
  sign,
} from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as x509 from "@peculiar/x509";

// Test certificates as files, the way an operator outside our code would hand them to a broker:
// ECDSA P-256 keys (PKCS#8 PEM) and X.509 v3 certificates, made synchronously with node:crypto
// (keys, signatures) and @peculiar/x509 (names, extensions), so no openssl binary is needed. The
// extension strings keep openssl's extfile syntax (`subjectAltName=IP:127.0.0.1,DNS:localhost`,
// `extendedKeyUsage=serverAuth,clientAuth`), one per line, and what `openssl x509 -req` adds on
// its own (subject and authority key identifiers) is added here too.

export interface Pem {
  cert: string;
  key: string;
  certFile: string;
  keyFile: string;
}

export interface Pki {
  dir: string;
  ca: Pem;
  otherCa: Pem;
  server: Pem;
  /** CN=alice, URI SAN spiffe://geobroker/svc-alice, from the cluster CA. */
  alice: Pem;
  /** CN=mallory from another CA. */
  mallory: Pem;
  /** Issues another leaf from the cluster CA into `name`.crt/.key. */
  issue(name: string, cn: string, ext: string): Pem;
  /** The same from the other CA (a certificate the cluster must not trust). */
  issueFromOtherCa(name: string, cn: string, ext: string): Pem;
}

// --- DER, just what a TBSCertificate needs around the parts @peculiar/x509 encodes ---------------

function tlv(tag: number, ...contents: Buffer[]): Buffer {
  const body = Buffer.concat(contents);
  const n = body.length;
  const length =
    n < 0x80 ? Buffer.from([n]) : n < 0x100 ? Buffer.from([0x81, n]) : Buffer.from([0x82, n >> 8, n & 0xff]);
  return Buffer.concat([Buffer.from([tag]), length, body]);
}
const sequence = (...contents: Buffer[]) => tlv(0x30, ...contents);
const explicit = (n: number, ...contents: Buffer[]) => tlv(0xa0 + n, ...contents);
const integer = (bytes: Buffer) =>
  tlv(0x02, bytes[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), bytes]) : bytes);
const bitString = (bytes: Buffer) => tlv(0x03, Buffer.from([0]), bytes);
/** UTCTime, YYMMDDHHMMSSZ (valid until 2049). */
const utcTime = (d: Date) => tlv(0x17, Buffer.from(`${d.toISOString().slice(2, 19).replace(/[-T:]/g, "")}Z`));
/** AlgorithmIdentifier ecdsa-with-SHA256 (1.2.840.10045.4.3.2), no parameters. */
const ecdsaWithSha256 = sequence(Buffer.from([0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02]));

/** A bare common name, or an openssl-style subject such as `/CN=admin/O=system:masters`. */
function subjectName(cnOrSubject: string): Buffer {
  const text = cnOrSubject.startsWith("/") ? cnOrSubject.slice(1).split("/").join(", ") : `CN=${cnOrSubject}`;
  return Buffer.from(new x509.Name(text).toArrayBuffer());
}

/** The key identifier openssl uses: SHA-1 of the public key's bits (the uncompressed P-256 point). */
const keyId = (spki: Buffer) =>
  createHash("sha1")
    .update(spki.subarray(spki.length - 65))
    .digest("hex");

const ext = (e: x509.Extension) => Buffer.from(e.rawData);

/** openssl extfile lines (`subjectAltName=...`, `extendedKeyUsage=...`) as DER extensions. */
function extensions(text: string): Buffer[] {
  const out: Buffer[] = [];
  for (const line of text.split("\n").filter((l) => l.trim())) {
    const [name = "", value = ""] = line.split("=", 2).map((s) => s.trim());
    const items = value.split(",").map((s) => s.trim());
    if (name === "subjectAltName") {
      const types = { IP: "ip", DNS: "dns", URI: "url" } as const;
      const names = items.map((item) => {
        const [kind = "", ...rest] = item.split(":");
        const type = types[kind as keyof typeof types];
        if (!type) throw new Error(`tls-fixtures: unsupported subjectAltName entry ${item}`);
        return { type, value: rest.join(":") };
      });
      out.push(ext(new x509.SubjectAlternativeNameExtension(names)));
    } else if (name === "extendedKeyUsage") {
      const usages = items.map((u) => {
        const oid = x509.ExtendedKeyUsage[u as keyof typeof x509.ExtendedKeyUsage];
        if (!oid) throw new Error(`tls-fixtures: unsupported extendedKeyUsage ${u}`);
        return oid;
      });
      out.push(ext(new x509.ExtendedKeyUsageExtension(usages)));
    } else {
      throw new Error(`tls-fixtures: unsupported extension line ${line}`);
    }
  }
  return out;
}

interface Issuer {
  name: Buffer;
  keyId: string;
  key: KeyObject;
}

/** Writes `<name>.key` and `<name>.crt` in `dir`: a new P-256 key and a certificate for it, signed by `issuer` (itself when absent). */
function certify(dir: string, name: string, subject: Buffer, exts: Buffer[], issuer?: Issuer): Pem {
  const keys = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const spki = keys.publicKey.export({ type: "spki", format: "der" });
  const own = keyId(spki);
  const signer: Issuer = issuer ?? { name: subject, keyId: own, key: keys.privateKey };
  const serial = randomBytes(16);
  serial[0] = (serial[0]! & 0x7f) | 0x01; // positive and 16 bytes long
  const tbs = sequence(
    explicit(0, integer(Buffer.from([2]))), // v3
    integer(serial),
    ecdsaWithSha256,
    signer.name,
    sequence(utcTime(new Date(Date.now() - 60_000)), utcTime(new Date(Date.now() + 2 * 24 * 3600_000))),
    subject,
    spki,
    explicit(
      3,
      sequence(
        ...exts,
        ext(new x509.SubjectKeyIdentifierExtension(own)),
        ext(new x509.AuthorityKeyIdentifierExtension(signer.keyId)),
      ),
    ),
  );
  const der = sequence(tbs, ecdsaWithSha256, bitString(sign("sha256", tbs, signer.key)));
  const cert = `-----BEGIN CERTIFICATE-----\n${der
    .toString("base64")
    .replace(/(.{64})/g, "$1\n")
    .trimEnd()}\n-----END CERTIFICATE-----\n`;
  const key = keys.privateKey.export({ type: "pkcs8", format: "pem" }) as string;
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  writeFileSync(keyFile, key, { mode: 0o600 });
  writeFileSync(certFile, cert);
  return { cert, key, certFile, keyFile };
}

/** A self-signed CA: `<name>.crt` and `<name>.key` in `dir`. */
export function authority(dir: string, name: string, cn: string): Pem {
  return certify(dir, name, subjectName(cn), [
    ext(new x509.BasicConstraintsExtension(true, undefined, true)),
    ext(new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true)),
  ]);
}

/** A leaf `<name>.crt`/`.key` signed by the CA `<ca>.crt`/`.key` in `dir`, with the extensions in `ext` (openssl extfile syntax). */
export function leaf(dir: string, ca: string, name: string, cn: string, ext: string): Pem {
  const caCert = new x509.X509Certificate(readFileSync(join(dir, `${ca}.crt`), "utf8"));
  const issuer: Issuer = {
    name: Buffer.from(caCert.subjectName.toArrayBuffer()),
    keyId: keyId(Buffer.from(caCert.publicKey.rawData)),
    key: createPrivateKey(readFileSync(join(dir, `${ca}.key`), "utf8")),
  };
  return certify(dir, name, subjectName(cn), extensions(ext), issuer);
}

export const serverExt = "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n";
export const clientExt = (uri: string) => `subjectAltName=URI:${uri}\nextendedKeyUsage=clientAuth\n`;

export function makePki(): Pki {
  const dir = mkdtempSync(join(tmpdir(), "geobroker-pki-"));
  const ca = authority(dir, "ca", "geobroker test CA");
  const otherCa = authority(dir, "other-ca", "some other CA");
  return {
    dir,
    ca,
    otherCa,
    server: leaf(dir, "ca", "server", "localhost", serverExt),
    alice: leaf(dir, "ca", "alice", "alice", clientExt("spiffe://geobroker/svc-alice")),
    mallory: leaf(dir, "other-ca", "mallory", "mallory", clientExt("spiffe://geobroker/mallory")),
    issue: (name, cn, ext) => leaf(dir, "ca", name, cn, ext),
    issueFromOtherCa: (name, cn, ext) => leaf(dir, "other-ca", name, cn, ext),
  };
}
