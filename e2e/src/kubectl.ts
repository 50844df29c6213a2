// kubectl against the e2e control plane, for the setup steps and the tests' own checks.
import { spawn } from "node:child_process";
import { binary } from "./toolchain.js";

/** Runs kubectl with `kubeconfig`, feeding `input` on stdin; resolves with stdout, throws with stderr. */
export function kubectl(kubeconfig: string, args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(binary("kubectl"), ["--kubeconfig", kubeconfig, ...args], {
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
      else reject(new Error(`kubectl ${args.join(" ")} failed (exit ${code}): ${err.trim() || out.trim()}`));
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}
