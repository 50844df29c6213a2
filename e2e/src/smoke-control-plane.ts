// Proof by hand that the e2e control plane is real (not a test: it needs the built toolchain and
// the e2e network namespace):
//   npx tsc -p . && ip netns exec gbe2e node dist/e2e/src/smoke-control-plane.js [dir]
// Starts it, exercises the apiserver, the StatefulSet controller, the scheduler and cert-manager,
// prints how long each step took, and stops it.
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { type ControlPlane, startControlPlane } from "./control-plane.js";
import { kubectl } from "./kubectl.js";
import { runDir } from "./paths.js";

const dir = process.argv[2] ?? join(runDir, "control-plane-smoke");
const t0 = Date.now();
const since = () => `${((Date.now() - t0) / 1000).toFixed(1)}s`.padStart(6);
const log = (line: string) => console.log(`[${since()}] ${line}`);

async function eventually<T>(what: string, timeoutMs: number, check: () => Promise<T>): Promise<T> {
  const start = Date.now();
  let last = "";
  for (;;) {
    try {
      const value = await check();
      log(`${what} after ${((Date.now() - start) / 1000).toFixed(1)}s`);
      return value;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    if (Date.now() - start > timeoutMs)
      throw new Error(`${what}: gave up after ${timeoutMs / 1000}s: ${last}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

const manifests = `
apiVersion: v1
kind: Namespace
metadata: { name: smoke }
---
apiVersion: v1
kind: ConfigMap
metadata: { name: settings, namespace: smoke }
data: { greeting: hello }
---
apiVersion: v1
kind: Service
metadata: { name: web, namespace: smoke }
spec:
  clusterIP: None
  selector: { app: web }
  ports: [{ port: 80 }]
---
apiVersion: apps/v1
kind: StatefulSet
metadata: { name: web, namespace: smoke }
spec:
  serviceName: web
  replicas: 1
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec:
      containers: [{ name: web, image: example.invalid/web:1 }]
---
apiVersion: cert-manager.io/v1
kind: Issuer
metadata: { name: selfsigned, namespace: smoke }
spec: { selfSigned: {} }
---
apiVersion: cert-manager.io/v1
kind: Certificate
metadata: { name: web-tls, namespace: smoke }
spec:
  secretName: web-tls
  commonName: web.smoke.svc.cluster.local
  dnsNames: [web.smoke.svc.cluster.local]
  duration: 24h
  renewBefore: 1h
  privateKey: { algorithm: ECDSA, size: 256 }
  issuerRef: { name: selfsigned, kind: Issuer, group: cert-manager.io }
`;

async function smoke(cp: ControlPlane): Promise<void> {
  const k = (args: string[], input?: string) => kubectl(cp.kubeconfig, args, input);
  const version = JSON.parse(await k(["get", "--raw", "/version"])) as { gitVersion: string };
  if (version.gitVersion !== "v1.37.2") throw new Error(`apiserver reports ${version.gitVersion}`);
  log(`apiserver /version: ${version.gitVersion}`);

  await k(["apply", "-f", "-"], manifests);
  log("applied namespace, ConfigMap, Service, StatefulSet, Issuer, Certificate");
  const greeting = await k([
    "-n",
    "smoke",
    "get",
    "configmap",
    "settings",
    "-o",
    "jsonpath={.data.greeting}",
  ]);
  if (greeting !== "hello") throw new Error(`ConfigMap reads ${greeting}`);

  // No nodes: the StatefulSet controller still creates the Pod, and the scheduler marks it unschedulable.
  await eventually("StatefulSet controller created pod web-0", 60_000, () =>
    k(["-n", "smoke", "get", "pod", "web-0"]),
  );
  const scheduled = await eventually("scheduler reported web-0 unschedulable", 60_000, async () => {
    const out = await k([
      "-n",
      "smoke",
      "get",
      "pod",
      "web-0",
      "-o",
      'jsonpath={.status.phase}/{.status.conditions[?(@.type=="PodScheduled")].reason}',
    ]);
    if (out !== "Pending/Unschedulable") throw new Error(out);
    return out;
  });
  log(`web-0: ${scheduled}`);

  const crt = await eventually("cert-manager issued Secret web-tls", 60_000, async () => {
    const out = await k(["-n", "smoke", "get", "secret", "web-tls", "-o", "jsonpath={.data.tls\\.crt}"]);
    if (!out) throw new Error("no tls.crt yet");
    return Buffer.from(out, "base64").toString();
  });
  if (!crt.includes("BEGIN CERTIFICATE")) throw new Error("tls.crt is not a PEM certificate");
  const ready = await k([
    "-n",
    "smoke",
    "get",
    "certificate",
    "web-tls",
    "-o",
    'jsonpath={.status.conditions[?(@.type=="Ready")].status}',
  ]);
  log(`Certificate web-tls Ready=${ready}`);
}

async function main(): Promise<void> {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  log(`control plane in ${dir}`);
  const cp = await startControlPlane({ dir, log });
  log(`control plane ready: ${cp.server}, DNS ${cp.dnsIp}, logs in ${cp.logDir}`);
  try {
    await smoke(cp);
  } finally {
    const stopping = Date.now();
    await cp.stop();
    log(`stopped in ${((Date.now() - stopping) / 1000).toFixed(1)}s`);
  }
  log("smoke passed");
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
});
