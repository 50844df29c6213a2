import { execFile } from "node:child_process";
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { type ControlPlane, startControlPlane } from "./control-plane.js";
import { Kube } from "./kube-rest.js";
import { NodeAgent, type NodeSpec } from "./kubelet/node-agent.js";
import { Provisioner } from "./kubelet/provisioner.js";
import { ServiceProxy } from "./kubelet/service-proxy.js";
import { repoRoot, runDir } from "./paths.js";
import { binary } from "./toolchain.js";

// Everything a scenario needs: the control plane, the process kubelet serving one Node per
// simulated machine (two per region, in two zones), the volume provisioner, the service proxy,
// and kubectl/helm bound to the admin kubeconfig.

export const regions = ["eu", "us", "ap"] as const;

export function nodesFor(regionNames: readonly string[]): NodeSpec[] {
  return regionNames.flatMap((region) =>
    ["a", "b"].map((zone) => ({ name: `${region}-${zone}`, region, zone: `${region}-${zone}` })),
  );
}

export interface Environment {
  controlPlane: ControlPlane;
  kube: Kube;
  agent: NodeAgent;
  kubectl(...args: (string | ToolOptions)[]): Promise<string>;
  helm(...args: (string | ToolOptions)[]): Promise<string>;
  log(message: string): void;
  stop(): Promise<void>;
}

export interface ToolOptions {
  /** Written to the tool's stdin (kubectl apply -f -). */
  input?: string;
}

function tool(name: string, kubeconfig: string, args: (string | ToolOptions)[]): Promise<string> {
  const options = args.find((a): a is ToolOptions => typeof a !== "string") ?? {};
  const argv = args.filter((a): a is string => typeof a === "string");
  const helmHome = (part: string) => join(runDir, "helm", part);
  return new Promise((resolve, reject) => {
    const child = execFile(
      binary(name),
      argv,
      {
        cwd: repoRoot,
        env: {
          ...process.env,
          KUBECONFIG: kubeconfig,
          HELM_CACHE_HOME: helmHome("cache"),
          HELM_CONFIG_HOME: helmHome("config"),
          HELM_DATA_HOME: helmHome("data"),
        },
        maxBuffer: 64 * 1024 * 1024,
      },
      (err, stdout, stderr) => {
        if (!err) return resolve(stdout);
        reject(
          new Error(`${name} ${argv.join(" ")} failed: ${stderr.trim() || stdout.trim() || err.message}`),
        );
      },
    );
    child.stdin?.end(options.input ?? "");
  });
}

export async function startEnvironment(extraRegions: readonly string[] = []): Promise<Environment> {
  rmSync(runDir, { recursive: true, force: true });
  mkdirSync(runDir, { recursive: true });
  const started = Date.now();
  const log = (message: string) =>
    console.log(`[e2e +${((Date.now() - started) / 1000).toFixed(1)}s] ${message}`);
  const controlPlane = await startControlPlane({ dir: join(runDir, "control-plane"), log });
  const kube = await Kube.fromKubeconfig(controlPlane.kubeconfig);
  const proxy = new ServiceProxy(kube, log);
  await proxy.start();
  const provisioner = new Provisioner(kube, join(runDir, "volumes"), log);
  await provisioner.start();
  const agent = new NodeAgent(kube, nodesFor([...regions, ...extraRegions]), join(runDir, "pods"), log);
  await agent.start();
  log(`process kubelet serving nodes ${agent.nodes.map((n) => n.name).join(", ")}`);
  return {
    controlPlane,
    kube,
    agent,
    kubectl: (...args) => tool("kubectl", controlPlane.kubeconfig, args),
    helm: (...args) => tool("helm", controlPlane.kubeconfig, args),
    log,
    async stop() {
      await agent.stop();
      provisioner.stop();
      proxy.stop();
      await controlPlane.stop();
    },
  };
}
