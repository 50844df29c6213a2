import { execFile } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { corePath, type Kube, KubeError, type KubeObject } from "../kube-rest.js";
import { network } from "../paths.js";
import { Container } from "./container.js";
import { containerEnv, expand } from "./env.js";
import { type Image, resolveImage } from "./image.js";
import type { LaunchSpec, Mount } from "./launcher.js";
import { httpGet, resolvePort } from "./probes.js";
import { type AddressPool, createSandbox, destroySandbox, type Sandbox } from "./sandbox.js";
import { syncVolumes, type VolumeOwner } from "./volumes.js";

// One pod on one node, from its sandbox to its deletion: the kubelet's pod worker. Status is
// patched whenever what it would report changes; deletion runs preStop, then SIGTERM, waits the
// grace period, SIGKILL, and only then removes the pod object, as the kubelet does.

export interface PodWorkerContext {
  kube: Kube;
  addresses: AddressPool;
  /** Folder for this pod's volumes, logs and network files. */
  podDir: string;
  /** Short unique id for interface names. */
  sandboxId: string;
  /** Whether the repository is readable by other users (else runAsUser cannot run it). */
  honourRunAsUser: boolean;
  log: (message: string) => void;
}

// biome-ignore lint/suspicious/noExplicitAny: container specs are free-form JSON
type ContainerSpec = any;

const volumeRefreshMs = 5_000;

export class PodWorker {
  private sandbox: Sandbox | undefined;
  private containers: Container[] = [];
  private lastReported = "";
  private reporting: Promise<void> = Promise.resolve();
  private refreshTimer: NodeJS.Timeout | undefined;
  private terminating: Promise<void> | undefined;
  private readonly fingerprints = new Map<string, string>();
  private volumePaths = new Map<string, string>();
  private readonly startTime = new Date().toISOString();
  private failure: { reason: string; message: string } | undefined;

  constructor(
    private pod: KubeObject,
    private readonly ctx: PodWorkerContext,
  ) {}

  get name(): string {
    return `${this.pod.metadata.namespace}/${this.pod.metadata.name}`;
  }

  get nodeName(): string {
    return this.pod.spec?.nodeName ?? "";
  }

  get ip(): string | undefined {
    return this.sandbox?.ip;
  }

  /** The main process of a container (for tests that kill -9 it). */
  pid(container?: string): number | undefined {
    return (container ? this.containers.find((c) => c.spec.name === container) : this.containers[0])?.pid;
  }

  kill9(container?: string): void {
    (container ? this.containers.find((c) => c.spec.name === container) : this.containers[0])?.kill9();
  }

  update(pod: KubeObject): void {
    this.pod = pod;
    if (pod.metadata.deletionTimestamp) void this.terminate();
  }

  async start(): Promise<void> {
    mkdirSync(this.ctx.podDir, { recursive: true });
    const podIp = this.ctx.addresses.take();
    try {
      this.sandbox = await createSandbox(this.ctx.sandboxId, podIp);
    } catch (err) {
      this.ctx.addresses.give(podIp);
      this.failure = { reason: "FailedCreatePodSandBox", message: (err as Error).message };
      await this.report();
      throw err;
    }
    const sandbox = this.sandbox;
    this.writeNetworkFiles(sandbox.ip);
    this.containers = (this.pod.spec.containers as ContainerSpec[]).map(
      (spec) =>
        new Container(
          { ...spec, terminationGracePeriodSeconds: this.pod.spec.terminationGracePeriodSeconds },
          sandbox.ip,
          sandbox.netns,
          join(this.ctx.podDir, `${spec.name}.log`),
          () => void this.report(),
          this.ctx.log,
        ),
    );
    await this.report();
    if (this.pod.spec.initContainers?.length) {
      this.failure = { reason: "Unsupported", message: "init containers are not supported by this kubelet" };
      return this.report();
    }
    for (const container of this.containers) container.start(() => this.launchSpec(container.spec));
    this.refreshTimer = setInterval(() => void this.refreshVolumes(), volumeRefreshMs);
    if (this.pod.metadata.deletionTimestamp) void this.terminate();
  }

  private owner(): VolumeOwner | undefined {
    const sc = this.pod.spec.securityContext ?? {};
    if (!this.ctx.honourRunAsUser || sc.runAsUser === undefined) return undefined;
    return { uid: sc.runAsUser, gid: sc.fsGroup ?? sc.runAsGroup ?? sc.runAsUser };
  }

