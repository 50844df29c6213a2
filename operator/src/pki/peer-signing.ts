import { Code } from "@connectrpc/connect";
import type { GeoBrokerCluster } from "../api/types.js";
import { enrollmentAudience, labelKeys, names } from "../model/names.js";

// Who may have which peer certificate: the pure decision of the enrollment endpoint
// (pki/enrollment-server.ts). A broker proves who it is with its pod's projected service-account
// token; the API server's TokenReview says whose it is. What the API server puts in the review of a
// pod-bound token (k8s.io/apiserver pkg/authentication/serviceaccount/util.go, kubernetes
// pkg/serviceaccount/claims.go, v1.37): username `system:serviceaccount:<ns>:<sa>`, and extra
// `authentication.kubernetes.io/pod-name` and `.../pod-uid` (lists of one string). A token whose pod
// was deleted, or whose pod uid no longer matches the pod of that name, is not authenticated at all.
// We check the pod again ourselves (uid, not terminating, a broker of this cluster run by its
// StatefulSet, the cluster's service account), because the review's cache may lag a deletion.
// Decision 0065.

export { enrollmentAudience };
export const podNameKey = "authentication.kubernetes.io/pod-name";
export const podUidKey = "authentication.kubernetes.io/pod-uid";

/** What a TokenReview answers (authentication.k8s.io/v1 TokenReviewStatus). */
export interface TokenReviewStatus {
  authenticated?: boolean;
  error?: string;
  audiences?: string[];
  user?: { username?: string; uid?: string; groups?: string[]; extra?: Record<string, string[]> };
}

export interface Refusal {
  ok: false;
  code: Code;
  message: string;
}

export interface TokenIdentity {
  ok: true;
  namespace: string;
  serviceAccount: string;
  podName: string;
  podUid: string;
}

const refuse = (code: Code, message: string): Refusal => ({ ok: false, code, message });

/** Whose token it is, from the review; refused when it is not a pod-bound service-account token for us. */
export function tokenIdentity(review: TokenReviewStatus | undefined): TokenIdentity | Refusal {
  if (!review?.authenticated)
    return refuse(
      Code.Unauthenticated,
      `the service-account token was not accepted by the API server${review?.error ? `: ${review.error}` : ""} (send the pod's projected token with audience ${enrollmentAudience})`,
    );
  if (!review.audiences?.includes(enrollmentAudience))
    return refuse(
      Code.Unauthenticated,
      `the token is not for audience ${enrollmentAudience} (audiences: ${(review.audiences ?? []).join(", ") || "none"})`,
    );
  const m = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(review.user?.username ?? "");
  if (!m)
    return refuse(
      Code.PermissionDenied,
      `only a service account may ask for a peer certificate, not ${JSON.stringify(review.user?.username ?? "")}`,
    );
  const podName = review.user?.extra?.[podNameKey]?.[0];
  const podUid = review.user?.extra?.[podUidKey]?.[0];
  if (!podName || !podUid)
    return refuse(
      Code.PermissionDenied,
      "the token is not bound to a pod (use a projected service-account token)",
    );
  return { ok: true, namespace: m[1]!, serviceAccount: m[2]!, podName, podUid };
}

/** The parts of a live pod the decision reads. */
export interface PodFacts {
  metadata: {
    name: string;
    namespace?: string;
    uid?: string;
    deletionTimestamp?: string;
    labels?: Record<string, string>;
    ownerReferences?: { kind: string; name: string; controller?: boolean }[];
  };
  spec?: { serviceAccountName?: string };
}

export interface PeerGrant {
  ok: true;
  commonName: string;
  dnsNames: string[];
  cluster: { namespace: string; name: string; uid: string };
}

export interface SigningInput {
  who: TokenIdentity;
  /** The CSR's subject CN. */
  commonName: string;
  /** The pod named in the token, read now; undefined when it no longer exists. */
  pod: PodFacts | undefined;
  /** The GeoBrokerCluster the pod's label names, read now. */
  cluster: GeoBrokerCluster | undefined;
}

/** Whether to sign, and what: CN = the pod's name (its node id), DNS names of its peer address. */
export function signingDecision({ who, commonName, pod, cluster }: SigningInput): PeerGrant | Refusal {
  if (commonName !== who.podName)
    return refuse(
      Code.PermissionDenied,
      `pod ${who.namespace}/${who.podName} may only ask for CN=${who.podName}, not CN=${commonName}`,
    );
  if (!pod) return refuse(Code.PermissionDenied, `pod ${who.namespace}/${who.podName} no longer exists`);
  if (pod.metadata.uid !== who.podUid)
    return refuse(
      Code.PermissionDenied,
      `pod ${who.namespace}/${who.podName} was replaced (uid ${pod.metadata.uid})`,
    );
  if (pod.metadata.deletionTimestamp)
    return refuse(Code.PermissionDenied, `pod ${who.namespace}/${who.podName} is terminating`);
  const labels = pod.metadata.labels ?? {};
  const clusterName = labels[labelKeys.cluster];
  const region = labels[labelKeys.region];
  const owner = pod.metadata.ownerReferences?.find((o) => o.controller);
  if (
    !clusterName ||
    !region ||
    owner?.kind !== "StatefulSet" ||
    owner.name !== names.statefulSet(clusterName, region)
  )
    return refuse(
      Code.PermissionDenied,
      `pod ${who.namespace}/${who.podName} is not a geobroker broker (no cluster and region labels, or not run by the region's StatefulSet)`,
    );
  if (!cluster?.metadata.uid)
    return refuse(Code.FailedPrecondition, `GeoBrokerCluster ${who.namespace}/${clusterName} does not exist`);
  const sa = cluster.spec.template?.serviceAccountName ?? "default";
  if (who.serviceAccount !== sa || (pod.spec?.serviceAccountName ?? "default") !== sa)
    return refuse(
      Code.PermissionDenied,
      `the token is service account ${who.serviceAccount}'s; cluster ${clusterName}'s brokers run as ${sa}`,
    );
  const host = `${who.podName}.${names.peerService(clusterName, region)}.${who.namespace}.svc`;
  return {
    ok: true,
    commonName,
    dnsNames: [host, `${host}.cluster.local`],
    cluster: { namespace: who.namespace, name: clusterName, uid: cluster.metadata.uid },
  };
}
