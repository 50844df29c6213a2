import { corePath, type Kube, type KubeObject } from "../kube-rest.js";
import { kubernetesService, network } from "../paths.js";

// A container's environment, resolved as the kubelet does: image ENV, then the API server's
// address, then the container's `env` in order, with downward-API, ConfigMap and Secret values
// and `$(VAR)` references to variables defined before.

/** The downward API: a pod field by its fieldPath. */
export function fieldValue(pod: KubeObject, fieldPath: string): string {
  const m = /^metadata\.(annotations|labels)\['(.+)'\]$/.exec(fieldPath);
  if (m) {
    const map = (m[1] === "labels" ? pod.metadata.labels : pod.metadata.annotations) ?? {};
    return map[m[2] as string] ?? "";
  }
  switch (fieldPath) {
    case "metadata.name":
      return pod.metadata.name;
    case "metadata.namespace":
      return pod.metadata.namespace ?? "default";
    case "metadata.uid":
      return pod.metadata.uid ?? "";
    case "spec.nodeName":
      return pod.spec.nodeName ?? "";
    case "spec.serviceAccountName":
      return pod.spec.serviceAccountName ?? "default";
    case "status.podIP":
    case "status.hostIP":
      return (fieldPath === "status.podIP" ? pod.status?.podIP : network.hostIp) ?? "";
    default:
      throw new Error(`fieldRef ${fieldPath} is not supported by this kubelet`);
  }
}

/** `$(NAME)` -> value of NAME defined so far; `$$(NAME)` escapes; unknown references stay as written. */
export function expand(value: string, defined: Record<string, string>): string {
  return value.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (whole, name: string | undefined) => {
    if (whole === "$$") return "$";
    return name !== undefined && name in defined ? (defined[name] as string) : whole;
  });
}

// biome-ignore lint/suspicious/noExplicitAny: container specs are free-form JSON
type Container = any;

export async function containerEnv(
  kube: Kube,
  pod: KubeObject,
  container: Container,
  imageEnv: Record<string, string>,
): Promise<Record<string, string>> {
  const namespace = pod.metadata.namespace ?? "default";
  // The `kubernetes` Service, as the kubelet injects it (the service proxy routes its ClusterIP).
  const env: Record<string, string> = {
    PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    HOSTNAME: pod.spec.hostname ?? pod.metadata.name,
    ...imageEnv,
    KUBERNETES_SERVICE_HOST: kubernetesService.ip,
    KUBERNETES_SERVICE_PORT: String(kubernetesService.port),
    KUBERNETES_SERVICE_PORT_HTTPS: String(kubernetesService.port),
  };
  for (const from of (container.envFrom ?? []) as Container[]) {
    const ref = from.configMapRef ?? from.secretRef;
    const plural = from.configMapRef ? "configmaps" : "secrets";
    const source = await kube.get(corePath(namespace, plural, ref.name));
    if (!source && !ref.optional) throw new Error(`${plural.slice(0, -1)} "${ref.name}" not found`);
    for (const [k, v] of Object.entries((source?.data ?? {}) as Record<string, string>)) {
      env[`${from.prefix ?? ""}${k}`] = plural === "secrets" ? Buffer.from(v, "base64").toString() : v;
    }
  }
  for (const variable of (container.env ?? []) as Container[]) {
    if (variable.value !== undefined) {
      env[variable.name] = expand(variable.value, env);
      continue;
    }
    const from = variable.valueFrom ?? {};
    if (from.fieldRef) env[variable.name] = fieldValue(pod, from.fieldRef.fieldPath);
    else if (from.configMapKeyRef || from.secretKeyRef) {
      const ref = from.configMapKeyRef ?? from.secretKeyRef;
      const plural = from.configMapKeyRef ? "configmaps" : "secrets";
      const source = await kube.get(corePath(namespace, plural, ref.name));
      const raw = source?.data?.[ref.key] as string | undefined;
      if (raw === undefined) {
        if (ref.optional) continue;
        throw new Error(
          `env ${variable.name}: key "${ref.key}" of ${plural.slice(0, -1)} "${ref.name}" not found`,
        );
      }
      env[variable.name] = plural === "secrets" ? Buffer.from(raw, "base64").toString() : raw;
    } else
      throw new Error(
        `env ${variable.name}: only value, fieldRef, configMapKeyRef and secretKeyRef are supported`,
      );
  }
  return env;
}
