import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Code } from "@connectrpc/connect";
import {
  type PodFacts,
  podNameKey,
  podUidKey,
  signingDecision,
  type TokenReviewStatus,
  tokenIdentity,
} from "../src/pki/peer-signing.js";
import { brokerPodFacts, review, uidCluster } from "./peer-fixtures.js";

// Who gets which peer certificate (decision 0065): only a pod of the cluster, run by its StatefulSet
// and service account, for its own name, with a live token for the operator's audience.

const refusedWith = (r: { ok: boolean; code?: Code; message?: string }, code: Code, pattern: RegExp) => {
  assert.equal(r.ok, false, "refused");
  assert.equal(r.code, code, `code ${Code[r.code ?? 0]}: ${r.message}`);
  assert.match(r.message ?? "", pattern);
};

describe("peer certificate signing decision", () => {
  const decide = (r: TokenReviewStatus, cn: string, pod: PodFacts | undefined, cluster = uidCluster()) => {
    const who = tokenIdentity(r);
    if (!who.ok) return who;
    return signingDecision({ who, commonName: cn, pod, cluster });
  };

  it("signs a broker pod's own name, with its peer DNS names, for its cluster", () => {
    const d = decide(review(), "demo-eu-0", brokerPodFacts());
    assert.deepEqual(d, {
      ok: true,
      commonName: "demo-eu-0",
      dnsNames: ["demo-eu-0.demo-eu-peers.msg.svc", "demo-eu-0.demo-eu-peers.msg.svc.cluster.local"],
      cluster: { namespace: "msg", name: "demo", uid: "cluster-uid-1" },
    });
  });

  it("refuses a pod asking for another pod's name", () => {
    refusedWith(
      decide(review(), "demo-us-0", brokerPodFacts()),
      Code.PermissionDenied,
      /may only ask for CN=demo-eu-0, not CN=demo-us-0/,
    );
  });

  it("refuses another service account's token", () => {
    const other = review("demo-eu-0", "uid-eu-0", {
      user: {
        username: "system:serviceaccount:msg:builder",
        extra: { [podNameKey]: ["demo-eu-0"], [podUidKey]: ["uid-eu-0"] },
      },
    });
    refusedWith(
      decide(other, "demo-eu-0", brokerPodFacts()),
      Code.PermissionDenied,
      /builder's; cluster demo's brokers run as default/,
    );
    // The pod runs as another account than the cluster's template names.
    refusedWith(
      decide(review(), "demo-eu-0", brokerPodFacts("demo-eu-0", { sa: "builder" })),
      Code.PermissionDenied,
      /run as default/,
    );
    // A user, not a service account.
    refusedWith(
      decide(review("demo-eu-0", "uid-eu-0", { user: { username: "alice" } }), "demo-eu-0", brokerPodFacts()),
      Code.PermissionDenied,
      /only a service account/,
    );
  });

  it("refuses a token for another audience, and one the API server did not authenticate", () => {
    refusedWith(
      decide(
        review("demo-eu-0", "uid-eu-0", { audiences: ["https://kubernetes.default.svc"] }),
        "demo-eu-0",
        brokerPodFacts(),
      ),
      Code.Unauthenticated,
      /not for audience geobroker-operator/,
    );
    refusedWith(
      decide(
        { authenticated: false, error: "[invalid bearer token, service account token has been invalidated]" },
        "demo-eu-0",
        brokerPodFacts(),
      ),
      Code.Unauthenticated,
      /not accepted by the API server: \[invalid bearer token, service account token has been invalidated\]/,
    );
  });

  it("refuses a deleted pod, a replaced one (another uid), and a terminating one", () => {
    refusedWith(decide(review(), "demo-eu-0", undefined), Code.PermissionDenied, /no longer exists/);
    refusedWith(
      decide(review(), "demo-eu-0", brokerPodFacts("demo-eu-0", { uid: "uid-new" })),
      Code.PermissionDenied,
      /was replaced/,
    );
    refusedWith(
      decide(review(), "demo-eu-0", brokerPodFacts("demo-eu-0", { deleting: true })),
      Code.PermissionDenied,
      /terminating/,
    );
  });

  it("refuses a pod no StatefulSet of the cluster runs, a token bound to no pod, and a missing cluster", () => {
    const stray = brokerPodFacts();
    stray.metadata.ownerReferences = [];
    refusedWith(decide(review(), "demo-eu-0", stray), Code.PermissionDenied, /not a geobroker broker/);
    refusedWith(
      decide(
        review("demo-eu-0", "uid-eu-0", { user: { username: "system:serviceaccount:msg:default" } }),
        "demo-eu-0",
        brokerPodFacts(),
      ),
      Code.PermissionDenied,
      /not bound to a pod/,
    );
    const gone = uidCluster();
    delete gone.metadata.uid;
    refusedWith(
      decide(review(), "demo-eu-0", brokerPodFacts(), gone),
      Code.FailedPrecondition,
      /does not exist/,
    );
  });
});
