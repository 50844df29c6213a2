import { isIP } from "node:net";
import type { GeoBrokerCluster } from "../api/types.js";
import { externalNames } from "./external.js";
import type { KubeObject } from "./kube-object.js";
import { names } from "./names.js";
import { meta } from "./object-meta.js";

const certManager = "cert-manager.io/v1";

/**
 * Issuers and certificates. Without `spec.tls.issuerRef` the operator makes a private CA per
 * cluster: a self-signed Issuer signs the CA certificate, a CA Issuer signs the rest. `regions`
 * includes regions being removed: their nodes keep valid certificates until they are gone.
 */
export function tlsObjects(cluster: GeoBrokerCluster, regions: string[]): KubeObject[] {
  const c = cluster.metadata.name;
  const ns = cluster.metadata.namespace;
  const objects: KubeObject[] = [];
  let issuerRef: { name: string; kind: string; group: string };
  if (cluster.spec.tls.issuerRef) {
    const r = cluster.spec.tls.issuerRef;
    issuerRef = { name: r.name, kind: r.kind, group: r.group ?? "cert-manager.io" };
  } else {
    objects.push({
      apiVersion: certManager,
      kind: "Issuer",
      metadata: meta(cluster, names.selfSignedIssuer(c)),
      spec: { selfSigned: {} },
    });
    objects.push({
      apiVersion: certManager,
      kind: "Certificate",
      metadata: meta(cluster, names.caCertificate(c)),
      spec: {
        isCA: true,
        commonName: `${c}.${ns} geobroker CA`,
        secretName: names.caSecret(c),
        duration: "87600h",
        privateKey: { algorithm: "ECDSA", size: 256 },
        issuerRef: { name: names.selfSignedIssuer(c), kind: "Issuer", group: "cert-manager.io" },
      },
    });
    objects.push({
      apiVersion: certManager,
      kind: "Issuer",
      metadata: meta(cluster, names.caIssuer(c)),
      spec: { ca: { secretName: names.caSecret(c) } },
    });
    issuerRef = { name: names.caIssuer(c), kind: "Issuer", group: "cert-manager.io" };
  }
  const svc = (n: string) => [n, `${n}.${ns}`, `${n}.${ns}.svc`];
  const certificate = (
    name: string,
    secretName: string,
    usages: string[],
    names: string[],
    commonName: string,
  ) => {
    // cert-manager takes IP addresses apart from DNS names (an external NodePort host may be one).
    const ipAddresses = names.filter((n) => isIP(n) !== 0);
    return {
      apiVersion: certManager,
      kind: "Certificate",
      metadata: meta(cluster, name),
      spec: {
        secretName,
        commonName,
        dnsNames: names.filter((n) => isIP(n) === 0),
        ...(ipAddresses.length > 0 ? { ipAddresses } : {}),
        usages,
        duration: "2160h",
        renewBefore: "360h",
        privateKey: { algorithm: "ECDSA", size: 256, rotationPolicy: "Always" },
        issuerRef,
      },
    };
  };
  objects.push(
    certificate(
      names.peerCertificate(c),
      names.peerSecret(c),
      ["server auth", "client auth", "digital signature", "key encipherment"],
      regions.flatMap((r) => [
        `*.${names.peerService(c, r)}.${ns}.svc`,
        `*.${names.peerService(c, r)}.${ns}.svc.cluster.local`,
      ]),
      `${c}-peer`,
    ),
    certificate(
      names.clientCertificate(c),
      names.clientSecret(c),
      ["server auth", "digital signature", "key encipherment"],
      [
        ...svc(names.clusterService(c)),
        ...regions.flatMap((r) => [
          ...svc(names.regionService(c, r)),
          `*.${names.peerService(c, r)}.${ns}.svc`,
        ]),
        // Clients outside Kubernetes verify the names they dial: bootstrap and per-broker hosts.
        ...externalNames(cluster),
      ],
      c,
    ),
    // The operator's admin calls authenticate with this client certificate (mTLS).
    certificate(
      names.operatorCertificate(c),
      names.operatorSecret(c),
      ["client auth", "digital signature", "key encipherment"],
      [],
      operatorIdentity,
    ),
  );
  return objects;
}

/** The common name of the operator's client certificate: its identity on the brokers' client port. */
export const operatorIdentity = "geobroker-operator";
