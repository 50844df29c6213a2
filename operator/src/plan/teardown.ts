import type { GeoBrokerCluster } from "../api/types.js";
import type { ObjectRef } from "../model/kube-object.js";
import { finalizer, names } from "../model/names.js";
import { tlsObjects } from "../model/tls.js";
import type { Plan, PlanInput } from "./types.js";

// Ordered teardown: brokers stop before their volumes go; the certificates, the issuers and
// the Secrets cert-manager wrote for them (not owned by the cluster, so garbage collection would
// leave them) go last, just before the finalizer is released.

export function planTeardown(cluster: GeoBrokerCluster, input: PlanInput): Plan {
  const { observed } = input;
  const ns = cluster.metadata.namespace;
  const base = { apply: [], scale: [], resize: [], status: {}, requeueAfterMs: 5_000 };
  if (!cluster.metadata.finalizers?.includes(finalizer)) return { ...base, delete: [], events: [] };
  const stsRefs: ObjectRef[] = observed.statefulSets.map((s) => ({
    apiVersion: "apps/v1",
    kind: "StatefulSet",
    namespace: ns,
    name: names.statefulSet(cluster.metadata.name, s.region),
  }));
  if (stsRefs.length > 0 || observed.pods.length > 0) {
    return {
      ...base,
      delete: stsRefs,
      events:
        stsRefs.length > 0
          ? [
              {
                type: "Normal",
                reason: "TearingDown",
                message: `stopping ${observed.pods.length} broker pod(s) before releasing the cluster`,
              },
            ]
          : [],
    };
  }
  if (cluster.spec.storage?.reclaimPolicy === "Delete" && observed.pvcs.length > 0) {
    return {
      ...base,
      delete: observed.pvcs.map((p) => ({
        apiVersion: "v1",
        kind: "PersistentVolumeClaim",
        namespace: ns,
        name: p.name,
      })),
      events: [
        {
          type: "Normal",
          reason: "DeletingVolumes",
          message: `deleting ${observed.pvcs.length} volume claim(s) (reclaimPolicy: Delete)`,
        },
      ],
    };
  }
  return { ...base, delete: tlsRefs(cluster), finalizer: "remove", events: [] };
}

/** Certificates first (or cert-manager would issue their Secrets again), then issuers, then Secrets. */
export function tlsRefs(cluster: GeoBrokerCluster): ObjectRef[] {
  const ns = cluster.metadata.namespace;
  const objects = tlsObjects(cluster, []);
  const ref = (o: { apiVersion: string; kind: string; metadata: { name: string } }): ObjectRef => ({
    apiVersion: o.apiVersion,
    kind: o.kind,
    namespace: ns,
    name: o.metadata.name,
  });
  const certificates = objects.filter((o) => o.kind === "Certificate");
  const secrets = certificates.map((o) => ({
    apiVersion: "v1",
    kind: "Secret",
    namespace: ns,
    name: (o.spec as { secretName: string }).secretName,
  }));
  // Clusters made before decision 0052 also have the operator's cert-manager identity; delete is a
  // no-op where it never existed.
  const c = cluster.metadata.name;
  // Clusters made before decision 0065 also have the cert-manager peer CA and shared peer certificate.
  const certManager = "cert-manager.io/v1";
  const retiredCertificates = [`${c}-operator`, names.peerCertificate(c), names.caCertificate(c)].map(
    (name) => ({
      apiVersion: certManager,
      kind: "Certificate",
      namespace: ns,
      name,
    }),
  );
  const retiredIssuers = [
    { apiVersion: certManager, kind: "Issuer", namespace: ns, name: names.caIssuer(c) },
  ];
  const retiredSecrets = [`${c}-operator-tls`, names.peerSecret(c), names.caSecret(c)].map((name) => ({
    apiVersion: "v1",
    kind: "Secret",
    namespace: ns,
    name,
  }));
  return [
    ...certificates.map(ref),
    ...retiredCertificates,
    ...objects.filter((o) => o.kind === "Issuer").map(ref),
    ...retiredIssuers,
    ...secrets,
    ...retiredSecrets,
  ];
}
