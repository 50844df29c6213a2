import { connect, createServer, type Server } from "node:net";
import type { Kube, KubeObject } from "../kube-rest.js";
import { ip } from "../network.js";

// kube-proxy in its original userspace mode: every ClusterIP becomes an address of the e2e
// network namespace's loopback (this kernel has no dummy links; Linux delivers to a local
// address whatever interface holds it), and a TCP listener on each Service port forwards each
// connection to a ready endpoint (round robin) from the Service's EndpointSlices. Pods route
// 10.96.0.0/16 through the bridge to this namespace, so `https://demo.msg.svc:9000` (the
// operator's admin endpoint) and the `kubernetes` Service work as in a real cluster, without
// iptables on the machine.

const device = "lo";

interface Backend {
  ip: string;
  port: number;
}

interface Listener {
  server: Server;
  next: number;
}

// biome-ignore lint/suspicious/noExplicitAny: Service and EndpointSlice specs are free-form JSON
type Json = any;

export class ServiceProxy {
  private services = new Map<string, KubeObject>();
  private slices = new Map<string, KubeObject>();
  private listeners = new Map<string, Listener>();
  private addresses = new Set<string>();
  private stopWatches: (() => void)[] = [];
  private syncing: Promise<void> = Promise.resolve();

  constructor(
    private readonly kube: Kube,
    private readonly log: (message: string) => void,
  ) {}

  async start(): Promise<void> {
    const key = (o: KubeObject) => `${o.metadata.namespace}/${o.metadata.name}`;
    const onError = (err: Error) => this.log(`service proxy: watch: ${err.message}`);
    this.stopWatches.push(
      this.kube.informer(
        "/api/v1/services",
        (e) => {
          if (e.type === "DELETED") this.services.delete(key(e.object));
          else this.services.set(key(e.object), e.object);
          this.sync();
        },
        onError,
      ),
      this.kube.informer(
        "/apis/discovery.k8s.io/v1/endpointslices",
        (e) => {
          if (e.type === "DELETED") this.slices.delete(key(e.object));
          else this.slices.set(key(e.object), e.object);
        },
        onError,
      ),
    );
  }

  /** Ready endpoints of a Service port, by the port's name (EndpointSlices name ports as the Service does). */
  private backends(service: KubeObject, portName: string | undefined): Backend[] {
    const backends: Backend[] = [];
    for (const slice of this.slices.values()) {
      if (slice.metadata.namespace !== service.metadata.namespace) continue;
      if (slice.metadata.labels?.["kubernetes.io/service-name"] !== service.metadata.name) continue;
      const port = ((slice.ports ?? []) as Json[]).find((p) => (p.name ?? "") === (portName ?? ""));
      if (!port) continue;
      for (const endpoint of (slice.endpoints ?? []) as Json[]) {
        if (endpoint.conditions?.ready === false) continue;
        for (const address of endpoint.addresses as string[]) backends.push({ ip: address, port: port.port });
      }
    }
    return backends;
  }

  private sync(): void {
    this.syncing = this.syncing
      .then(() => this.reconcile())
      .catch((err) => this.log(`service proxy: ${(err as Error).message}`));
  }

  private async reconcile(): Promise<void> {
    const wanted = new Map<string, { service: KubeObject; port: Json }>();
    for (const service of this.services.values()) {
      const clusterIp = service.spec.clusterIP as string | undefined;
      if (!clusterIp || clusterIp === "None") continue;
      for (const port of (service.spec.ports ?? []) as Json[]) {
        if ((port.protocol ?? "TCP") === "TCP") wanted.set(`${clusterIp}:${port.port}`, { service, port });
      }
    }
    for (const [address, listener] of this.listeners) {
      if (!wanted.has(address)) {
        listener.server.close();
        this.listeners.delete(address);
      }
    }
    for (const [address, { service, port }] of wanted) {
      if (this.listeners.has(address)) continue;
      const clusterIp = service.spec.clusterIP as string;
      if (!this.addresses.has(clusterIp)) {
        await ip("addr", "add", `${clusterIp}/32`, "dev", device).catch(() => {});
        this.addresses.add(clusterIp);
      }
      const key = `${service.metadata.namespace}/${service.metadata.name}`;
      const listener: Listener = { server: createServer(), next: 0 };
      listener.server.on("connection", (client) => {
        const current = this.services.get(key);
        const backends = current ? this.backends(current, port.name) : [];
        if (backends.length === 0) return client.destroy();
        const backend = backends[listener.next++ % backends.length] as Backend;
        const upstream = connect({ host: backend.ip, port: backend.port });
        client.pipe(upstream).pipe(client);
        const close = () => {
          client.destroy();
          upstream.destroy();
        };
        client.on("error", close);
        upstream.on("error", close);
        client.on("close", close);
        upstream.on("close", close);
      });
      listener.server.on("error", (err) => this.log(`service proxy: ${key} ${address}: ${err.message}`));
      listener.server.listen(port.port, clusterIp);
      this.listeners.set(address, listener);
    }
  }

  stop(): void {
    for (const stop of this.stopWatches) stop();
    for (const listener of this.listeners.values()) listener.server.close();
    this.listeners.clear();
  }
}
