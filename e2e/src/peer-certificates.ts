import { X509Certificate } from "node:crypto";
import { connect } from "node:tls";
import type { KubeObject } from "./kube-rest.js";

// What each broker presents on its peer port, read from the outside: the certificate a dialling
// node sees. The peer port wants a client certificate too, but in TLS 1.3 the server's certificate
// arrives before the client's is checked, so a plain client can read it.

export interface PeerCertificateSeen {
  pod: string;
  subject: string;
  /** Verified against `peerCa` (the cluster's peer CA from its peer-ca ConfigMap). */
  signedByPeerCa: boolean;
  dnsNames: string;
}

export function peerCertificateOf(host: string, port: number): Promise<X509Certificate> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port, rejectUnauthorized: false, minVersion: "TLSv1.3" });
    const timer = setTimeout(() => socket.destroy(new Error(`no TLS answer from ${host}:${port}`)), 10_000);
    socket.once("secureConnect", () => {
      const cert = socket.getPeerX509Certificate();
      clearTimeout(timer);
      socket.destroy();
      if (cert) resolve(cert);
      else reject(new Error(`${host}:${port} presented no certificate`));
    });
    socket.once("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

export async function peerCertificatesOf(
  pods: KubeObject[],
  peerCa: string,
  port = 9100,
): Promise<PeerCertificateSeen[]> {
  const ca = new X509Certificate(peerCa);
  return Promise.all(
    pods.map(async (pod) => {
      const cert = await peerCertificateOf(pod.status.podIP as string, port);
      return {
        pod: pod.metadata.name,
        subject: cert.subject,
        signedByPeerCa: cert.checkIssued(ca) && cert.verify(ca.publicKey),
        dnsNames: cert.subjectAltName ?? "",
      };
    }),
  );
}
