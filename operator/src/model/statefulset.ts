import { regionStorage } from "../api/defaults.js";
import type { GeoBrokerCluster, RegionSpec } from "../api/types.js";
import { type BrokerConfig, configHash } from "./broker-config.js";
import { externalPort } from "./external.js";
import type { KubeObject } from "./kube-object.js";
import {
  annotationKeys,
  configDir,
  configFileName,
  dataDir,
  enrollmentAudience,
  enrollmentTokenDir,
  names,
  peerIssuedDir,
  ports,
  selectorLabels,
  tlsDir,
  usersDir,
} from "./names.js";
import { regionLabels, regionMeta } from "./object-meta.js";
import { withTemplate, zoneAffinity } from "./pod-template.js";

// A region's StatefulSet: the broker pod, its volumes and its claim template.

export const brokerUid = 10001;

/** The preStop hook: POST /drain on the node's loopback admin port, waiting for the answer. */
export const preStopDrain = [
  "node",
  "-e",
  `fetch('http://127.0.0.1:${ports.admin}/drain',{method:'POST'}).then(r=>r.text()).then(t=>console.log(t),e=>console.error(String(e)))`,
];

export interface StatefulSetInput {
  region: RegionSpec;
  replicas: number;
  config: BrokerConfig;
  /**
   * The running StatefulSet's claim size: a claim template cannot change, so a larger spec size
   * grows the claims themselves (the planner's resize) and the template keeps what it had.
   */
  claimSize?: string;
}

