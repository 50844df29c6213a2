import { readFileSync } from "node:fs";
import { evaluate } from "@marcbachmann/cel-js";
import { Ajv, type ValidateFunction } from "ajv";
import { parse } from "yaml";

// Validates custom resources against the CRDs in crds/ the way the API server would, minus what
// only a real server does (pruning, quantities): the OpenAPI schema through ajv, then every
// x-kubernetes-validations CEL rule through a JS CEL interpreter, transition rules (oldSelf)
// only where an old value exists at the same place, like Kubernetes does.

interface Schema {
  type?: string;
  properties?: Record<string, Schema>;
  items?: Schema;
  additionalProperties?: Schema | boolean;
  "x-kubernetes-validations"?: { rule: string; message: string }[];
  "x-kubernetes-list-type"?: string;
  "x-kubernetes-list-map-keys"?: string[];
  [k: string]: unknown;
}

export interface CrdProblem {
  path: string;
  message: string;
}

const root = new URL("../../../", import.meta.url).pathname;

export function loadCrd(file: string): { schema: Schema; kind: string } {
  const crd = parse(readFileSync(`${root}crds/${file}`, "utf8"));
  return { schema: crd.spec.versions[0].schema.openAPIV3Schema, kind: crd.spec.names.kind };
}

export class CrdValidator {
  private readonly validateSchema: ValidateFunction;

  constructor(private readonly schema: Schema) {
    const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: false });
    ajv.addFormat("int32", {
      type: "number",
      validate: (n: number) => Number.isInteger(n) && Math.abs(n) < 2 ** 31,
    });
    ajv.addFormat("int64", { type: "number", validate: (n: number) => Number.isInteger(n) });
    ajv.addFormat("date-time", { type: "string", validate: (s: string) => !Number.isNaN(Date.parse(s)) });
    this.validateSchema = ajv.compile(schema);
  }

  /** Problems with `object` (defaults are applied to it in place, like the API server does). */
  validate(object: unknown, old?: unknown): CrdProblem[] {
    if (!this.validateSchema(object)) {
      return (this.validateSchema.errors ?? []).map((e) => ({
        path: e.instancePath || "/",
        message: e.message ?? "invalid",
      }));
    }
    const problems: CrdProblem[] = [];
    celWalk(this.schema, object, old, "", problems);
    return problems;
  }
}

function celWalk(schema: Schema, value: unknown, old: unknown, path: string, out: CrdProblem[]): void {
  if (value === undefined) return;
  for (const v of schema["x-kubernetes-validations"] ?? []) {
    const transition = /\boldSelf\b/.test(v.rule);
    if (transition && old === undefined) continue;
    const context = transition ? { self: toCel(value), oldSelf: toCel(old) } : { self: toCel(value) };
    let ok: unknown;
    try {
      ok = evaluate(v.rule, context);
    } catch (err) {
      out.push({
        path: path || "/",
        message: `rule ${v.rule} failed to evaluate: ${(err as Error).message}`,
      });
      continue;
    }
    if (ok !== true) out.push({ path: path || "/", message: v.message });
  }
  if (schema.properties && value !== null && typeof value === "object" && !Array.isArray(value)) {
    for (const [key, sub] of Object.entries(schema.properties)) {
      const o = old as Record<string, unknown> | undefined;
      celWalk(sub, (value as Record<string, unknown>)[key], o?.[key], `${path}/${key}`, out);
    }
  }
  if (schema.items && Array.isArray(value)) {
    const keys = schema["x-kubernetes-list-map-keys"];
    const oldList = Array.isArray(old) ? (old as Record<string, unknown>[]) : [];
    value.forEach((item, i) => {
      // Only list-map items correlate with an old item (by key); others have no oldSelf.
      const match = keys
        ? oldList.find((o) => keys.every((k) => o?.[k] === (item as Record<string, unknown>)[k]))
        : undefined;
      celWalk(schema.items!, item, match, `${path}/${i}`, out);
    });
  }
}

/** CEL integers are int64: JSON integers become bigint so `self.replicas >= 1` type-checks. */
function toCel(v: unknown): unknown {
  if (typeof v === "number" && Number.isInteger(v)) return BigInt(v);
  if (Array.isArray(v)) return v.map(toCel);
  if (v !== null && typeof v === "object")
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, toCel(x)]));
  return v;
}
