// @peculiar/x509 resolves its services through tsyringe, which needs the Reflect metadata API.
import "reflect-metadata";
import { webcrypto, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { request } from "node:https";
import { Code, ConnectError } from "@connectrpc/connect";
import { codeFromHttpStatus } from "@connectrpc/connect/protocol-connect";
import * as x509 from "@peculiar/x509";
import type { Logger } from "../observability/logger.js";
import { writeFileDurably } from "../util/durable-dir.js";

// A node's own peer certificate, from the operator (tls.peer.enroll): before the peer port opens the
// node makes a key pair in memory, sends a certificate request for CN=<node id> with its pod's
// projected service-account token, and writes the key and the certificate it gets to
// tls.peer.key/cert, which the peer transport's file watch reloads. Renewed at two thirds of the
// certificate's lifetime. The operator checks the token with a TokenReview and signs only the pod's
// own name (operator/src/pki/peer-signing.ts; docs/security.md "Peer certificates on Kubernetes").

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

export interface PeerEnrollConfig {
  /** https URL of the operator's enrollment endpoint (…/v1/peer-certificates). */
  url: string;
  /** The projected service-account token (audience geobroker-operator), re-read for every request. */
  tokenFile: string;
  /** The CA file the endpoint's server certificate is verified against. */
  ca: string;
}

export interface EnrollTarget {
  nodeId: string;
  enroll: PeerEnrollConfig;
  /** Where the key and certificate go (tls.peer.key, tls.peer.cert). */
  keyFile: string;
  certFile: string;
}

const algorithm = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
const maxAnswerBytes = 64 * 1024;

function pkcs8Pem(der: ArrayBuffer): string {
  const body = Buffer.from(der)
    .toString("base64")
    .replace(/(.{64})/g, "$1\n")
    .trimEnd();
  return `-----BEGIN PRIVATE KEY-----\n${body}\n-----END PRIVATE KEY-----\n`;
}

function post(
  url: string,
  ca: string,
  token: string,
  body: string,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: "POST",
        ca,
        timeout: 10_000,
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on("data", (c: Buffer) => {
          size += c.length;
          if (size > maxAnswerBytes) req.destroy(new Error(`the answer is over ${maxAnswerBytes} bytes`));
          else chunks.push(c);
        });
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }),
        );
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new Error("no answer within 10 s")));
    req.on("error", reject);
    req.end(body);
  });
}

/** One enrollment: a new key, a request, the files written. Returns the certificate's validity. */
export async function enrollOnce(t: EnrollTarget): Promise<{ notBefore: Date; notAfter: Date }> {
  const keys = (await webcrypto.subtle.generateKey(algorithm, true, [
    "sign",
    "verify",
  ])) as webcrypto.CryptoKeyPair;
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: `CN=${t.nodeId}`,
    keys,
    signingAlgorithm: algorithm,
  });
  const token = readFileSync(t.enroll.tokenFile, "utf8").trim();
  const { status, text } = await post(
    t.enroll.url,
    readFileSync(t.enroll.ca, "utf8"),
    token,
    JSON.stringify({ csr: csr.toString("pem") }),
  );
  let answer: { certificate?: string; code?: string; message?: string };
  try {
    answer = JSON.parse(text) as typeof answer;
  } catch {
    answer = { message: text.slice(0, 200) };
  }
  if (status !== 200 || !answer.certificate)
    throw new ConnectError(
      `the operator refused the peer certificate request: ${answer.code ?? status}: ${answer.message ?? ""}`,
      status === 200 ? Code.Internal : codeFromHttpStatus(status),
    );
  const cert = new X509Certificate(answer.certificate);
  const mine = Buffer.from(await webcrypto.subtle.exportKey("spki", keys.publicKey));
  if (
    !cert.publicKey.export({ type: "spki", format: "der" }).equals(mine) ||
    cert.subject !== `CN=${t.nodeId}`
  )
    throw new ConnectError(
      `the operator answered with a certificate for ${cert.subject} and another key; expected CN=${t.nodeId}`,
      Code.Internal,
    );
  // Key first: the watcher keeps the previous pair until the new certificate matches its key.
  // Whole files (temporary name, then rename), so the watcher never reads half of one.
  await writeFileDurably(
    t.keyFile,
    pkcs8Pem(await webcrypto.subtle.exportKey("pkcs8", keys.privateKey)),
    0o600,
  );
  await writeFileDurably(t.certFile, answer.certificate, 0o644);
  return { notBefore: new Date(cert.validFrom), notAfter: new Date(cert.validTo) };
}

/** When to renew: two thirds into the certificate's lifetime. */
export function renewAt(v: { notBefore: Date; notAfter: Date }): number {
  const start = v.notBefore.getTime();
  return start + ((v.notAfter.getTime() - start) * 2) / 3;
}

export interface PeerEnrollment {
  stop(): void;
}

/**
 * Enrolls until it has a certificate (retrying 1 s, doubling to 30 s: the operator may be starting
 * or the token not yet written), then keeps it renewed. Resolves once the files are written.
 */
export async function startPeerEnrollment(
  t: EnrollTarget,
  logger: Logger,
  now: () => number = Date.now,
): Promise<PeerEnrollment> {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const sleep = (ms: number) =>
    new Promise<void>((r) => {
      timer = setTimeout(r, ms);
    });
  const attempt = async (): Promise<{ notBefore: Date; notAfter: Date } | undefined> => {
    try {
      const v = await enrollOnce(t);
      logger.info("peer certificate issued by the operator", { notAfter: v.notAfter.toISOString() });
      return v;
    } catch (err) {
      logger.warn("peer certificate request failed; retrying", { url: t.enroll.url, error: String(err) });
      return undefined;
    }
  };
  let validity: { notBefore: Date; notAfter: Date } | undefined;
  for (let backoff = 1000; !validity && !stopped; backoff = Math.min(backoff * 2, 30_000)) {
    validity = await attempt();
    if (!validity) await sleep(backoff);
  }
  const renew = async (v: { notBefore: Date; notAfter: Date }) => {
    let wait = Math.max(0, renewAt(v) - now());
    for (;;) {
      await sleep(Math.min(wait, 2 ** 31 - 1));
      if (stopped) return;
      const next = await attempt();
      if (next) return renew(next);
      wait = 30_000;
    }
  };
  if (validity) void renew(validity);
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
