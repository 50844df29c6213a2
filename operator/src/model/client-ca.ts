import type { GeoBrokerCluster } from "../api/types.js";
import type { KubeObject } from "./kube-object.js";
import { names } from "./names.js";
import { meta } from "./object-meta.js";

// CA certificates the brokers trust, from CAs whose keys only the operator holds (pki/): ConfigMaps,
// as they hold certificates only, no key, and pods see their updates without restarting (the broker
// watches the files). `<cluster>-client-ca`: the operator's identity CA, the brokers' client CA
// (`tls.client.ca`), so no cert-manager Issuer in the namespace can sign a client the brokers take.
// `<cluster>-peer-ca`: the cluster's peer CA (`tls.peer.ca`) and the CA of the operator's enrollment
// endpoint, where the brokers get their peer certificates (decision 0065).

export const clientCaFileName = "ca.crt";
export const peerCaFileName = "ca.crt";
export const enrollmentCaFileName = "enrollment-ca.crt";

export function clientCaConfigMap(cluster: GeoBrokerCluster, bundle: string): KubeObject {
  return caConfigMap(cluster, names.clientCaConfigMap(cluster.metadata.name), { [clientCaFileName]: bundle });
}

/** What the brokers need to get and check peer certificates. */
export interface PeerTrust {
  /** The cluster's peer CA certificate. */
  ca: string;
  /** The enrollment endpoint's CA certificate. */
  enrollmentCa: string;
}

export function peerCaConfigMap(cluster: GeoBrokerCluster, trust: PeerTrust): KubeObject {
  return caConfigMap(cluster, names.peerCaConfigMap(cluster.metadata.name), {
    [peerCaFileName]: trust.ca,
    [enrollmentCaFileName]: trust.enrollmentCa,
  });
}

function caConfigMap(cluster: GeoBrokerCluster, name: string, data: Record<string, string>): KubeObject {
  return { apiVersion: "v1", kind: "ConfigMap", metadata: meta(cluster, name), data };
}
