import { isIP } from "node:net";
import type { GeoBrokerCluster } from "../api/types.js";
import { externalNames } from "./external.js";
import type { KubeObject } from "./kube-object.js";
import { names } from "./names.js";
import { meta } from "./object-meta.js";

const certManager = "cert-manager.io/v1";

/**
 * Issuers and certificates: the client port's server certificate only. Without `spec.tls.issuerRef`
 * the operator makes a private server CA (`<cluster>-server-ca`, signed by a self-signed Issuer).
 * Peer and client certificates come from no Issuer: the operator signs them itself, each node's peer
 * certificate under the cluster's peer CA (pki/enrollment-server.ts) and its own identity
 * (pki/operator-identity.ts), with CA keys kept in its own namespace, so no Certificate in the
 * cluster's namespace can mint a node or the operator. `regions` includes regions being removed:
 * their nodes keep valid certificates until they are gone. Decisions 0052, 0065 and docs/security.md
 * "Who can mint what".
 */
export function tlsObjects(cluster: GeoBrokerCluster, regions: string[]): KubeObject[] {
  const c = cluster.metadata.name;
  const ns = cluster.metadata.namespace;
  const objects: KubeObject[] = [];
  let serverIssuer: IssuerRef;
  if (cluster.spec.tls.issuerRef) {
    const r = cluster.spec.tls.issuerRef;
    serverIssuer = { name: r.name, kind: r.kind, group: r.group ?? "cert-manager.io" };
  } else {
    objects.push({
      apiVersion: certManager,
      kind: "Issuer",
      metadata: meta(cluster, names.selfSignedIssuer(c)),
      spec: { selfSigned: {} },
    });
    const authority = (
      certificate: string,
      secret: string,
      issuer: string,
      commonName: string,
    ): IssuerRef => {
      objects.push(
        {
          apiVersion: certManager,
          kind: "Certificate",
          metadata: meta(cluster, certificate),
          spec: {
            isCA: true,
            commonName,
            secretName: secret,
            duration: "87600h",
            privateKey: { algorithm: "ECDSA", size: 256 },
            issuerRef: { name: names.selfSignedIssuer(c), kind: "Issuer", group: "cert-manager.io" },
          },
        },
        {
          apiVersion: certManager,
          kind: "Issuer",
          metadata: meta(cluster, issuer),
          spec: { ca: { secretName: secret } },
        },
      );
      return { name: issuer, kind: "Issuer", group: "cert-manager.io" };
    };
    serverIssuer = authority(
      names.serverCaCertificate(c),
      names.serverCaSecret(c),
      names.serverCaIssuer(c),
      `${c}.${ns} geobroker server CA`,
    );
  }
  const svc = (n: string) => [n, `${n}.${ns}`, `${n}.${ns}.svc`];
  const certificate = (
    name: string,
    secretName: string,
    usages: string[],
    names: string[],
    commonName: string,
    issuerRef: IssuerRef,
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
      serverIssuer,
    ),
  );
  return objects;
}

/**
 * The common name of the operator's client certificate: its identity on the brokers' client port
 * (admin in the ACL). Signed by the operator itself (pki/operator-identity.ts), never by an Issuer.
 */
export const operatorIdentity = "geobroker-operator";

interface IssuerRef {
  name: string;
  kind: string;
  group: string;
}
