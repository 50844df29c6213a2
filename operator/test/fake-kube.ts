import type { EventInput, KubeClient } from "../src/kube/client.js";
import type { KubeObject, ObjectRef } from "../src/model/kube-object.js";

/** An in-memory API server: enough for one reconcile. */
export class FakeKube implements KubeClient {
  objects = new Map<string, KubeObject>();
  applied: string[] = [];
  deleted: string[] = [];
  statuses: unknown[] = [];
  events: EventInput[] = [];
  finalizers: string[][] = [];

  key(r: { kind: string; namespace?: string; name: string }) {
    return `${r.kind}/${r.namespace}/${r.name}`;
  }
  put(o: KubeObject) {
    this.objects.set(
      this.key({ kind: o.kind, namespace: o.metadata.namespace ?? "", name: o.metadata.name }),
      o,
    );
  }
  async apply(o: KubeObject) {
    this.applied.push(`${o.kind}/${o.metadata.name}`);
    this.put(o);
  }
  async delete(r: ObjectRef) {
    this.deleted.push(`${r.kind}/${r.name}`);
    this.objects.delete(this.key(r));
  }
  async scale() {}
  patched: string[] = [];
  async patch(r: ObjectRef, body: Record<string, unknown>) {
    this.patched.push(`${r.kind}/${r.name} ${JSON.stringify(body)}`);
  }
  async get<T>(r: ObjectRef) {
    return this.objects.get(this.key(r)) as T | undefined;
  }
  created: string[] = [];
  /** Answers for created kinds that are not stored (a TokenReview): kind -> answer. */
  answers = new Map<string, (o: KubeObject) => KubeObject>();
  async create<T>(o: KubeObject) {
    this.created.push(`${o.kind}/${o.metadata.name}`);
    const answer = this.answers.get(o.kind);
    if (answer) return answer(o) as T;
    if (
      this.objects.has(
        this.key({ kind: o.kind, namespace: o.metadata.namespace ?? "", name: o.metadata.name }),
      )
    )
      return undefined;
    this.put(o);
    return o as T;
  }
  async list<T>(_a: string, kind: string, ns: string, selector?: string) {
    // Comma-separated terms, each `key=value` or `key` (the label exists), as the API server reads them.
    const terms = (selector ?? "")
      .split(",")
      .filter((t) => t !== "")
      .map((t) => t.split("="));
    const matches = (labels: Record<string, string> | undefined) =>
      terms.every(([k, v]) => (v === undefined ? labels?.[k!] !== undefined : labels?.[k!] === v));
    return [...this.objects.values()].filter(
      (o) => o.kind === kind && o.metadata.namespace === ns && matches(o.metadata.labels),
    ) as T[];
  }
  async patchStatus(_r: ObjectRef, status: unknown) {
    this.statuses.push(status);
  }
  async setFinalizers(_r: ObjectRef, f: string[]) {
    this.finalizers.push(f);
  }
  async event(_i: unknown, e: EventInput) {
    this.events.push(e);
  }
}

/** A running, Ready broker pod `demo-<region>-0` of cluster demo in namespace msg, on `revision`. */
/** A Kubernetes node in zone `zone` (cluster-scoped: no namespace). */
export function zoneNode(name: string, zone: string): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Node",
    metadata: { name, namespace: "", labels: { "topology.kubernetes.io/zone": zone } },
  } as KubeObject;
}

/** demo-<region>-0 on node kube-<region>-a, running and ready on `revision`. */
export function brokerPod(region: string, revision: string): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Pod",
    spec: { nodeName: `kube-${region}-a` },
    metadata: {
      name: `demo-${region}-0`,
      namespace: "msg",
      labels: {
        "geobroker.io/cluster": "demo",
        "geobroker.io/region": region,
        "controller-revision-hash": revision,
      },
    },
    status: {
      phase: "Running",
      conditions: [{ type: "Ready", status: "True" }],
      containerStatuses: [{ name: "broker", state: { running: {} } }],
    },
  } as KubeObject;
}