export function statefulSet(cluster: GeoBrokerCluster, input: StatefulSetInput): KubeObject {
  const c = cluster.metadata.name;
  const { region } = input;
  const labels = regionLabels(c, region.name);
  const storage = regionStorage(cluster.spec, region);
  const tlsSecrets = [{ name: "tls-client", secret: names.clientSecret(c), path: `${tlsDir}/client` }];
  const podSpec: Record<string, unknown> = {
    terminationGracePeriodSeconds: 60,
    securityContext: {
      runAsNonRoot: true,
      runAsUser: brokerUid,
      runAsGroup: brokerUid,
      fsGroup: brokerUid,
      seccompProfile: { type: "RuntimeDefault" },
    },
    affinity: zoneAffinity(
      region,
      region.affinity ?? {
        podAntiAffinity: {
          preferredDuringSchedulingIgnoredDuringExecution: [
            {
              weight: 100,
              podAffinityTerm: {
                topologyKey: "kubernetes.io/hostname",
                labelSelector: { matchLabels: selectorLabels(c, region.name) },
              },
            },
          ],
        },
      },
    ),
    topologySpreadConstraints: [
      {
        maxSkew: 1,
        topologyKey: "topology.kubernetes.io/zone",
        whenUnsatisfiable: "ScheduleAnyway",
        labelSelector: { matchLabels: selectorLabels(c, region.name) },
      },
    ],
    containers: [
      {
        name: "broker",
        image: cluster.spec.image,
        imagePullPolicy: cluster.spec.imagePullPolicy ?? "IfNotPresent",
        args: ["serve", "--config", `${configDir}/${configFileName}`],
        env: [
          { name: "POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
          { name: "GEOBROKER_NODE_ID", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
          { name: "GEOBROKER_REGION", value: region.name },
          // The node's zone, on pods where the API server copies node topology labels onto them
          // (PodTopologyLabelsAdmission); empty elsewhere. Informational (logs): the zone placement
          // uses is the one the operator records in the membership from the node's label (plan/zones.ts).
          {
            name: "GEOBROKER_ZONE",
            valueFrom: { fieldRef: { fieldPath: "metadata.labels['topology.kubernetes.io/zone']" } },
          },
          {
            name: "GEOBROKER_ADVERTISE_HOST",
            value: `$(POD_NAME).${names.peerService(c, region.name)}.${cluster.metadata.namespace}.svc`,
          },
          { name: "GEOBROKER_LOG_LEVEL", value: cluster.spec.logLevel },
        ],
        ports: [
          { name: "client", containerPort: ports.client },
          { name: "peer", containerPort: ports.peer },
          { name: "http", containerPort: ports.http },
          ...(cluster.spec.regions.some((r) => r.external)
            ? [{ name: "external", containerPort: externalPort }]
            : []),
        ],
        readinessProbe: { httpGet: { path: "/readyz", port: "http" }, periodSeconds: 5, failureThreshold: 3 },
        livenessProbe: {
          httpGet: { path: "/healthz", port: "http" },
          periodSeconds: 10,
          failureThreshold: 6,
        },
        startupProbe: { httpGet: { path: "/healthz", port: "http" }, periodSeconds: 5, failureThreshold: 60 },
        // An unplanned stop (node drain, eviction) still hands leaderships over before exiting.
        // Through the loopback-only admin port: /drain on the http port needs an admin's credentials.
        lifecycle: { preStop: { exec: { command: preStopDrain } } },
        resources: region.resources ?? {},
        securityContext: {
          allowPrivilegeEscalation: false,
          readOnlyRootFilesystem: true,
          capabilities: { drop: ["ALL"] },
        },
        volumeMounts: [
          { name: "data", mountPath: dataDir },
          { name: "config", mountPath: configDir, readOnly: true },
          { name: "users", mountPath: usersDir, readOnly: true },
          { name: "tmp", mountPath: "/tmp" },
          ...tlsSecrets.map((t) => ({ name: t.name, mountPath: t.path, readOnly: true })),
          { name: "tls-client-ca", mountPath: `${tlsDir}/client-ca`, readOnly: true },
          { name: "tls-peer-ca", mountPath: `${tlsDir}/peer-ca`, readOnly: true },
          { name: "tls-peer", mountPath: peerIssuedDir },
          { name: "enrollment-token", mountPath: enrollmentTokenDir, readOnly: true },
        ],
      },
    ],
    volumes: [
      { name: "config", configMap: { name: names.configMap(c) } },
      { name: "users", secret: { secretName: names.usersSecret(c), optional: true } },
      { name: "tmp", emptyDir: {} },
      ...tlsSecrets.map((t) => ({ name: t.name, secret: { secretName: t.secret } })),
      { name: "tls-client-ca", configMap: { name: names.clientCaConfigMap(c) } },
      { name: "tls-peer-ca", configMap: { name: names.peerCaConfigMap(c) } },
      // The node's peer key never touches a disk: the broker writes it here (security/peer-enrollment.ts).
      { name: "tls-peer", emptyDir: { medium: "Memory", sizeLimit: "1Mi" } },
      // What the broker proves itself with to the operator: bound to this pod, for the operator only.
      {
        name: "enrollment-token",
        projected: {
          sources: [
            { serviceAccountToken: { audience: enrollmentAudience, expirationSeconds: 600, path: "token" } },
          ],
        },
      },
    ],
  };
  if (region.nodeSelector) podSpec.nodeSelector = region.nodeSelector;
  if (region.tolerations) podSpec.tolerations = region.tolerations;
  const template = cluster.spec.template;
  const restart = cluster.metadata.annotations?.[annotationKeys.restart];
  return {
    apiVersion: "apps/v1",
    kind: "StatefulSet",
    metadata: regionMeta(cluster, names.statefulSet(c, region.name), region.name),
    spec: {
      replicas: input.replicas,
      serviceName: names.peerService(c, region.name),
      // The initial pods must start together to elect a leader; later growth is stepped by the operator.
      podManagementPolicy: "Parallel",
      // The operator restarts pods itself, one at a time, after moving their leaderships.
      updateStrategy: { type: "OnDelete" },
      // Volumes of removed nodes are handled by spec.storage.reclaimPolicy in the operator.
      persistentVolumeClaimRetentionPolicy: { whenDeleted: "Retain", whenScaled: "Retain" },
      selector: { matchLabels: selectorLabels(c, region.name) },
      template: {
        metadata: {
          // The operator's labels last: the selector must keep matching.
          labels: { ...(template?.labels ?? {}), ...labels },
          annotations: {
            ...(template?.annotations ?? {}),
            [annotationKeys.configHash]: configHash(input.config),
            // A new value rolls every pod, one at a time, the safe way (a manual restart).
            ...(restart ? { [annotationKeys.restart]: restart } : {}),
          },
        },
        spec: withTemplate(podSpec, template, "broker"),
      },
      volumeClaimTemplates: [
        {
          metadata: { name: "data", labels },
          spec: {
            accessModes: ["ReadWriteOnce"],
            ...(storage.storageClassName ? { storageClassName: storage.storageClassName } : {}),
            resources: { requests: { storage: input.claimSize ?? storage.size } },
          },
        },
      ],
    },
  };
}
