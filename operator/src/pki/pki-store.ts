import type { KubeClient } from "../kube/client.js";
import type { KubeObject } from "../model/kube-object.js";
import { type CaPem, createCa, signLeaf } from "./ca.js";

// The operator's keys, in Secrets of the operator's own namespace (never a cluster's namespace, whose
// users may read Secrets or reference Issuers there): the identity CA that signs the operator's admin
// certificate, the enrollment endpoint's server certificate, and one peer CA per GeoBrokerCluster.
// Every replica reads the same Secrets, so all sign alike and a failover changes no trust. The first
// replica to need a Secret creates it; a replica that loses that race reads the winner's
// (create is atomic on the API server: 409 for the loser). Decisions 0065 and 0066.

const tenYears = 10 * 365 * 24 * 3600_000;

export interface PkiStoreOptions {
  /** The operator's namespace, where its Secrets live. */
  namespace: string;
  /** The Secret with the identity CA and the enrollment server certificate. */
  secretName: string;
  /** The enrollment Service's name (its DNS names go into the server certificate). */
  enrollmentService: string;
  now?: () => Date;
}

export interface EnrollmentTls {
  /** The trust anchor the brokers verify the endpoint with (published in `<cluster>-peer-ca`). */
  ca: string;
  cert: string;
  key: string;
}

export interface ClusterKey {
  namespace: string;
  name: string;
  uid: string;
}

/** The Secret holding a cluster's peer CA: named by the cluster's uid, so a re-created cluster gets a new CA. */
export function peerCaSecretName(cluster: ClusterKey): string {
  return `geobroker-peer-ca-${cluster.uid}`;
}

export class PkiStore {
  private readonly cache = new Map<string, Promise<Record<string, string>>>();

  constructor(
    private readonly kube: KubeClient,
    private readonly o: PkiStoreOptions,
  ) {}

  private now(): Date {
    return this.o.now?.() ?? new Date();
  }

  /** The CA of the operator's admin identity. */
  async identityCa(): Promise<CaPem> {
    const d = await this.operatorSecret();
    return { cert: d["identity-ca.crt"]!, key: d["identity-ca.key"]! };
  }

  /** The enrollment endpoint's certificate, key and trust anchor. */
  async enrollmentTls(): Promise<EnrollmentTls> {
    const d = await this.operatorSecret();
    return { ca: d["enrollment-ca.crt"]!, cert: d["enrollment.crt"]!, key: d["enrollment.key"]! };
  }

  /** The peer CA of one cluster (made on first use). */
  async peerCa(cluster: ClusterKey): Promise<CaPem> {
    const d = await this.secret(
      peerCaSecretName(cluster),
      async () => {
        const ca = await createCa(
          `${cluster.name}.${cluster.namespace} geobroker peer CA`,
          this.now(),
          tenYears,
        );
        return { "ca.crt": ca.cert, "ca.key": ca.key };
      },
      { "geobroker.io/cluster": cluster.name, "geobroker.io/cluster-namespace": cluster.namespace },
    );
    return { cert: d["ca.crt"]!, key: d["ca.key"]! };
  }

  /** Deletes a removed cluster's peer CA. */
  async deletePeerCa(cluster: ClusterKey): Promise<void> {
    const name = peerCaSecretName(cluster);
    this.cache.delete(name);
    await this.kube.delete({ apiVersion: "v1", kind: "Secret", namespace: this.o.namespace, name });
  }

  private operatorSecret(): Promise<Record<string, string>> {
    return this.secret(this.o.secretName, async () => {
      const now = this.now();
      const identity = await createCa("geobroker operator identity CA", now, tenYears);
      // The endpoint's CA signs one server certificate and is dropped: nothing else can chain to it.
      const enrollmentCa = await createCa("geobroker operator enrollment CA", now, tenYears);
      const svc = this.o.enrollmentService;
      const ns = this.o.namespace;
      const server = await signLeaf(enrollmentCa, {
        commonName: `${svc}.${ns}.svc`,
        dnsNames: [svc, `${svc}.${ns}`, `${svc}.${ns}.svc`, `${svc}.${ns}.svc.cluster.local`],
        usages: ["serverAuth"],
        now,
        lifetimeMs: tenYears,
      });
      return {
        "identity-ca.crt": identity.cert,
        "identity-ca.key": identity.key,
        "enrollment-ca.crt": enrollmentCa.cert,
        "enrollment.crt": server.cert,
        "enrollment.key": server.key,
      };
    });
  }

  /** The Secret's data (decoded), created with `make` when it does not exist. Cached once read. */
  private secret(
    name: string,
    make: () => Promise<Record<string, string>>,
    labels: Record<string, string> = {},
  ): Promise<Record<string, string>> {
    let hit = this.cache.get(name);
    if (!hit) {
      hit = this.readOrCreate(name, make, labels);
      this.cache.set(name, hit);
      // A failed read is not cached: the next caller tries again.
      hit.catch(() => this.cache.delete(name));
    }
    return hit;
  }

  private async readOrCreate(
    name: string,
    make: () => Promise<Record<string, string>>,
    labels: Record<string, string>,
  ): Promise<Record<string, string>> {
    const ref = { apiVersion: "v1", kind: "Secret", namespace: this.o.namespace, name };
    const decode = (s: KubeObject | undefined) =>
      s?.data
        ? Object.fromEntries(
            Object.entries(s.data as Record<string, string>).map(([k, v]) => [
              k,
              Buffer.from(v, "base64").toString(),
            ]),
          )
        : undefined;
    const existing = decode(await this.kube.get<KubeObject>(ref));
    if (existing) return existing;
    const data = await make();
    const created = await this.kube.create<KubeObject>({
      apiVersion: "v1",
      kind: "Secret",
      metadata: {
        name,
        namespace: this.o.namespace,
        labels: { "app.kubernetes.io/managed-by": "geobroker-operator", ...labels },
      },
      type: "Opaque",
      data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString("base64")])),
    } as KubeObject);
    if (created) return data;
    // Another replica created it first: use theirs, so all sign alike.
    const theirs = decode(await this.kube.get<KubeObject>(ref));
    if (!theirs) throw new Error(`Secret ${this.o.namespace}/${name} exists but could not be read`);
    return theirs;
  }
}