  private async syncVolumes(): Promise<void> {
    this.volumePaths = await syncVolumes(
      this.ctx.kube,
      this.pod,
      this.ctx.podDir,
      this.owner(),
      this.fingerprints,
    );
  }

  private async refreshVolumes(): Promise<void> {
    try {
      await this.syncVolumes();
    } catch (err) {
      this.ctx.log(`${this.name}: volume refresh: ${(err as Error).message}`);
    }
  }

  private writeNetworkFiles(podIp: string): void {
    const ns = this.pod.metadata.namespace ?? "default";
    const search = `${ns}.svc.cluster.local svc.cluster.local cluster.local`;
    writeFileSync(
      join(this.ctx.podDir, "resolv.conf"),
      `search ${search}\nnameserver ${network.hostIp}\noptions ndots:5\n`,
    );
    const hostname = this.pod.spec.hostname ?? this.pod.metadata.name;
    const fqdn = this.pod.spec.subdomain
      ? `${hostname}.${this.pod.spec.subdomain}.${ns}.svc.cluster.local`
      : hostname;
    writeFileSync(
      join(this.ctx.podDir, "hosts"),
      `127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n${podIp}\t${fqdn} ${hostname}\n`,
    );
  }

  private image(spec: ContainerSpec, container: Container): Image {
    try {
      return resolveImage(spec.image);
    } catch (err) {
      container.setWaiting("ErrImagePull", (err as Error).message);
      throw err;
    }
  }

  private async launchSpec(spec: ContainerSpec): Promise<LaunchSpec> {
    const container = this.containers.find((c) => c.spec.name === spec.name) as Container;
    const image = this.image(spec, container);
    await this.syncVolumes();
    const env = await containerEnv(this.ctx.kube, this.pod, spec, image.env);
    const mounts: Mount[] = ((spec.volumeMounts ?? []) as ContainerSpec[]).map((m) => {
      const hostPath = this.volumePaths.get(m.name);
      if (!hostPath) throw new Error(`volumeMount "${m.name}" names no volume of the pod`);
      return {
        hostPath: m.subPath ? join(hostPath, m.subPath) : hostPath,
        mountPath: m.mountPath,
        readOnly: m.readOnly === true,
      };
    });
    // Kubernetes: `command` replaces the image's ENTRYPOINT (and drops its CMD); `args` replaces CMD.
    const command: string[] = spec.command ?? image.entrypoint;
    const args: string[] = spec.args ?? (spec.command ? [] : image.cmd);
    const argv = [...command, ...args].map((a) => expand(a, env));
    if (argv.length === 0)
      throw new Error(`container ${spec.name}: no command (image has no ENTRYPOINT/CMD)`);
    const sc = { ...(this.pod.spec.securityContext ?? {}), ...(spec.securityContext ?? {}) };
    const uid: number | undefined = sc.runAsUser ?? image.user?.uid;
    const gid: number = sc.runAsGroup ?? image.user?.gid ?? uid ?? 0;
    const fsGroup = this.pod.spec.securityContext?.fsGroup as number | undefined;
    return {
      mounts,
      resolvConf: join(this.ctx.podDir, "resolv.conf"),
      hostsFile: join(this.ctx.podDir, "hosts"),
      hostname: this.pod.spec.hostname ?? this.pod.metadata.name,
      workingDir: spec.workingDir ?? image.workingDir,
      user:
        this.ctx.honourRunAsUser && uid !== undefined
          ? { uid, gid, groups: fsGroup !== undefined ? [fsGroup] : [] }
          : undefined,
      argv,
      env,
    };
  }

  private statusBody(): Record<string, unknown> {
    const now = new Date().toISOString();
    const statuses = this.containers.map((c) => c.status());
    const ready = statuses.length > 0 && statuses.every((s) => s.ready);
    const condition = (type: string, ok: boolean) => ({
      type,
      status: ok ? "True" : "False",
      lastTransitionTime: now,
    });
    const running = statuses.some((s) => "running" in s.state);
    return {
      phase: running || statuses.some((s) => s.restartCount > 0) ? "Running" : "Pending",
      hostIP: network.hostIp,
      hostIPs: [{ ip: network.hostIp }],
      ...(this.sandbox ? { podIP: this.sandbox.ip, podIPs: [{ ip: this.sandbox.ip }] } : {}),
      startTime: this.startTime,
      ...(this.failure ? { reason: this.failure.reason, message: this.failure.message } : {}),
      conditions: [
        condition("PodReadyToStartContainers", this.sandbox !== undefined),
        condition("Initialized", true),
        condition("ContainersReady", ready),
        condition("Ready", ready),
        condition("PodScheduled", true),
      ],
      containerStatuses: statuses,
    };
  }

