import type { PeerEntry } from "../model/broker-config.js";
import type { UserEntry } from "../model/builders.js";
import type { PeerTrust } from "../model/client-ca.js";

// What the controller read from the API server and the broker before planning. Everything the
// planner decides is a function of this, so a restarted operator resumes where the cluster is.

export interface ObservedStatefulSet {
  region: string;
  /** spec.replicas: the step the operator last took. */
  replicas: number;
  readyReplicas: number;
  updatedReplicas: number;
  updateRevision: string;
  storageSize: string;
  storageClassName?: string;
  /** status.observedGeneration has caught up with the spec: updateRevision is current. */
  settled?: boolean;
}

export interface ObservedPod {
  name: string;
  region: string;
  ordinal: number;
  /** Containers started: the broker process can take an AddNode. */
  running: boolean;
  ready: boolean;
  /** controller-revision-hash label: compared with the StatefulSet's updateRevision. */
  revision: string;
  terminating: boolean;
  /** The pod carries geobroker.io/manual-roll: "true": restart it like an outdated pod. */
  manualRoll?: boolean;
  /** topology.kubernetes.io/zone of the Kubernetes node it runs on; undefined when unknown. */
  zone?: string;
}

export interface ObservedPvc {
  name: string;
  region: string;
  ordinal: number;
  /** spec.resources.requests.storage */
  size?: string;
  /** metadata.uid: a new uid under the same name is a replaced (empty) volume. */
  uid?: string;
}

export type BrokerNodeState = "learner" | "voter" | "draining" | "drained" | "unknown";

export interface BrokerNode {
  id: string;
  region: string;
  state: BrokerNodeState;
  reachable: boolean;
  /** The zone the broker's membership records for it (replica placement spreads over zones). */
  zone?: string;
}

export interface BrokerGroup {
  id: bigint;
  /** "metadata", or the topic of a data group */
  topic: string;
  leader: string;
  members: { nodeId: string; role: "voter" | "learner"; lagEntries: bigint }[];
}

export type ObservedBroker =
  | {
      reachable: true;
      nodes: BrokerNode[];
      groups: BrokerGroup[];
      /** Absent when the broker's topic list could not be read. */
      topics?: { name: string; replicationFactor: number }[];
    }
  | { reachable: false; error: string };

export interface Observed {
  statefulSets: ObservedStatefulSet[];
  pods: ObservedPod[];
  pvcs: ObservedPvc[];
  /** The frozen initial voters from the existing ConfigMap; undefined when there is none yet. */
  initialPeers?: PeerEntry[];
  /** The ConfigMap records that the initial voters formed the cluster. */
  formed?: boolean;
  /** The ConfigMap's record of which volume claim (uid) each member joined with. */
  memberVolumes?: Record<string, string>;
  broker: ObservedBroker;
  users: UserEntry[];
  /** Names of the per-broker external Services that exist (label geobroker.io/external-node). */
  brokerServices?: string[];
  /**
   * The CA certificates (PEM) of the operator's own admin identity, which the brokers must trust for
   * client certificates (model/client-ca.ts). Undefined: the `<cluster>-client-ca` ConfigMap is left as it is.
   */
  operatorCa?: string;
  /**
   * The cluster's peer CA and the enrollment endpoint's CA (certificates, PEM), for the
   * `<cluster>-peer-ca` ConfigMap (model/client-ca.ts). Undefined: that ConfigMap is left as it is.
   */
  peerTrust?: PeerTrust;
}
