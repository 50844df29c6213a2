import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

// Certificates made with the openssl command, as an operator outside our code would make them.

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

const ssl = (dir: string, args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });

function read(dir: string, name: string): Pem {
  const certFile = join(dir, `${name}.crt`);
  const keyFile = join(dir, `${name}.key`);
  return { certFile, keyFile, cert: readFileSync(certFile, "utf8"), key: readFileSync(keyFile, "utf8") };
}

/** openssl arguments for a new P-256 key written to `<name>.key`. */
const newEcKey = (name: string) => [
  "-newkey",
  "ec",
  "-pkeyopt",
  "ec_paramgen_curve:P-256",
  "-nodes",
  "-keyout",
  `${name}.key`,
];

/** A bare common name, or a full openssl subject such as `/CN=admin/O=system:masters`. */
const subject = (cnOrSubject: string) => (cnOrSubject.startsWith("/") ? cnOrSubject : `/CN=${cnOrSubject}`);

/** A self-signed CA: `<name>.crt` and `<name>.key` in `dir`. */
export function authority(dir: string, name: string, cn: string): Pem {
  ssl(dir, [
    "req",
    "-x509",
    ...newEcKey(name),
    "-out",
    `${name}.crt`,
    "-days",
    "2",
    "-subj",
    subject(cn),
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  ]);
  return read(dir, name);
}

/** A leaf `<name>.crt`/`.key` signed by the CA `<ca>.crt`/`.key` in `dir`, with the extensions in `ext`. */
export function leaf(dir: string, ca: string, name: string, cn: string, ext: string): Pem {
  writeFileSync(join(dir, `${name}.ext`), ext);
  ssl(dir, ["req", ...newEcKey(name), "-out", `${name}.csr`, "-subj", subject(cn)]);
  ssl(dir, [
    "x509",
    "-req",
    "-in",
    `${name}.csr`,
    "-CA",
    `${ca}.crt`,
    "-CAkey",
    `${ca}.key`,
    "-CAcreateserial",
    "-out",
    `${name}.crt`,
    "-days",
    "2",
    "-extfile",
    `${name}.ext`,
  ]);
  return read(dir, name);
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
