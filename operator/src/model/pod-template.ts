import type { PodTemplateSpec, RegionSpec } from "../api/types.js";

// Pod template overrides merged over the pod the operator builds, and zone placement. Lists of
// named items (containers, volumes, env, ports, volumeMounts) merge by name, like a strategic
// merge patch; other lists are replaced; objects merge key by key.

export function mergeTemplate(base: unknown, over: unknown): unknown {
  if (over === undefined) return base;
  if (Array.isArray(base) && Array.isArray(over) && [...base, ...over].every(isNamed)) {
    const out = base.map((b) => {
      const o = over.find((x) => x.name === b.name);
      return o ? mergeTemplate(b, o) : b;
    });
    for (const o of over) if (!base.some((b) => b.name === o.name)) out.push(o);
    return out;
  }
  if (isPlainObject(base) && isPlainObject(over)) {
    const out: Record<string, unknown> = { ...base };
    for (const [k, v] of Object.entries(over)) out[k] = mergeTemplate(base[k], v);
    return out;
  }
  return over;
}

function isNamed(v: unknown): v is { name: string } {
  return isPlainObject(v) && typeof v.name === "string";
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/** The broker pod's spec with `spec.template` applied; `container` is the broker container's name. */
export function withTemplate(
  podSpec: Record<string, unknown>,
  template: PodTemplateSpec | undefined,
  container: string,
): Record<string, unknown> {
  if (!template) return podSpec;
  let spec = mergeTemplate(podSpec, template.pod ?? {}) as Record<string, unknown>;
  if (template.imagePullSecrets) spec.imagePullSecrets = template.imagePullSecrets;
  if (template.priorityClassName) spec.priorityClassName = template.priorityClassName;
  if (template.serviceAccountName) spec.serviceAccountName = template.serviceAccountName;
  const overContainer = {
    name: container,
    ...(template.container ?? {}),
    ...(template.env ? { env: template.env } : {}),
  };
  spec = mergeTemplate(spec, { containers: [overContainer] }) as Record<string, unknown>;
  return spec;
}

/** `zones`: the region's pods only go to nodes in those zones (topology.kubernetes.io/zone). */
export function zoneAffinity(region: RegionSpec, affinity: Record<string, unknown>): Record<string, unknown> {
  if (!region.zones || region.zones.length === 0) return affinity;
  return mergeTemplate(affinity, {
    nodeAffinity: {
      requiredDuringSchedulingIgnoredDuringExecution: {
        nodeSelectorTerms: [
          {
            matchExpressions: [{ key: "topology.kubernetes.io/zone", operator: "In", values: region.zones }],
          },
        ],
      },
    },
  }) as Record<string, unknown>;
}
