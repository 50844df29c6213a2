import {
  chownSync,
  existsSync,
  mkdirSync,
  readlinkSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { dirname, join } from "node:path";
import { corePath, type Kube, type KubeObject } from "../kube-rest.js";
import { fieldValue } from "./env.js";

// Pod volumes as host folders that the container's mount namespace binds at their mountPaths.
// ConfigMap, Secret and projected volumes are written the way the kubelet's atomic writer does:
// files in a timestamped folder, a `..data` symlink swapped in one rename, and each key a symlink
// through `..data`, so a reader never sees half an update (the broker's TLS hot reload relies on it).

type Files = Map<string, Buffer>;

// biome-ignore lint/suspicious/noExplicitAny: pod spec volumes are free-form JSON
type VolumeSpec = any;

export class VolumeError extends Error {}

function keyItems(
  data: Record<string, string> | undefined,
  items: { key: string; path: string }[] | undefined,
  decode: boolean,
): Files {
  const files: Files = new Map();
  const bytes = (v: string) => (decode ? Buffer.from(v, "base64") : Buffer.from(v));
  if (items) {
    for (const item of items) {
      const value = data?.[item.key];
      if (value !== undefined) files.set(item.path, bytes(value));
    }
  } else {
    for (const [key, value] of Object.entries(data ?? {})) files.set(key, bytes(value));
  }
  return files;
}

async function configMapFiles(kube: Kube, namespace: string, source: VolumeSpec): Promise<Files | undefined> {
  const cm = await kube.get(corePath(namespace, "configmaps", source.name));
  if (!cm) return undefined;
  const files = keyItems(cm.data, source.items, false);
  for (const [k, v] of keyItems(cm.binaryData as Record<string, string> | undefined, source.items, true))
    files.set(k, v);
  return files;
}

async function secretFiles(
  kube: Kube,
  namespace: string,
  name: string,
  source: VolumeSpec,
): Promise<Files | undefined> {
  const secret = await kube.get(corePath(namespace, "secrets", name));
  return secret ? keyItems(secret.data, source.items, true) : undefined;
}

async function tokenFile(kube: Kube, pod: KubeObject, source: VolumeSpec): Promise<Buffer> {
  const sa = pod.spec.serviceAccountName ?? "default";
  const review = await kube.request(
    "POST",
    `${corePath(pod.metadata.namespace ?? "default", "serviceaccounts", sa)}/token`,
    {
      apiVersion: "authentication.k8s.io/v1",
      kind: "TokenRequest",
      spec: {
        audiences: source.audience ? [source.audience] : [],
        expirationSeconds: source.expirationSeconds ?? 3607,
        boundObjectRef: { apiVersion: "v1", kind: "Pod", name: pod.metadata.name, uid: pod.metadata.uid },
      },
    },
  );
  return Buffer.from(review.status.token as string);
}

function missing(what: string, optional: boolean | undefined): undefined {
  if (optional) return undefined;
  throw new VolumeError(`${what} not found`);
}

/** The files of a ConfigMap, Secret or projected volume; undefined for an optional source that is absent. */
async function contentOf(kube: Kube, pod: KubeObject, volume: VolumeSpec): Promise<Files | undefined> {
  const namespace = pod.metadata.namespace ?? "default";
  if (volume.configMap) {
    return (
      (await configMapFiles(kube, namespace, volume.configMap)) ??
      missing(`configmap "${volume.configMap.name}"`, volume.configMap.optional)
    );
  }
  if (volume.secret) {
    const files = await secretFiles(kube, namespace, volume.secret.secretName, volume.secret);
    return files ?? missing(`secret "${volume.secret.secretName}"`, volume.secret.optional);
  }
  const files: Files = new Map();
  for (const source of volume.projected.sources as VolumeSpec[]) {
    let part: Files | undefined;
    if (source.serviceAccountToken) {
      part = new Map([
        [source.serviceAccountToken.path, await tokenFile(kube, pod, source.serviceAccountToken)],
      ]);
    } else if (source.configMap) {
      part =
        (await configMapFiles(kube, namespace, source.configMap)) ??
        missing(`configmap "${source.configMap.name}"`, source.configMap.optional);
    } else if (source.secret) {
      part =
        (await secretFiles(kube, namespace, source.secret.name, source.secret)) ??
        missing(`secret "${source.secret.name}"`, source.secret.optional);
    } else if (source.downwardAPI) {
      part = new Map();
      for (const item of source.downwardAPI.items as { path: string; fieldRef?: { fieldPath: string } }[]) {
        if (item.fieldRef) part.set(item.path, Buffer.from(fieldValue(pod, item.fieldRef.fieldPath)));
      }
    }
    for (const [k, v] of part ?? []) files.set(k, v);
  }
  return files;
}

/** Writes `files` under `dir` atomically (a new ..data generation) unless they match `previous`; returns their fingerprint. */
export function writeAtomically(dir: string, files: Files, previous: string | undefined): string {
  const fingerprint = JSON.stringify([...files].map(([k, v]) => [k, v.toString("base64")]).sort());
  if (fingerprint === previous) return fingerprint;
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const generation = `..${new Date().toISOString().replace(/[:.]/g, "_")}_${process.hrtime.bigint()}`;
  for (const [path, content] of files) {
    const target = join(dir, generation, path);
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, content, { mode: 0o644 });
  }
  mkdirSync(join(dir, generation), { recursive: true });
  const oldGeneration = existsSync(join(dir, "..data")) ? readlinkSync(join(dir, "..data")) : undefined;
  symlinkSync(generation, join(dir, "..data_tmp"));
  renameSync(join(dir, "..data_tmp"), join(dir, "..data"));
  for (const top of new Set([...files.keys()].map((p) => p.split("/")[0] as string))) {
    if (!existsSync(join(dir, top))) symlinkSync(join("..data", top), join(dir, top));
  }
  if (oldGeneration) rmSync(join(dir, oldGeneration), { recursive: true, force: true });
  return fingerprint;
}

