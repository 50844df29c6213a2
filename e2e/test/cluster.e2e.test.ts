import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { eventually } from "../../broker/test/support/eventually.js";
import { outsideClient } from "../src/broker-client.js";
import { cluster, ns } from "../src/demo-cluster.js";
import { type Environment, startEnvironment } from "../src/environment.js";
import { corePath, type KubeObject } from "../src/kube-rest.js";
import { checkDelivered, startLoad } from "../src/load.js";
import { peerCertificatesOf } from "../src/peer-certificates.js";
import {
  gbcPath,
  minute,
  podReady,
  scenarioSteps,
  seconds,
  three,
  topic,
  user,
} from "../src/scenario-steps.js";

// The whole system on a real control plane: the chart installs the operator, the operator runs a
// three-region cluster, clients use it, and the cluster is scaled, hurt, grown and deleted.
// Scenarios run in order and share one cluster, each picking up where the last one left it.

let env: Environment;
const { numbers, apply, gbc, clusterReady, podsOf, client, readAll, setRegions, degraded, underLoad } =
  scenarioSteps(() => env);

describe("geobroker on a real Kubernetes control plane", () => {
  const acked: number[] = [];

  before(
    async () => {
      env = await startEnvironment(["sa"]);
    },
    { timeout: 5 * minute },
  );

  after(async () => {
    await env?.stop();
  });

  it("helm installs the operator chart and its pods become Ready", { timeout: 4 * minute }, async () => {
    const out = await env.helm(
      "install",
      "geobroker-operator",
      "helm/geobroker-operator",
      "--namespace",
      "geobroker-system",
      "--create-namespace",
      "--set",
      "image.tag=0.1.0",
      "--wait",
      "--timeout",
      "3m",
    );
    env.log(out.split("\n").slice(0, 6).join(" | "));
    const deployment = await env.kube.get(
      "/apis/apps/v1/namespaces/geobroker-system/deployments/geobroker-operator",
    );
    assert.equal(deployment?.status?.readyReplicas, 2, "both operator replicas are Ready");
    for (const crd of ["geobrokerclusters", "geobrokertopics", "geobrokerusers"]) {
      assert.ok(
        await env.kube.get(`/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd}.geobroker.io`),
        `CRD ${crd} installed`,
      );
    }
  });

  it("kubectl apply of a 3-region GeoBrokerCluster brings all pods and the cluster to Ready", {
    timeout: 8 * minute,
  }, async () => {
    await env.kubectl("create", "namespace", ns);
    await env.kube.create(corePath(ns, "secrets"), {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "e2e-client-password", namespace: ns },
      stringData: { password: user.password },
    });
    const started = Date.now();
    await setRegions([
      { name: "eu", replicas: 1 },
      { name: "us", replicas: 1 },
      { name: "ap", replicas: 1 },
    ]);
    await apply({
      apiVersion: "geobroker.io/v1alpha1",
      kind: "GeoBrokerUser",
      metadata: { name: user.name, namespace: ns },
      spec: {
        clusterRef: { name: cluster },
        passwordSecretRef: { name: "e2e-client-password" },
        acls: [{ topicPattern: topic, permissions: ["publish", "subscribe"] }],
      },
    });
    await apply({
      apiVersion: "geobroker.io/v1alpha1",
      kind: "GeoBrokerTopic",
      metadata: { name: topic, namespace: ns },
      spec: { clusterRef: { name: cluster }, partitions: 1, replicationFactor: 3, homeRegion: "eu" },
    });
    const ready = await clusterReady(3, 7 * minute);
    const pods = await podsOf();
    assert.equal(pods.length, 3);
    assert.ok(pods.every(podReady), "every broker pod is Ready");
    for (const pod of pods) {
      const region = pod.metadata.labels?.["geobroker.io/region"];
      assert.ok(
        pod.spec.nodeName.startsWith(`${region}-`),
        `${pod.metadata.name} runs on a ${region} node (${pod.spec.nodeName})`,
      );
    }
    env.log(
      `cluster Ready after ${Math.round((Date.now() - started) / 1000)}s; leader ${ready.status.leader}; members ${JSON.stringify(ready.status.members)}`,
    );
    await eventually("topic Ready", 2 * minute, async () => {
      const t = await env.kube.get(`/apis/geobroker.io/v1alpha1/namespaces/${ns}/geobrokertopics/${topic}`);
      const c = (t?.status?.conditions ?? []).find((x: { type: string }) => x.type === "Ready");
      if (c?.status !== "True") throw new Error(JSON.stringify(t?.status ?? {}));
      return true;
    });
  });

  it("trust is split per purpose, and each broker's peer certificate is its own node id from the operator's peer CA", {
    timeout: 2 * minute,
  }, async () => {
    const caOf = async (secret: string) => {
      const data = (await env.kube.get(corePath(ns, "secrets", secret)))?.data ?? {};
      return Buffer.from(data["ca.crt"] ?? "", "base64").toString();
    };
    // The peer CA is the operator's (its key in geobroker-system), published without key.
    const peerCaMap = (await env.kube.get(corePath(ns, "configmaps", `${cluster}-peer-ca`)))?.data ?? {};
    const peerCa = peerCaMap["ca.crt"] ?? "";
    assert.ok(!JSON.stringify(peerCaMap).includes("PRIVATE KEY"), "no key in the cluster's namespace");
    const seen = await peerCertificatesOf(await podsOf(), peerCa);
    env.log(`peer certificates: ${JSON.stringify(seen.map((s) => [s.pod, s.subject, s.signedByPeerCa]))}`);
    for (const s of seen) {
      assert.equal(s.subject, `CN=${s.pod}`, `${s.pod} presents its own node id`);
      assert.ok(s.signedByPeerCa, `${s.pod}'s certificate chains to the cluster's peer CA`);
      assert.match(s.dnsNames, new RegExp(`DNS:${s.pod}\\.`));
    }
    assert.equal(new Set(seen.map((s) => s.subject)).size, seen.length, "no certificate is shared");
    const brokerYaml =
      (await env.kube.get(corePath(ns, "configmaps", `${cluster}-config`)))?.data?.["broker.yaml"] ?? "";
    assert.ok(!brokerYaml.includes("sharedIdentities"), "the brokers accept no shared peer certificate");
    const serverCa = await caOf(`${cluster}-client-tls`);
    assert.ok(peerCa.includes("BEGIN CERTIFICATE") && serverCa.includes("BEGIN CERTIFICATE"));
    assert.notEqual(peerCa, serverCa, "the peer and the client port's server certificates have separate CAs");
    // The brokers' client CA: certificates only, none of them a cert-manager CA of the namespace.
    const clientCa =
      (await env.kube.get(corePath(ns, "configmaps", `${cluster}-client-ca`)))?.data?.["ca.crt"] ?? "";
    assert.ok(clientCa.includes("BEGIN CERTIFICATE") && !clientCa.includes("PRIVATE KEY"), clientCa);
    assert.ok(!clientCa.includes(peerCa.trim()) && !clientCa.includes(serverCa.trim()));
    const certificates = (await env.kube.list(`/apis/cert-manager.io/v1/namespaces/${ns}/certificates`))
      .items;
    assert.deepEqual(
      certificates.filter((c) => c.spec?.commonName === "geobroker-operator").map((c) => c.metadata.name),
      [],
      "no Certificate in the namespace names the operator",
    );
    // The operator reached the brokers with that identity: the cluster is Ready with its members.
    const gbc = await env.kube.get(
      `/apis/geobroker.io/v1alpha1/namespaces/${ns}/geobrokerclusters/${cluster}`,
    );
    assert.equal(gbc?.status?.members?.length, 3, JSON.stringify(gbc?.status ?? {}));
  });

  it("a client publishes through eu's Service endpoints and another subscribes through us's", {
    timeout: 3 * minute,
  }, async () => {
    const eu = await eventually(
      "eu client with a working publish",
      2 * minute,
      async () => {
        const c = await client("eu");
        try {
          const res = await c.broker.publish({ topic, body: Buffer.from("1") }, { timeoutMs: 10_000 });
          assert.ok(res.id);
          return c;
        } catch (err) {
          c.close();
          throw err;
        }
      },
      2000,
    );
    acked.push(1);
    for (let n = 2; n <= 50; n++) {
      await eu.broker.publish({ topic, body: Buffer.from(String(n)) }, { timeoutMs: 10_000 });
      acked.push(n);
      numbers.usedBelow(n + 1);
    }
    eu.close();
    const stored = await readAll("us", acked.length, 30_000, acked);
    env.log(`published 50 via eu (${eu.address}), read ${stored.length} via us`);
    assert.deepEqual(checkDelivered(stored, acked), { missing: [], outOfOrder: 0, duplicates: 0 });
  });

  it("outside clients: every broker has its own Service and name, and its external listener answers with outside addresses and zones", {
    timeout: 3 * minute,
  }, async () => {
    const object = await gbc();
    assert.deepEqual(object.status.endpoints.brokers, {
      "demo-eu-0": "demo-eu-0.eu.example.test:443",
      "demo-us-0": "us.example.test:31000",
    });
    const eu0 = await env.kube.get(corePath(ns, "services", "demo-eu-0-external"));
    assert.equal(eu0?.spec.type, "LoadBalancer");
    assert.equal(eu0?.spec.selector["statefulset.kubernetes.io/pod-name"], "demo-eu-0");
    assert.equal(eu0?.spec.ports[0].port, 443);
    const us0 = await env.kube.get(corePath(ns, "services", "demo-us-0-external"));
    assert.equal(us0?.spec.ports[0].nodePort, 31000);
    // What the LoadBalancer would carry: demo-eu-0's external listener, verified for its outside name.
    const pod = (await podsOf("eu")).find((p) => p.metadata.name === "demo-eu-0")!;
    const zones = new Map<string, string>();
    for (const p of await podsOf()) {
      const node = await env.kube.get(`/api/v1/nodes/${p.spec.nodeName}`);
      zones.set(p.metadata.name, String(node?.metadata.labels?.["topology.kubernetes.io/zone"] ?? ""));
    }
    const info = await eventually(
      "the external listener lists the members at their outside addresses, with their zones",
      2 * minute,
      async () => {
        const admin = await outsideClient(
          env.kube,
          ns,
          { address: pod.status.podIP, port: 9002, servername: "demo-eu-0.eu.example.test" },
          `${cluster}-client-tls`,
          user,
        );
        try {
          const r = await admin.cluster.getClusterInfo({}, { timeoutMs: 10_000 });
          for (const n of r.nodes)
            if (n.zone !== zones.get(n.id))
              throw new Error(`${n.id} zone ${n.zone || "none"}, its node's ${zones.get(n.id)}`);
          return r;
        } finally {
          admin.close();
        }
      },
      2000,
    );
    assert.deepEqual(Object.fromEntries(info.nodes.map((n) => [n.id, n.clientAddress])), {
      "demo-ap-0": "",
      "demo-eu-0": "demo-eu-0.eu.example.test:443",
      "demo-us-0": "us.example.test:31000",
    });
    env.log(`zones recorded: ${info.nodes.map((n) => `${n.id}=${n.zone}`).join(", ")}`);
  });

  it("scaling eu 1 -> 3 -> 1 under a publishing load loses no acknowledged message and keeps order", {
    timeout: 15 * minute,
  }, async () => {
    const load = startLoad(topic, numbers, () => client("us"));
    await setRegions([
      { name: "eu", replicas: 3 },
      { name: "us", replicas: 1 },
      { name: "ap", replicas: 1 },
    ]);
    await clusterReady(5, 7 * minute);
    env.log(`eu at 3: ${load.progress().acked.length} acked so far, ${load.progress().errors} failed`);
    await setRegions([
      { name: "eu", replicas: 1 },
      { name: "us", replicas: 1 },
      { name: "ap", replicas: 1 },
    ]);
    await clusterReady(3, 7 * minute);
    const result = await load.stop();
    env.log(
      `load: ${result.acked.length} acked, ${result.errors} failed publishes (${result.lastError ?? "none"})`,
    );
    assert.ok(result.acked.length > 20, "the load kept publishing through the scaling");
    acked.push(...result.acked);
    const stored = await readAll("ap", acked.length, 60_000, acked);
    const check = checkDelivered(stored, acked);
    env.log(
      `scaling: ${stored.length} stored, ${check.missing.length} missing, ${check.outOfOrder} out of order, ${check.duplicates} duplicates`,
    );
    assert.deepEqual(check.missing, [], "every acknowledged message is stored");
    assert.equal(check.outOfOrder, 0, "in publish order");
    assert.equal((await podsOf("eu")).length, 1, "eu is back to one pod");
  });

  it("a deleted pod and a broker killed with kill -9 both come back", { timeout: 8 * minute }, async () => {
    const before = (await podsOf("us"))[0] as KubeObject;
    await env.kubectl("delete", "pod", "-n", ns, before.metadata.name, "--wait=false");
    const replaced = await eventually(
      "a new Ready us pod",
      4 * minute,
      async () => {
        const pod = (await podsOf("us"))[0];
        return pod && pod.metadata.uid !== before.metadata.uid && podReady(pod) ? pod : undefined;
      },
      1000,
    );
    env.log(
      `${replaced.metadata.name} replaced (uid ${before.metadata.uid?.slice(0, 8)} -> ${replaced.metadata.uid?.slice(0, 8)})`,
    );
    await clusterReady(3, 3 * minute);

    const victim = `${cluster}-ap-0`;
    const worker = env.agent.pod(ns, victim);
    const pid = worker?.pid();
    assert.ok(pid, `${victim} has a running broker process`);
    process.kill(pid, "SIGKILL");
    const restarted = await eventually(
      `${victim} restarted and Ready`,
      3 * minute,
      async () => {
        const pod = await env.kube.get(corePath(ns, "pods", victim));
        const restarts = pod?.status?.containerStatuses?.[0]?.restartCount ?? 0;
        return pod && restarts >= 1 && podReady(pod) ? pod : undefined;
      },
      1000,
    );
    env.log(
      `${victim}: pid ${pid} killed, restartCount ${restarted.status.containerStatuses[0].restartCount}, Ready again`,
    );
    await clusterReady(3, 3 * minute);
    const stored = await readAll("us", acked.length, 60_000, acked);
    assert.deepEqual(checkDelivered(stored, acked).missing, [], "no acknowledged message was lost");
  });

  it("a region is added and removed", { timeout: 12 * minute }, async () => {
    await setRegions([
      { name: "eu", replicas: 1 },
      { name: "us", replicas: 1 },
      { name: "ap", replicas: 1 },
      { name: "sa", replicas: 1 },
    ]);
    const grown = await clusterReady(4, 6 * minute);
    assert.ok(
      grown.status.members.some((m: { region: string; state: string }) => m.region === "sa"),
      `sa joined: ${JSON.stringify(grown.status.members)}`,
    );
    const sa = await client("sa");
    await sa.broker.publish({ topic, body: Buffer.from(String(acked.length + 1)) }, { timeoutMs: 10_000 });
    sa.close();
    acked.push(acked.length + 1);
    await setRegions([
      { name: "eu", replicas: 1 },
      { name: "us", replicas: 1 },
      { name: "ap", replicas: 1 },
    ]);
    const shrunk = await clusterReady(3, 6 * minute);
    assert.ok(
      !shrunk.status.members.some((m: { region: string }) => m.region === "sa"),
      "sa left the membership",
    );
    await eventually(
      "sa's StatefulSet and Services deleted",
      2 * minute,
      async () => {
        const sts = await env.kube.get(`/apis/apps/v1/namespaces/${ns}/statefulsets/${cluster}-sa`);
        const svc = await env.kube.get(corePath(ns, "services", `${cluster}-sa`));
        return sts || svc ? undefined : true;
      },
      1000,
    );
    const stored = await readAll("eu", acked.length, 60_000, acked);
    assert.deepEqual(checkDelivered(stored, acked).missing, []);
  });

  it("a rolling update (config change) under load restarts every pod once and loses nothing", {
    timeout: 12 * minute,
  }, async () => {
    const started = Date.now();
    const before = new Map((await podsOf()).map((p) => [p.metadata.name, p.metadata.uid]));
    await underLoad("us", acked, async () => {
      await setRegions(three, { logLevel: "debug" });
      await eventually(
        "every pod restarted",
        8 * minute,
        async () => {
          const pods = await podsOf();
          const fresh = pods.filter((p) => p.metadata.uid !== before.get(p.metadata.name) && podReady(p));
          if (fresh.length < before.size) throw new Error(`${fresh.length}/${before.size} restarted`);
          return true;
        },
        2000,
      );
      await clusterReady(3, 4 * minute);
    });
    env.log(`rolling update under load: ${seconds(started)}`);
  });

  it("kubectl scale on a GeoBrokerNodePool grows eu; its leader killed mid scale-down, the other replica finishes it", {
    timeout: 15 * minute,
  }, async () => {
    const started = Date.now();
    await apply({
      apiVersion: "geobroker.io/v1alpha1",
      kind: "GeoBrokerNodePool",
      metadata: { name: `${cluster}-eu`, namespace: ns },
      spec: { clusterRef: { name: cluster }, region: "eu", replicas: 1 },
    });
    await env.kubectl("scale", "-n", ns, "geobrokernodepool", `${cluster}-eu`, "--replicas=2");
    await clusterReady(4, 7 * minute);
    const pool = await eventually(
      "the pool's status for the scale subresource",
      minute,
      async () => {
        const p = await env.kube.get(
          `/apis/geobroker.io/v1alpha1/namespaces/${ns}/geobrokernodepools/${cluster}-eu`,
        );
        return p?.status?.readyReplicas === 2 ? p : undefined;
      },
      1000,
    );
    assert.match(pool.status.selector, /geobroker\.io\/region=eu/);
    env.log(`kubectl scale gbnp ${cluster}-eu --replicas=2: Ready after ${seconds(started)}`);
    await env.kubectl("scale", "-n", ns, "geobrokernodepool", `${cluster}-eu`, "--replicas=1");
    await eventually(
      "the scale-down under way",
      2 * minute,
      async () => {
        const step = (await gbc()).status?.currentStep ?? "";
        if (!/demo-eu-1/.test(step)) throw new Error(`step: ${step}`);
        return step;
      },
      500,
    );
    const leaseOf = async () =>
      (
        await env.kube.get(
          "/apis/coordination.k8s.io/v1/namespaces/geobroker-system/leases/geobroker-operator",
        )
      )?.spec?.holderIdentity as string | undefined;
    const clientCa = async () =>
      (await env.kube.get(corePath(ns, "configmaps", `${cluster}-client-ca`)))?.data?.["ca.crt"] as string;
    const trustedBefore = await clientCa();
    const holder = (await leaseOf()) ?? "";
    const leaderPod = holder.split("_")[0] ?? "";
    assert.match(leaderPod, /^geobroker-operator-/, `the Lease names a pod: ${holder}`);
    // Watch the status for the brokers refusing the operator (an identity they do not trust yet).
    const refusedAt: number[] = [];
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        if (/unauthenticated/i.test(JSON.stringify((await gbc().catch(() => undefined))?.status ?? {})))
          refusedAt.push(Date.now());
        await new Promise((r) => setTimeout(r, 500));
      }
    })();
    await env.kubectl("delete", "pod", "-n", "geobroker-system", leaderPod, "--grace-period=0", "--force");
    env.log(`deleted the operator leader ${leaderPod} mid scale-down`);
    // The new leader signs under the same identity CA (decision 0066): the brokers' client CA never
    // changes, so its first admin call is trusted. Before, it wrote a new CA and waited on the kubelet.
    await clusterReady(3, 8 * minute);
    assert.equal(await clientCa(), trustedBefore, "the brokers' client CA is unchanged by the failover");
    const next = (await leaseOf()) ?? "";
    watching = false;
    await watcher;
    const gap = refusedAt.length ? (refusedAt.at(-1)! - refusedAt[0]! + 500) / 1000 : 0;
    env.log(
      `operator failover: client CA unchanged; status polls showing the operator refused: ${refusedAt.length} (gap ${gap}s)`,
    );
    assert.equal(refusedAt.length, 0, "the new leader's identity is trusted from its first call");
    assert.notEqual(next.split("_")[0], leaderPod, `another replica leads now (${next})`);
    assert.equal((await podsOf("eu")).length, 1, "eu is back to one pod");
    await env.kubectl("delete", "geobrokernodepool", "-n", ns, `${cluster}-eu`);
    env.log(`leader failover mid scale-down finished by ${next}: ${seconds(started)}`);
  });

  it("a whole region lost (its machines gone) is removed with the confirmation while the others publish", {
    timeout: 20 * minute,
  }, async () => {
    const started = Date.now();
    await setRegions([...three, { name: "sa", replicas: 1 }], { logLevel: "debug" });
    await clusterReady(4, 7 * minute);
    await underLoad("us", acked, async () => {
      const nodes = await env.agent.loseRegion("sa");
      // The cloud's node controller deletes vanished machines; pod GC then removes their pods.
      for (const n of nodes) await env.kubectl("delete", "node", n, "--wait=false");
      env.log(`region sa lost (nodes ${nodes.join(", ")})`);
      const seen = await degraded(/demo-sa-0/, 3 * minute);
      env.log(`status while sa is lost: ${seen.reason}: ${seen.message}`);
      await setRegions(three, { logLevel: "debug" });
      const refused = await degraded(/ConfirmationRequired/, 2 * minute);
      assert.match(refused.message, /geobroker\.io\/force-remove: sa/);
      await setRegions(three, { logLevel: "debug", annotations: { "geobroker.io/force-remove": "sa" } });
      await clusterReady(3, 10 * minute);
    });
    const members = (await gbc()).status.members as { region: string }[];
    assert.ok(!members.some((m) => m.region === "sa"), `sa left the membership: ${JSON.stringify(members)}`);
    const events = await env.kube.list(`${corePath(ns, "events")}?fieldSelector=reason%3DForceRemovingNode`);
    assert.ok(events.items.length > 0, "the forced removal is recorded as an Event");
    env.log(`lost region removed under load: ${seconds(started)}`);
  });

  it("deleting the cluster removes everything it made", { timeout: 5 * minute }, async () => {
    const uid = (await gbc()).metadata.uid as string;
    await env.kubectl("delete", "geobrokercluster", "-n", ns, cluster, "--wait=false");
    const selector = encodeURIComponent(`geobroker.io/cluster=${cluster}`);
    const kinds = [
      "/apis/apps/v1/namespaces/messaging/statefulsets",
      corePath(ns, "pods"),
      corePath(ns, "services"),
      corePath(ns, "configmaps"),
      corePath(ns, "persistentvolumeclaims"),
      "/apis/policy/v1/namespaces/messaging/poddisruptionbudgets",
      "/apis/cert-manager.io/v1/namespaces/messaging/certificates",
    ];
    await eventually(
      "every object of the cluster gone",
      4 * minute,
      async () => {
        const left: string[] = [];
        for (const kind of kinds) {
          for (const item of (await env.kube.list(`${kind}?labelSelector=${selector}`)).items)
            left.push(`${kind.split("/").pop()}/${item.metadata.name}`);
        }
        if (await env.kube.get(gbcPath)) left.push("geobrokercluster");
        // The peer CA's key, in the operator's namespace (no owner reference reaches it).
        if (await env.kube.get(corePath("geobroker-system", "secrets", `geobroker-peer-ca-${uid}`)))
          left.push(`secret/geobroker-system/geobroker-peer-ca-${uid}`);
        // cert-manager's Secrets carry no label of ours, and the CA issuers must go too.
        for (const name of ["ca", "server-ca", "peer-tls", "client-tls", "users"])
          if (await env.kube.get(corePath(ns, "secrets", `${cluster}-${name}`)))
            left.push(`secret/${cluster}-${name}`);
        for (const kind of ["issuers", "certificates"])
          for (const item of (await env.kube.list(`/apis/cert-manager.io/v1/namespaces/${ns}/${kind}`)).items)
            left.push(`${kind}/${item.metadata.name}`);
        if (left.length > 0) throw new Error(`left: ${left.join(", ")}`);
        return true;
      },
      2000,
    );
    const volumes = (await env.kube.list("/api/v1/persistentvolumes")).items.filter(
      (v) => v.spec.claimRef?.namespace === ns,
    );
    assert.deepEqual(
      volumes.map((v) => v.metadata.name),
      [],
      "reclaimPolicy Delete: the volumes are gone too",
    );
  });
});
