// A real Kubernetes control plane on this machine for the e2e tests: etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler, CoreDNS and cert-manager as plain processes inside the
// e2e network namespace. There are no kubelets: the e2e suite plays the node itself, so this only
// has to make the API, the controllers, DNS and certificate issuance real.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { installCertManagerCrds, startCertManager } from "./cert-manager.js";
import { setupBridge } from "./network.js";
import { kubernetesService, network, serviceRange } from "./paths.js";
import { type ClientName, type ControlPlanePki, makeControlPlanePki, writeKubeconfig } from "./pki.js";
import { get, resolve4, type Tls, tlsFor } from "./probes.js";
import { type Daemon, type Spawn, startDaemon, waitUntil } from "./supervise.js";
import { binary } from "./toolchain.js";

export interface ControlPlane {
  /** https://10.77.0.1:6443 */
  server: string;
  /** Admin (system:masters) kubeconfig. */
  kubeconfig: string;
  /** The cluster CA, which also signs CertificateSigningRequests. */
  caFile: string;
  /** CoreDNS, port 53, serving cluster.local. */
  dnsIp: string;
  logDir: string;
  stop(): Promise<void>;
}

export const clusterDomain = "cluster.local";
const etcdUrl = "http://127.0.0.1:2379";
const apiserverPort = 6443;
const controllerManagerPort = 10257;
const schedulerPort = 10259;

interface Context {
  dir: string;
  pki: ControlPlanePki;
  server: string;
  kubeconfigs: Record<ClientName, string>;
  log: (line: string) => void;
  started: number;
  spawn: Spawn;
}

async function timed<T>(ctx: Context, what: string, step: () => Promise<T>): Promise<T> {
  const t0 = Date.now();
  const result = await step();
  const s = (ms: number) => `${(ms / 1000).toFixed(1)}s`;
  ctx.log(`${what} in ${s(Date.now() - t0)} (${s(Date.now() - ctx.started)} since start)`);
  return result;
}

async function startEtcd(ctx: Context): Promise<Daemon> {
  const peer = "http://127.0.0.1:2380";
  const etcd = ctx.spawn("etcd", binary("etcd"), [
    "--name=e2e",
    `--data-dir=${join(ctx.dir, "etcd")}`,
    `--listen-client-urls=${etcdUrl}`,
    `--advertise-client-urls=${etcdUrl}`,
    `--listen-peer-urls=${peer}`,
    `--initial-advertise-peer-urls=${peer}`,
    `--initial-cluster=e2e=${peer}`,
    // Throwaway data: fsync only slows every write of the suite down.
    "--unsafe-no-fsync",
  ]);
  await waitUntil(
    "etcd /health",
    [etcd],
    async () => {
      const body = await get(`${etcdUrl}/health`);
      if (!/"health":\s*"true"/.test(body)) throw new Error(body);
    },
    30_000,
  );
  return etcd;
}

async function startApiserver(ctx: Context, etcd: Daemon): Promise<Daemon> {
  const { pki } = ctx;
  const apiserver = ctx.spawn("kube-apiserver", binary("kube-apiserver"), apiserverFlags(ctx));
  const admin = tlsFor(pki.ca, pki.clients.admin);
  await waitUntil(
    "kube-apiserver /readyz",
    [etcd, apiserver],
    async () => void (await get(`${ctx.server}/readyz`, admin)),
    120_000,
  );
  return apiserver;
}

export function apiserverFlags(ctx: Pick<Context, "dir" | "pki">): string[] {
  const { pki } = ctx;
  return [
    `--etcd-servers=${etcdUrl}`,
    `--bind-address=${network.hostIp}`,
    `--advertise-address=${network.hostIp}`,
    `--secure-port=${apiserverPort}`,
    // Would default to /var/run/kubernetes; unused while the serving certificate is given.
    `--cert-dir=${join(ctx.dir, "apiserver")}`,
    `--tls-cert-file=${pki.apiserver.certFile}`,
    `--tls-private-key-file=${pki.apiserver.keyFile}`,
    `--client-ca-file=${pki.ca.certFile}`,
    `--service-cluster-ip-range=${serviceRange}`,
    `--service-account-issuer=https://kubernetes.default.svc.${clusterDomain}`,
    `--service-account-key-file=${pki.serviceAccountPub}`,
    `--service-account-signing-key-file=${pki.serviceAccountKey}`,
    "--authorization-mode=Node,RBAC",
    "--allow-privileged=true",
  ];
}

/** The controller-manager and scheduler serve /healthz on their secure port with a self-signed certificate. */
const selfSigned: Tls = { insecure: true };

async function startControllerManager(ctx: Context, apiserver: Daemon): Promise<Daemon> {
  const { pki } = ctx;
  const daemon = ctx.spawn("kube-controller-manager", binary("kube-controller-manager"), [
    `--kubeconfig=${ctx.kubeconfigs.controllerManager}`,
    "--bind-address=127.0.0.1",
    `--secure-port=${controllerManagerPort}`,
    `--cert-dir=${join(ctx.dir, "controller-manager")}`,
    // The default set (`*`): StatefulSet, Deployment, ReplicaSet, garbage collector, endpoints,
    // EndpointSlice, PV binder, service-account tokens and the rest.
    "--controllers=*",
    // Each controller acts as its own service account, so RBAC mistakes show up as in a real cluster.
    "--use-service-account-credentials=true",
    `--service-account-private-key-file=${pki.serviceAccountKey}`,
    `--root-ca-file=${pki.ca.certFile}`,
    `--cluster-signing-cert-file=${pki.ca.certFile}`,
    `--cluster-signing-key-file=${pki.ca.keyFile}`,
    `--service-cluster-ip-range=${serviceRange}`,
    // A single instance: leader election would only delay the start (and a restart by a lease).
    "--leader-elect=false",
  ]);
  return healthy(daemon, "kube-controller-manager", controllerManagerPort, apiserver);
}

