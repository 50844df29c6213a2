import "reflect-metadata";
import type { webcrypto } from "node:crypto";
import * as x509 from "@peculiar/x509";
import "./ca.js"; // sets the crypto provider
import { Code } from "@connectrpc/connect";
import type { Refusal } from "./peer-signing.js";

// A broker's certificate request, bounded and checked before anything is signed: PEM of at most
// 4 KiB, a subject of exactly one CN (a pod name: a DNS label), an ECDSA P-256 key, and a valid
// self-signature (the asker holds the key). Requested extensions are ignored: the operator decides
// every field of the certificate itself (pki/peer-signing.ts).

export const maxCsrChars = 4096;
const dnsLabel = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

export interface ParsedCsr {
  ok: true;
  commonName: string;
  publicKey: webcrypto.CryptoKey;
}

const invalid = (message: string): Refusal => ({ ok: false, code: Code.InvalidArgument, message });

export async function parseCsr(pem: unknown): Promise<ParsedCsr | Refusal> {
  if (typeof pem !== "string" || pem.length === 0)
    return invalid("csr: a PEM certificate request is required");
  if (pem.length > maxCsrChars) return invalid(`csr: at most ${maxCsrChars} characters (got ${pem.length})`);
  let csr: x509.Pkcs10CertificateRequest;
  try {
    csr = new x509.Pkcs10CertificateRequest(pem);
  } catch (err) {
    return invalid(
      `csr: not a PKCS#10 certificate request (${err instanceof Error ? err.message : String(err)})`,
    );
  }
  const subject = csr.subjectName.toJSON();
  const cns = subject.flatMap((rdn) => Object.entries(rdn)).filter(([k]) => k === "CN");
  if (
    subject.length !== 1 ||
    Object.keys(subject[0]!).length !== 1 ||
    cns.length !== 1 ||
    cns[0]![1].length !== 1
  )
    return invalid(
      `csr: the subject must be exactly one CN (the pod's name), got ${JSON.stringify(csr.subject)}`,
    );
  const commonName = cns[0]![1][0]!;
  if (!dnsLabel.test(commonName)) return invalid(`csr: CN ${JSON.stringify(commonName)} is not a pod name`);
  const alg = csr.publicKey.algorithm as { name?: string; namedCurve?: string };
  if (alg.name !== "ECDSA" || alg.namedCurve !== "P-256")
    return invalid(
      `csr: the key must be ECDSA P-256 (got ${alg.name ?? "?"} ${alg.namedCurve ?? ""})`.trimEnd(),
    );
  if (!(await csr.verify().catch(() => false))) return invalid("csr: its signature does not verify");
  const publicKey = await csr.publicKey.export({ name: "ECDSA", namedCurve: "P-256" }, ["verify"]);
  return { ok: true, commonName, publicKey };
}
