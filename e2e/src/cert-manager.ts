// cert-manager v1.11.5 for the e2e cluster: its CRDs applied from the module source, and the
// controller run as a host process with a kubeconfig. There is no webhook (it would need in-cluster
// networking and a CA bundle injector), so resources are neither defaulted nor validated by it:
// tests write complete specs.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { kubectl } from "./kubectl.js";
import { get } from "./probes.js";
import { type Daemon, type Spawn, waitUntil } from "./supervise.js";
import { binary, moduleSource } from "./toolchain.js";

/** Namespace cert-manager keeps ClusterIssuer secrets in (--cluster-resource-namespace). */
export const certManagerNamespace = "cert-manager";
const metricsAddress = "127.0.0.1:9402";

/** The CRD manifests with the helm template lines (labels only) removed, and their names. */
function crds(): { yaml: string; names: string[] } {
  const dir = join(moduleSource("cert-manager", "github.com/cert-manager/cert-manager"), "deploy", "crds");
  const docs: string[] = [];
  const names: string[] = [];
  for (const file of readdirSync(dir)
    .filter((f) => /^crd-.*\.yaml$/.test(f))
    .sort()) {
    const text = readFileSync(join(dir, file), "utf8");
    // The files are the helm chart's templates: `{{ }}` appears only in metadata.labels values
    // and a comment; without those lines `labels:` is empty, which the apiserver accepts.
    docs.push(
      text
        .split("\n")
        .filter((line) => !line.includes("{{"))
        .join("\n"),
    );
    const name = /^metadata:\n {2}name: (\S+)/m.exec(text)?.[1];
    if (!name) throw new Error(`no metadata.name in ${file}`);
    names.push(name);
  }
  return { yaml: docs.join("\n---\n"), names };
}

/** Applies the CRDs and the namespace, waits until every CRD is Established. */
export async function installCertManagerCrds(kubeconfig: string, daemons: Daemon[]): Promise<void> {
  const { yaml, names } = crds();
  const namespace = `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${certManagerNamespace}\n`;
  // Server-side apply: the CRDs are too large for client-side apply's last-applied annotation.
  await kubectl(
    kubeconfig,
    ["apply", "--server-side", "--force-conflicts", "-f", "-"],
    `${namespace}---\n${yaml}`,
  );
  const jsonpath =
    '{range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Established")].status}{"\\n"}{end}';
  await waitUntil(
    "cert-manager CRDs Established",
    daemons,
    async () => {
      const out = await kubectl(kubeconfig, ["get", "crd", ...names, "-o", `jsonpath=${jsonpath}`]);
      const pending = out
        .trim()
        .split("\n")
        .filter((l) => !l.endsWith("=True"));
      if (pending.length > 0) throw new Error(`not Established: ${pending.join(", ")}`);
    },
    60_000,
  );
}

/** Starts the controller once its CRDs are Established; resolves when it serves metrics. */
export async function startCertManager(spawn: Spawn, kubeconfig: string): Promise<Daemon> {
  const daemon = spawn("cert-manager", binary("cert-manager-controller"), [
    `--kubeconfig=${kubeconfig}`,
    // One replica: electing a leader only delays the start by a lease acquisition.
    "--leader-elect=false",
    `--cluster-resource-namespace=${certManagerNamespace}`,
    `--metrics-listen-address=${metricsAddress}`,
    "--v=2",
  ]);
  await waitUntil(
    "cert-manager metrics",
    [daemon],
    async () => void (await get(`http://${metricsAddress}/metrics`)),
    60_000,
  );
  return daemon;
}
