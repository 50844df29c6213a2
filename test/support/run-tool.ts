import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { projectRoot } from "../../broker/src/util/project-root.js";

/** Runs a tool from node_modules/.bin in the project root; throws with its output when it fails. */
export function runTool(name: string, args: string[]): string {
  const root = projectRoot();
  const bin = join(root, "node_modules", ".bin");
  const result = spawnSync(join(bin, name), args, {
    cwd: root,
    encoding: "utf8",
    env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
  });
  if (result.status !== 0) {
    throw new Error(`${name} ${args.join(" ")} exited ${result.status}:\n${result.stdout}\n${result.stderr}`);
  }
  return result.stdout;
}