export interface VolumeOwner {
  uid: number;
  gid: number;
}

/**
 * Materializes a pod's volumes under `podDir` and returns name -> host folder. Called again every
 * few seconds to pick up ConfigMap/Secret changes; `fingerprints` remembers what was written.
 */
export async function syncVolumes(
  kube: Kube,
  pod: KubeObject,
  podDir: string,
  owner: VolumeOwner | undefined,
  fingerprints: Map<string, string>,
): Promise<Map<string, string>> {
  const paths = new Map<string, string>();
  for (const volume of (pod.spec.volumes ?? []) as VolumeSpec[]) {
    const dir = join(podDir, "volumes", volume.name);
    if (volume.emptyDir) {
      if (!existsSync(dir)) {
        mkdirSync(dir, { recursive: true, mode: 0o777 });
        if (owner) chownSync(dir, owner.uid, owner.gid);
      }
      paths.set(volume.name, dir);
    } else if (volume.persistentVolumeClaim) {
      paths.set(volume.name, await claimPath(kube, pod, volume.persistentVolumeClaim.claimName, owner));
    } else if (volume.configMap || volume.secret || volume.projected) {
      const files = await contentOf(kube, pod, volume);
      if (files) fingerprints.set(volume.name, writeAtomically(dir, files, fingerprints.get(volume.name)));
      else mkdirSync(dir, { recursive: true });
      paths.set(volume.name, dir);
    } else {
      throw new VolumeError(
        `volume "${volume.name}": this kubelet supports emptyDir, configMap, secret, projected and persistentVolumeClaim`,
      );
    }
  }
  return paths;
}

async function claimPath(
  kube: Kube,
  pod: KubeObject,
  claimName: string,
  owner: VolumeOwner | undefined,
): Promise<string> {
  const namespace = pod.metadata.namespace ?? "default";
  const claim = await kube.get(corePath(namespace, "persistentvolumeclaims", claimName));
  if (!claim?.spec.volumeName) throw new VolumeError(`persistentvolumeclaim "${claimName}" is not bound yet`);
  const volume = await kube.get(`/api/v1/persistentvolumes/${claim.spec.volumeName}`);
  const path = volume?.spec.hostPath?.path as string | undefined;
  if (!path) throw new VolumeError(`persistentvolume "${claim.spec.volumeName}" has no hostPath`);
  if (!existsSync(path)) {
    mkdirSync(path, { recursive: true, mode: 0o770 });
    // fsGroup: the volume belongs to the pod's group, as the kubelet arranges for block/local volumes.
    if (owner) chownSync(path, owner.uid, owner.gid);
  }
  return path;
}
