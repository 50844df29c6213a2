// Desired-state builders: spec in, objects out, no I/O. Like Strimzi's model classes, they are
// the only place that knows what a geobroker pod, service or certificate looks like. One file a
// resource kind, re-exported here:
//   statefulset.ts    the region's StatefulSet (pod template, probes, volumes, claim template)
//   services.ts       peer, region, cluster, metrics and external Services
//   tls.ts            cert-manager Issuers and Certificates (the Secrets they write)
//   users-secret.ts   the users and ACL files Secret
//   configmap.ts      the broker config file ConfigMap
//   pdb.ts            the PodDisruptionBudget
//   object-meta.ts    labels and owner reference, shared by all of them
// RBAC and the monitoring bundle are not built by the operator: they are the Helm chart's.

export { configMap } from "./configmap.js";
export { maxUnavailable, podDisruptionBudget } from "./pdb.js";
export {
  clusterService,
  externalService,
  metricsService,
  peerService,
  regionService,
} from "./services.js";
export { preStopDrain, type StatefulSetInput, statefulSet } from "./statefulset.js";
export { tlsObjects } from "./tls.js";
export { type UserEntry, usersSecret } from "./users-secret.js";