  /** Patches the pod's status when anything but timestamps changed; serialized, latest wins. */
  report(): Promise<void> {
    this.reporting = this.reporting.then(async () => {
      if (this.terminating && !this.sandbox) return;
      const body = this.statusBody();
      const comparable = JSON.stringify(body, (k, v) => (k === "lastTransitionTime" ? undefined : v));
      if (comparable === this.lastReported) return;
      try {
        const ns = this.pod.metadata.namespace ?? "default";
        await this.ctx.kube.patch(`${corePath(ns, "pods", this.pod.metadata.name)}/status`, {
          metadata: { uid: this.pod.metadata.uid },
          status: body,
        });
        this.lastReported = comparable;
      } catch (err) {
        if (!(err instanceof KubeError && (err.status === 404 || err.status === 409))) {
          this.ctx.log(`${this.name}: status update failed: ${(err as Error).message}`);
        }
      }
    });
    return this.reporting;
  }

  private async preStop(spec: ContainerSpec, deadline: number): Promise<void> {
    const hook = spec.lifecycle?.preStop;
    if (!hook || !this.sandbox) return;
    if (hook.exec?.command?.length) return this.execInPod(hook.exec.command, deadline);
    if (!hook.httpGet)
      return this.ctx.log(`${this.name}: only exec and httpGet preStop hooks are supported; skipped`);
    const port = resolvePort(hook.httpGet.port, spec.ports ?? []);
    await httpGet(this.sandbox.ip, port, hook.httpGet.path ?? "/", Math.max(1, deadline - Date.now()));
  }

  /**
   * An exec hook, run in the pod's network namespace (its loopback is the pod's, as the broker's
   * loopback-only admin port needs), bounded by the grace period. The image's programs are this
   * machine's: the pod runs this repository's code with the host's Node.
   */
  private execInPod(command: string[], deadline: number): Promise<void> {
    const netns = this.sandbox!.netns;
    return new Promise((resolve) => {
      execFile(
        "ip",
        ["netns", "exec", netns, ...command],
        { timeout: Math.max(1, deadline - Date.now()) },
        (err, stdout, stderr) => {
          const out = `${stdout}${stderr}`.trim().slice(0, 300);
          this.ctx.log(
            `${this.name}: preStop exec ${err ? `failed (${err.message.split("\n")[0]})` : "done"}${out ? `: ${out}` : ""}`,
          );
          resolve();
        },
      );
    });
  }

  /** Graceful termination, then the pod object is removed (grace 0, uid precondition). */
  terminate(): Promise<void> {
    this.terminating ??= (async () => {
      const grace =
        (this.pod.metadata.deletionGracePeriodSeconds ?? this.pod.spec.terminationGracePeriodSeconds ?? 30) *
        1000;
      const deadline = Date.now() + grace;
      await Promise.all(
        this.containers.map(async (c) => {
          if (c.pid) await this.preStop(c.spec, deadline).catch(() => {});
          await c.stop(Math.max(0, deadline - Date.now()));
        }),
      );
      await this.cleanUp();
      const ns = this.pod.metadata.namespace ?? "default";
      await this.ctx.kube
        .delete(corePath(ns, "pods", this.pod.metadata.name), {
          gracePeriodSeconds: 0,
          preconditions: { uid: this.pod.metadata.uid },
        })
        .catch((err) => this.ctx.log(`${this.name}: final delete: ${(err as Error).message}`));
    })();
    return this.terminating;
  }

  /** The pod object is gone (force delete): stop at once. */
  async abandon(): Promise<void> {
    this.terminating ??= (async () => {
      await Promise.all(this.containers.map((c) => c.stop(0)));
      await this.cleanUp();
    })();
    return this.terminating;
  }

  private async cleanUp(): Promise<void> {
    clearInterval(this.refreshTimer);
    if (this.sandbox) {
      const sandbox = this.sandbox;
      this.sandbox = undefined;
      await destroySandbox(sandbox).catch((err) => this.ctx.log(`${this.name}: ${(err as Error).message}`));
      this.ctx.addresses.give(sandbox.ip);
    }
    // Volumes of the pod go; claims (PersistentVolumes) live elsewhere and stay.
    rmSync(join(this.ctx.podDir, "volumes"), { recursive: true, force: true });
  }
}
