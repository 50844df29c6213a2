import { execFileSync } from "node:child_process";
import { parseAllDocuments } from "yaml";

// Renders the chart with the real helm binary (built once by scripts/ensure-helm.sh; the first
// build takes minutes, later runs find it). Shared by the chart's tests.

export const root = new URL("../../../", import.meta.url).pathname;
export const chart = `${root}helm/geobroker-operator`;

export function helm(): string {
  return execFileSync("bash", [`${root}scripts/ensure-helm.sh`], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
    timeout: 15 * 60_000,
  }).trim();
}

export interface Doc {
  kind: string;
  metadata: { name: string; namespace?: string };
  [k: string]: unknown;
}

export function template(...args: string[]): Doc[] {
  const out = execFileSync(
    helm(),
    ["template", "gb", chart, "--namespace", "ops", "--kube-version", "1.30.0", ...args],
    {
      encoding: "utf8",
    },
  );
  return parseAllDocuments(out)
    .map((d) => d.toJS() as Doc)
    .filter(Boolean);
}

export interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}

export function allowed(rules: Rule[], group: string, resource: string, verb: string): boolean {
  return rules.some(
    (r) => r.apiGroups.includes(group) && r.resources.includes(resource) && r.verbs.includes(verb),
  );
}