/** Waits for a component's /healthz on its secure port (127.0.0.1, self-signed). */
async function healthy(daemon: Daemon, name: string, port: number, apiserver: Daemon): Promise<Daemon> {
  const url = `https://127.0.0.1:${port}/healthz`;
  await waitUntil(
    `${name} /healthz`,
    [apiserver, daemon],
    async () => void (await get(url, selfSigned)),
    60_000,
  );
  return daemon;
}

async function startScheduler(ctx: Context, apiserver: Daemon): Promise<Daemon> {
  const daemon = ctx.spawn("kube-scheduler", binary("kube-scheduler"), [
    `--kubeconfig=${ctx.kubeconfigs.scheduler}`,
    "--bind-address=127.0.0.1",
    `--secure-port=${schedulerPort}`,
    `--cert-dir=${join(ctx.dir, "scheduler")}`,
    "--leader-elect=false",
  ]);
  return healthy(daemon, "kube-scheduler", schedulerPort, apiserver);
}

async function startCoreDns(ctx: Context, apiserver: Daemon): Promise<Daemon> {
  const corefile = join(ctx.dir, "Corefile");
  // Only the cluster domain: there is no upstream to forward anything else to. No cache plugin,
  // so a test sees a new Service or endpoint as soon as CoreDNS's informer does.
  writeFileSync(
    corefile,
    [
      `${clusterDomain}:53 {`,
      `  bind ${network.hostIp}`,
      "  errors",
      `  kubernetes ${clusterDomain} {`,
      `    kubeconfig ${ctx.kubeconfigs.coredns} e2e`,
      "  }",
      "}",
      "",
    ].join("\n"),
  );
  const daemon = ctx.spawn("coredns", binary("coredns"), ["-conf", corefile]);
  const name = `kubernetes.default.svc.${clusterDomain}`;
  await waitUntil(
    `CoreDNS answering ${name}`,
    [apiserver, daemon],
    async () => {
      const answer = await resolve4(network.hostIp, name);
      if (!answer.includes(kubernetesService.ip)) throw new Error(`${name} resolved to ${answer.join(", ")}`);
    },
    60_000,
  );
  return daemon;
}

/**
 * Builds the PKI, starts every component and resolves once all of them are really healthy.
 * `dir` should be fresh (the run directory is wiped per run): the PKI is made anew each time, and
 * etcd data from an earlier start would hold service-account tokens signed by a key that is gone.
 */
export async function startControlPlane(opts: {
  dir: string;
  log: (line: string) => void;
}): Promise<ControlPlane> {
  await setupBridge();
  const logDir = join(opts.dir, "logs");
  mkdirSync(logDir, { recursive: true });
  const started = Date.now();
  const pki = makeControlPlanePki(join(opts.dir, "pki"));
  const server = `https://${network.hostIp}:${apiserverPort}`;
  const kubeconfigs = {} as Record<ClientName, string>;
  for (const name of Object.keys(pki.clients) as ClientName[]) {
    kubeconfigs[name] = writeKubeconfig(
      join(opts.dir, `${name}.kubeconfig`),
      server,
      pki.ca,
      pki.clients[name],
    );
  }
  const daemons: Daemon[] = [];
  const spawn: Spawn = (name, bin, args) => {
    const daemon = startDaemon(name, bin, args, logDir);
    daemons.push(daemon);
    return daemon;
  };
  const ctx: Context = { dir: opts.dir, pki, server, kubeconfigs, log: opts.log, started, spawn };
  ctx.log(`PKI written in ${((Date.now() - started) / 1000).toFixed(1)}s`);

  // Leaves first, then the apiserver, then etcd: nothing logs errors about a vanished dependency.
  const stop = async () => {
    const [etcd, apiserver, ...rest] = daemons;
    await Promise.all(rest.map((d) => d.stop()));
    if (apiserver) await apiserver.stop();
    if (etcd) await etcd.stop();
  };
  try {
    const etcd = await timed(ctx, "etcd healthy", () => startEtcd(ctx));
    const apiserver = await timed(ctx, "kube-apiserver ready", () => startApiserver(ctx, etcd));
    // Everything else only needs the apiserver: start it side by side. allSettled, not all: a
    // branch still running when another fails could spawn its daemon after stop().
    const results = await Promise.allSettled([
      timed(ctx, "kube-controller-manager healthy", () => startControllerManager(ctx, apiserver)),
      timed(ctx, "kube-scheduler healthy", () => startScheduler(ctx, apiserver)),
      timed(ctx, "CoreDNS answering", () => startCoreDns(ctx, apiserver)),
      timed(ctx, "cert-manager CRDs established and controller up", async () => {
        await installCertManagerCrds(kubeconfigs.admin, [etcd, apiserver]);
        return startCertManager(spawn, kubeconfigs.certManager);
      }),
    ]);
    const failed = results.find((r) => r.status === "rejected");
    if (failed) throw failed.reason;
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    server,
    kubeconfig: kubeconfigs.admin,
    caFile: pki.ca.certFile,
    dnsIp: network.hostIp,
    logDir,
    stop,
  };
}
