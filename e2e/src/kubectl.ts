// kubectl and helm against the e2e control plane, for the setup steps and the tests' own checks.
import { spawn } from "node:child_process";
import { join } from "node:path";
import { repoRoot, runDir } from "./paths.js";
import { binary } from "./toolchain.js";

/**
 * Runs a toolchain binary (kubectl, helm) with `kubeconfig`, feeding `input` on stdin; resolves
 * with stdout, throws with stderr. Helm keeps its caches inside the run folder.
 */
export function runTool(name: string, kubeconfig: string, args: string[], input?: string): Promise<string> {
  const helmHome = (part: string) => join(runDir, "helm", part);
  return new Promise((resolve, reject) => {
    const child = spawn(binary(name), args, {
      cwd: repoRoot,
      env: {
        ...process.env,
        KUBECONFIG: kubeconfig,
        HELM_CACHE_HOME: helmHome("cache"),
        HELM_CONFIG_HOME: helmHome("config"),
        HELM_DATA_HOME: helmHome("data"),
      },
      stdio: [input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout?.on("data", (c: Buffer) => {
      out += c.toString();
    });
    child.stderr?.on("data", (c: Buffer) => {
      err += c.toString();
    });
    child.on("error", reject);
    child.on("close", (code) => {
      if (code === 0) resolve(out);
      else reject(new Error(`${name} ${args.join(" ")} failed (exit ${code}): ${err.trim() || out.trim()}`));
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

export function kubectl(kubeconfig: string, args: string[], input?: string): Promise<string> {
  return runTool("kubectl", kubeconfig, args, input);
}
