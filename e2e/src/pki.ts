// The control plane's certificates, made with node:crypto through the same helpers the broker's
// TLS tests use (no openssl binary). One CA signs everything: the apiserver's serving certificate, a client
// certificate per component (its CN/O is the identity RBAC sees), and, through the
// controller-manager's signer, any CertificateSigningRequest.
import { generateKeyPairSync } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { authority, leaf, type Pem } from "../../broker/test/security/tls-fixtures.js";
import { kubernetesService, network } from "./paths.js";

export interface ControlPlanePki {
  dir: string;
  ca: Pem;
  apiserver: Pem;
  /** Client certificates, keyed by the component that uses them. */
  clients: Record<ClientName, Pem>;
  /** RSA key pair the apiserver verifies and signs service-account tokens with. */
  serviceAccountKey: string;
  serviceAccountPub: string;
}

// The controller-manager and scheduler get the identities the default RBAC bindings know; the
// components without a built-in role (CoreDNS, cert-manager) are masters under their own name, so
// the audit trail and the apiserver log still tell them apart.
const clientSubjects = {
  admin: "/CN=admin/O=system:masters",
  controllerManager: "/CN=system:kube-controller-manager",
  scheduler: "/CN=system:kube-scheduler",
  coredns: "/CN=coredns/O=system:masters",
  certManager: "/CN=cert-manager/O=system:masters",
} as const;

export type ClientName = keyof typeof clientSubjects;

const apiserverSans = [
  `IP:${network.hostIp}`,
  "IP:127.0.0.1",
  `IP:${kubernetesService.ip}`,
  "DNS:kubernetes",
  "DNS:kubernetes.default",
  "DNS:kubernetes.default.svc",
  "DNS:kubernetes.default.svc.cluster.local",
];

export function makeControlPlanePki(dir: string): ControlPlanePki {
  mkdirSync(dir, { recursive: true });
  const ca = authority(dir, "ca", "geobroker e2e cluster CA");
  const apiserver = leaf(
    dir,
    "ca",
    "apiserver",
    "kube-apiserver",
    `subjectAltName=${apiserverSans.join(",")}\nextendedKeyUsage=serverAuth\n`,
  );
  const clients = {} as Record<ClientName, Pem>;
  for (const [name, subject] of Object.entries(clientSubjects) as [ClientName, string][]) {
    clients[name] = leaf(dir, "ca", name, subject, "extendedKeyUsage=clientAuth\n");
  }
  // Service-account tokens are signed RS256 by default; an RSA key keeps every consumer happy.
  const serviceAccountKey = join(dir, "sa.key");
  const serviceAccountPub = join(dir, "sa.pub");
  // PKCS#8 and SPKI PEM, what `openssl genrsa` and `openssl rsa -pubout` write.
  const rsa = generateKeyPairSync("rsa", {
    modulusLength: 2048,
    privateKeyEncoding: { type: "pkcs8", format: "pem" },
    publicKeyEncoding: { type: "spki", format: "pem" },
  });
  writeFileSync(serviceAccountKey, rsa.privateKey, { mode: 0o600 });
  writeFileSync(serviceAccountPub, rsa.publicKey);
  return { dir, ca, apiserver, clients, serviceAccountKey, serviceAccountPub };
}

/** A kubeconfig that authenticates with a client certificate; returns its path. */
export function writeKubeconfig(path: string, server: string, ca: Pem, client: Pem): string {
  writeFileSync(
    path,
    [
      "apiVersion: v1",
      "kind: Config",
      "clusters:",
      "- name: e2e",
      "  cluster:",
      `    server: ${server}`,
      `    certificate-authority: ${ca.certFile}`,
      "users:",
      "- name: e2e",
      "  user:",
      `    client-certificate: ${client.certFile}`,
      `    client-key: ${client.keyFile}`,
      "contexts:",
      "- name: e2e",
      "  context:",
      "    cluster: e2e",
      "    user: e2e",
      "current-context: e2e",
      "",
    ].join("\n"),
  );
  return path;
}
