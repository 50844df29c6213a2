import type { GeoBrokerCluster } from "../api/types.js";
import type { KubeObject } from "./kube-object.js";
import { names } from "./names.js";
import { meta } from "./object-meta.js";

// The brokers' client-certificate CA (`tls.client.ca`): the CA certificates of the operator's own
// identity (pki/identity-keeper.ts), and nothing else, so no cert-manager Issuer in the namespace
// can sign a certificate the brokers take for a client. A ConfigMap: it holds certificates only,
// no key, and pods see its updates without restarting (the broker watches the file).

export const clientCaFileName = "ca.crt";

export function clientCaConfigMap(cluster: GeoBrokerCluster, bundle: string): KubeObject {
  return {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: meta(cluster, names.clientCaConfigMap(cluster.metadata.name)),
    data: { [clientCaFileName]: bundle },
  };
}
