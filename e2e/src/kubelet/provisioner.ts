import { rmSync } from "node:fs";
import { join } from "node:path";
import type { Kube, KubeObject } from "../kube-rest.js";

// A dynamic volume provisioner for the e2e cluster: the default StorageClass names it, the PV
// controller marks claims for it, and it answers each claim with a hostPath PersistentVolume in a
// folder of the run, then deletes the folder when the volume is released (reclaimPolicy Delete).
// Claims outlive pods, so a broker's data survives a pod restart, as with a real disk.

export const storageClassName = "e2e-local";
const provisionerName = "geobroker.dev/e2e-hostpath";

export class Provisioner {
  private stopWatches: (() => void)[] = [];

  constructor(
    private readonly kube: Kube,
    private readonly volumesDir: string,
    private readonly log: (message: string) => void,
  ) {}

  async start(): Promise<void> {
    await this.kube.create("/apis/storage.k8s.io/v1/storageclasses", {
      apiVersion: "storage.k8s.io/v1",
      kind: "StorageClass",
      metadata: {
        name: storageClassName,
        annotations: { "storageclass.kubernetes.io/is-default-class": "true" },
      },
      provisioner: provisionerName,
      reclaimPolicy: "Delete",
      volumeBindingMode: "Immediate",
    });
    const onError = (err: Error) => this.log(`provisioner: watch: ${err.message}`);
    this.stopWatches.push(
      this.kube.informer(
        "/api/v1/persistentvolumeclaims",
        (e) => e.type !== "DELETED" && void this.onClaim(e.object),
        onError,
      ),
      this.kube.informer(
        "/api/v1/persistentvolumes",
        (e) => e.type !== "DELETED" && void this.onVolume(e.object),
        onError,
      ),
    );
  }

  private async onClaim(claim: KubeObject): Promise<void> {
    if (claim.spec.volumeName || claim.status?.phase === "Bound") return;
    if ((claim.spec.storageClassName ?? "") !== storageClassName) return;
    const name = `pvc-${claim.metadata.uid}`;
    try {
      await this.kube.create("/api/v1/persistentvolumes", {
        apiVersion: "v1",
        kind: "PersistentVolume",
        metadata: { name, annotations: { "pv.kubernetes.io/provisioned-by": provisionerName } },
        spec: {
          capacity: { storage: claim.spec.resources?.requests?.storage ?? "1Gi" },
          accessModes: claim.spec.accessModes ?? ["ReadWriteOnce"],
          persistentVolumeReclaimPolicy: "Delete",
          storageClassName,
          hostPath: { path: join(this.volumesDir, name), type: "" },
          claimRef: {
            apiVersion: "v1",
            kind: "PersistentVolumeClaim",
            namespace: claim.metadata.namespace,
            name: claim.metadata.name,
            uid: claim.metadata.uid,
          },
        },
      });
    } catch (err) {
      this.log(`provisioner: ${claim.metadata.namespace}/${claim.metadata.name}: ${(err as Error).message}`);
    }
  }

  private async onVolume(volume: KubeObject): Promise<void> {
    if (volume.metadata.annotations?.["pv.kubernetes.io/provisioned-by"] !== provisionerName) return;
    if (volume.status?.phase !== "Released" || volume.spec.persistentVolumeReclaimPolicy !== "Delete") return;
    rmSync(volume.spec.hostPath.path as string, { recursive: true, force: true });
    await this.kube
      .delete(`/api/v1/persistentvolumes/${volume.metadata.name}`)
      .catch((err: Error) => this.log(`provisioner: ${err.message}`));
  }

  stop(): void {
    for (const stop of this.stopWatches) stop();
  }
}
