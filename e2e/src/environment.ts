import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { type ControlPlane, startControlPlane } from "./control-plane.js";
import { Kube } from "./kube-rest.js";
import { runTool } from "./kubectl.js";
import { NodeAgent, type NodeSpec } from "./kubelet/node-agent.js";
import { Provisioner } from "./kubelet/provisioner.js";
import { ServiceProxy } from "./kubelet/service-proxy.js";
import { runDir } from "./paths.js";

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
  const options = args.find((a): a is ToolOptions => typeof a !== "string");
  const argv = args.filter((a): a is string => typeof a === "string");
  return runTool(name, kubeconfig, argv, options?.input);
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
