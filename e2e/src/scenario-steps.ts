import assert from "node:assert/strict";
import { eventually } from "../../broker/test/support/eventually.js";
import { regionClient } from "./broker-client.js";
import { cluster, clusterResource, ns, type RegionSize } from "./demo-cluster.js";
import type { Environment } from "./environment.js";
import { corePath, type KubeObject } from "./kube-rest.js";
import { checkDelivered, MessageNumbers, startLoad } from "./load.js";

// The steps cluster.e2e.test.ts's scenarios are made of: apply a resource, wait for the cluster's
// conditions, list its pods, read the topic back, publish under load and check every acknowledged
// message. One set per environment (scenarioSteps), so the scenarios read as what they do.

export const user = { name: "e2e-client", password: "e2e-client-password-1" };
export const topic = "orders";
export const gbcPath = `/apis/geobroker.io/v1alpha1/namespaces/${ns}/geobrokerclusters/${cluster}`;
export const minute = 60_000;
export const three: RegionSize[] = [
  { name: "eu", replicas: 1 },
  { name: "us", replicas: 1 },
  { name: "ap", replicas: 1 },
];
export const seconds = (since: number) => `${Math.round((Date.now() - since) / 1000)}s`;

export function podReady(pod: KubeObject): boolean {
  return (pod.status?.conditions ?? []).some(
    (c: { type: string; status: string }) => c.type === "Ready" && c.status === "True",
  );
}

/** The steps, over the environment `env()` returns (started in the suite's before hook). */
export function scenarioSteps(env: () => Environment) {
  /** Every number published to `topic`, over all scenarios, once. */
  const numbers = new MessageNumbers();
  async function apply(object: KubeObject): Promise<void> {
    await env().kubectl(
      { input: JSON.stringify(object) },
      "apply",
      "--server-side",
      "--field-manager=e2e",
      "-f",
      "-",
    );
  }

  async function gbc(): Promise<KubeObject> {
    const object = await env().kube.get(gbcPath);
    assert.ok(object, "the GeoBrokerCluster exists");
    return object;
  }

  /** Waits until the cluster reports Ready for its current generation with `nodes` ready nodes. */
  async function clusterReady(nodes: number, timeoutMs: number): Promise<KubeObject> {
    return eventually(
      `GeoBrokerCluster Ready with ${nodes}/${nodes} nodes`,
      timeoutMs,
      async () => {
        const object = await gbc();
        const ready = (object.status?.conditions ?? []).find((c: { type: string }) => c.type === "Ready");
        if (ready?.status !== "True" || ready.observedGeneration !== object.metadata.generation) {
          throw new Error(
            `status: ${object.status?.currentStep ?? ""} ${JSON.stringify(object.status?.conditions ?? [])}`,
          );
        }
        if (object.status.readyNodes !== `${nodes}/${nodes}`)
          throw new Error(`readyNodes ${object.status.readyNodes}`);
        return object;
      },
      1000,
    );
  }

  async function podsOf(region?: string): Promise<KubeObject[]> {
    const selector = encodeURIComponent(
      `geobroker.io/cluster=${cluster}${region ? `,geobroker.io/region=${region}` : ""}`,
    );
    return (await env().kube.list(`${corePath(ns, "pods")}?labelSelector=${selector}`)).items;
  }

  const client = (region: string) =>
    regionClient(
      env().kube,
      { namespace: ns, service: `${cluster}-${region}`, user: user.name, password: user.password },
      `${cluster}-client-tls`,
    );

  /**
   * Every message of the topic from the start, read through `region`, until `count` arrived or,
   * given `acked`, until every acknowledged number arrived: a publish that timed out may still have
   * been committed, so the stream can hold more messages than were acknowledged.
   */
  async function readAll(
    region: string,
    count: number,
    timeoutMs: number,
    acked?: number[],
  ): Promise<number[]> {
    const want = acked ? new Set(acked) : undefined;
    const { broker, close } = await client(region);
    const bodies: number[] = [];
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), timeoutMs);
    try {
      for await (const message of broker.subscribe({ topics: { [topic]: 0n } }, { signal: abort.signal })) {
        const n = Number(Buffer.from(message.body).toString());
        bodies.push(n);
        want?.delete(n);
        if (want ? want.size === 0 : bodies.length >= count) break;
      }
    } catch (err) {
      if (!abort.signal.aborted) throw err;
    } finally {
      clearTimeout(timer);
      close();
    }
    return bodies;
  }

  async function setRegions(sizes: RegionSize[], o?: Parameters<typeof clusterResource>[1]): Promise<void> {
    await apply(clusterResource(sizes, o));
  }

  /** The cluster's Degraded condition once it matches `pattern` (reason or message). */
  async function degraded(pattern: RegExp, timeoutMs: number): Promise<{ reason: string; message: string }> {
    return eventually(
      `Degraded ${pattern}`,
      timeoutMs,
      async () => {
        const d = ((await gbc()).status?.conditions ?? []).find(
          (c: { type: string }) => c.type === "Degraded",
        );
        if (d?.status !== "True" || !pattern.test(`${d.reason}: ${d.message}`))
          throw new Error(`Degraded: ${JSON.stringify(d ?? {})}`);
        return d;
      },
      1000,
    );
  }

  /** Publishes through `region` for the scenario, then checks every acknowledged message is stored in order. */
  async function underLoad(region: string, acked: number[], scenario: () => Promise<void>): Promise<void> {
    const load = startLoad(topic, numbers, () => client(region));
    await scenario();
    const result = await load.stop();
    env().log(
      `load via ${region}: ${result.acked.length} acked, ${result.errors} failed (${result.lastError ?? "none"})`,
    );
    assert.ok(result.acked.length > 10, "the load kept publishing");
    acked.push(...result.acked);
    const stored = await readAll(region === "eu" ? "us" : "eu", acked.length, 60_000, acked);
    const check = checkDelivered(stored, acked);
    assert.deepEqual(check.missing, [], "every acknowledged message is stored");
    assert.equal(check.outOfOrder, 0, "in publish order");
  }

  return { numbers, apply, gbc, clusterReady, podsOf, client, readAll, setRegions, degraded, underLoad };
}
