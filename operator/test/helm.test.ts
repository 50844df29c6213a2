import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { allowed, chart, helm, type Rule, root, template } from "./helm-chart.js";

// Renders the chart with the real helm binary (built once by scripts/ensure-helm.sh; the first
// build takes minutes, later runs find it) and checks what a cluster would receive.

describe("helm chart", { timeout: 16 * 60_000 }, () => {
  it("lints clean", () => {
    const out = execFileSync(helm(), ["lint", chart, "--kube-version", "1.30.0"], { encoding: "utf8" });
    assert.match(out, /1 chart\(s\) linted, 0 chart\(s\) failed/);
  });

  it("renders the operator Deployment with leader election, probes and a non-root user", () => {
    const docs = template();
    assert.deepEqual(docs.map((d) => d.kind).sort(), [
      // The operator's role, and the cluster-scoped node reads (zone labels).
      "ClusterRole",
      "ClusterRole",
      "ClusterRoleBinding",
      "ClusterRoleBinding",
      "Deployment",
      // The lease's, and the operator's own Secrets (CA keys) in its namespace.
      "Role",
      "Role",
      "RoleBinding",
      "RoleBinding",
      // Metrics, and the peer-certificate enrollment endpoint.
      "Service",
      "Service",
      "ServiceAccount",
    ]);
    const deploy = docs.find((d) => d.kind === "Deployment") as unknown as {
      spec: {
        replicas: number;
        template: {
          spec: {
            serviceAccountName: string;
            securityContext: { runAsNonRoot: boolean };
            containers: {
              image: string;
              args: string[];
              livenessProbe: unknown;
              readinessProbe: unknown;
              resources: unknown;
            }[];
          };
        };
      };
    };
    assert.equal(deploy.spec.replicas, 2);
    const pod = deploy.spec.template.spec;
    assert.equal(pod.securityContext.runAsNonRoot, true);
    assert.equal(pod.serviceAccountName, "gb-geobroker-operator");
    const c = pod.containers[0]!;
    assert.equal(c.image, "ghcr.io/geobroker/geobroker-operator:0.1.0");
    assert.deepEqual(c.args, [
      "--metrics-port=8080",
      "--log-level=info",
      "--pki-namespace=ops",
      "--enrollment-service=gb-geobroker-operator",
      "--enrollment-port=8443",
      "--leader-elect",
      "--lease-namespace=ops",
    ]);
    assert.ok(c.livenessProbe && c.readinessProbe && c.resources);
  });

  it("passes values through: image, log level, watched namespaces", () => {
    const docs = template(
      "--set",
      "image.tag=1.2.3",
      "--set",
      "logLevel=debug",
      "--set",
      "watchNamespaces={team-a,team-b}",
      "--set",
      "leaderElection=false",
      "--set",
      "replicaCount=1",
    );
    const deploy = docs.find((d) => d.kind === "Deployment") as unknown as {
      spec: { template: { spec: { containers: { image: string; args: string[] }[] } } };
    };
    const c = deploy.spec.template.spec.containers[0]!;
    assert.equal(c.image, "ghcr.io/geobroker/geobroker-operator:1.2.3");
    assert.deepEqual(c.args, [
      "--metrics-port=8080",
      "--log-level=debug",
      "--pki-namespace=ops",
      "--enrollment-service=gb-geobroker-operator",
      "--enrollment-port=8443",
      "--namespace=team-a,team-b",
    ]);
    // Namespaced mode: one RoleBinding per watched namespace, no lease Role; the only cluster-wide
    // binding is the node reads' (nodes are cluster-scoped; a RoleBinding cannot grant them).
    assert.deepEqual(
      docs
        .filter((d) => d.kind === "ClusterRoleBinding")
        .map((d) => (d as unknown as { roleRef: { name: string } }).roleRef.name),
      ["gb-geobroker-operator-nodes"],
    );
    assert.deepEqual(
      docs
        .filter((d) => d.kind === "RoleBinding")
        .map((d) => d.metadata.namespace)
        .sort(),
      ["ops", "team-a", "team-b"],
    );
    // No lease Role; the operator's own Secrets (its CA keys) are in its namespace whatever it watches.
    assert.deepEqual(
      docs.filter((d) => d.kind === "Role").map((d) => `${d.metadata.namespace}/${d.metadata.name}`),
      ["ops/gb-geobroker-operator-pki"],
    );
  });

  it("grants what the operator calls and nothing wider", () => {
    const docs = template();
    const rules = (docs.find((d) => d.kind === "ClusterRole") as unknown as { rules: Rule[] }).rules;
    for (const r of rules) {
      for (const field of [r.apiGroups, r.resources, r.verbs])
        assert.equal(field.includes("*"), false, JSON.stringify(r));
    }
    const needed: [string, string, string][] = [
      ["geobroker.io", "geobrokerclusters", "watch"],
      ["geobroker.io", "geobrokerclusters/status", "patch"],
      ["geobroker.io", "geobrokerclusters/finalizers", "update"],
      ["apps", "statefulsets", "patch"],
      ["apps", "statefulsets", "delete"],
      ["", "pods", "delete"],
      ["", "persistentvolumeclaims", "delete"],
      ["", "secrets", "get"],
      ["", "events", "create"],
      ["policy", "poddisruptionbudgets", "patch"],
      ["cert-manager.io", "certificates", "patch"],
      ["cert-manager.io", "issuers", "patch"],
    ];
    for (const [g, res, verb] of needed) assert.ok(allowed(rules, g, res, verb), `${verb} ${g}/${res}`);
    assert.equal(allowed(rules, "", "nodes", "get"), false);
    assert.equal(allowed(rules, "", "pods", "create"), false);
    const lease = (docs.find((d) => d.kind === "Role") as unknown as { rules: Rule[] }).rules;
    assert.ok(allowed(lease, "coordination.k8s.io", "leases", "update"));
  });

  it("ships the same CRDs as crds/ and installs them with --include-crds", () => {
    for (const f of readdirSync(`${root}crds`)) {
      assert.equal(
        readFileSync(`${chart}/crds/${f}`, "utf8"),
        readFileSync(`${root}crds/${f}`, "utf8"),
        `${f} differs`,
      );
    }
    const crds = template("--include-crds").filter((d) => d.kind === "CustomResourceDefinition");
    assert.deepEqual(crds.map((d) => d.metadata.name).sort(), [
      "geobrokerclusters.geobroker.io",
      "geobrokernodepools.geobroker.io",
      "geobrokertopics.geobroker.io",
      "geobrokerusers.geobroker.io",
    ]);
  });

  it("refuses values its schema does not allow, with the path", () => {
    const refused = (...args: string[]) => {
      try {
        template(...args);
        return "";
      } catch (err) {
        return String((err as { stderr?: string }).stderr ?? err);
      }
    };
    assert.match(refused("--set", "logLevel=loud"), /logLevel/);
    assert.match(refused("--set", "monitoring.serviceMonitr.enabled=true"), /serviceMonitr/);
    // Two replicas without a Lease would reconcile the same clusters at once.
    assert.match(refused("--set", "replicaCount=2", "--set", "leaderElection=false"), /leaderElection/);
    assert.equal(refused("--set", "replicaCount=1", "--set", "leaderElection=false"), "");
  });

  it("has NOTES with the first kubectl commands", () => {
    const notes = readFileSync(`${chart}/templates/NOTES.txt`, "utf8");
    assert.match(notes, /kubectl -n messaging get gbc -w/);
    assert.match(notes, /examples\/geobrokercluster\.yaml/);
  });
});
