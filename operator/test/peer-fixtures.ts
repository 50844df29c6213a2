import type { GeoBrokerCluster } from "../src/api/types.js";
import {
  enrollmentAudience,
  type PodFacts,
  podNameKey,
  podUidKey,
  type TokenReviewStatus,
} from "../src/pki/peer-signing.js";
import { makeCluster, regions3 } from "./world.js";

// A broker pod of cluster demo (namespace msg), its TokenReview and its cluster, as the enrollment
// endpoint sees them: what the API server of e2e answers for a pod-bound projected token.

export function review(
  pod = "demo-eu-0",
  uid = "uid-eu-0",
  o: Partial<TokenReviewStatus> = {},
): TokenReviewStatus {
  return {
    authenticated: true,
    audiences: [enrollmentAudience],
    user: {
      username: "system:serviceaccount:msg:default",
      extra: { [podNameKey]: [pod], [podUidKey]: [uid] },
    },
    ...o,
  };
}

export function brokerPodFacts(
  name = "demo-eu-0",
  o: { uid?: string; sa?: string; deleting?: boolean } = {},
): PodFacts {
  const region = name.split("-")[1]!;
  return {
    metadata: {
      name,
      namespace: "msg",
      uid: o.uid ?? `uid-${name.slice(5)}`,
      labels: { "geobroker.io/cluster": "demo", "geobroker.io/region": region },
      ownerReferences: [{ kind: "StatefulSet", name: `demo-${region}`, controller: true }],
      ...(o.deleting ? { deletionTimestamp: "2026-01-01T00:00:00Z" } : {}),
    },
    spec: { serviceAccountName: o.sa ?? "default" },
  };
}

export function uidCluster(): GeoBrokerCluster {
  const c = makeCluster({ regions: regions3(1) });
  c.metadata.uid = "cluster-uid-1";
  return c;
}
