#!/usr/bin/env node
// npm run e2e: builds the control-plane toolchain once (cached under ~/.cache/geobroker-e2e), then
// runs the e2e scenarios (dist/e2e/test/*.e2e.test.js) inside a network namespace of their own,
// so the bridge, the pod namespaces and every address stay off the machine's own network.
// Usage: node scripts/e2e.mjs [substring ...]   (only scenario files whose path contains one)
import { execFileSync, spawn } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const namespace = "gbe2e";
const filters = process.argv.slice(2).filter((a) => !a.startsWith("--"));
const passThrough = process.argv.slice(2).filter((a) => a.startsWith("--"));

function need(command, why) {
  try {
    execFileSync("sh", ["-c", `command -v ${command}`], { stdio: "ignore" });
  } catch {
    console.error(`npm run e2e needs \`${command}\` (${why}); .ci/run installs it with apt-get`);
    process.exit(1);
  }
}

if (process.getuid?.() !== 0) {
  console.error("npm run e2e must run as root: it creates network namespaces and mounts pod volumes");
  process.exit(1);
}
need("go", "builds the control plane from the Go module proxy");
need("ip", "iproute2: network namespaces and veth pairs for pods");
need("setpriv", "util-linux: runs pods as their runAsUser");
need("unshare", "util-linux: gives each pod its own hostname");

const ip = (...args) => execFileSync("ip", args, { stdio: ["ignore", "pipe", "pipe"] }).toString();

/** Kills what a previous run left in the e2e namespaces and deletes them. */
function cleanUp() {
  const names = ip("netns", "list")
    .split("\n")
    .map((l) => l.split(" ")[0])
    .filter((n) => n === namespace || n?.startsWith("gbpod-"));
  for (const name of names) {
    let pids = [];
    try {
      pids = ip("netns", "pids", name).split("\n").filter(Boolean);
    } catch (err) {
      // A process that exits during the scan can make `ip netns pids` fail; one retry is enough.
      try {
        pids = ip("netns", "pids", name).split("\n").filter(Boolean);
      } catch {
        console.error(`e2e cleanup: cannot list the processes of ${name}: ${err.message.split("\n")[0]}`);
      }
    }
    for (const pid of pids) {
      try {
        process.kill(Number(pid), "SIGKILL");
      } catch {}
    }
  }
  for (const name of names) {
    try {
      ip("netns", "del", name);
    } catch {}
  }
}

const { buildToolchain } = await import(join(root, "dist", "e2e", "src", "toolchain.js"));
await buildToolchain();

const testDir = join(root, "dist", "e2e", "test");
const files = existsSync(testDir)
  ? readdirSync(testDir)
      .filter((f) => f.endsWith(".e2e.test.js"))
      .map((f) => join("dist", "e2e", "test", f))
      .filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)))
      .sort()
  : [];
if (files.length === 0) {
  console.error(`no e2e scenario files matched under ${testDir}; run npm run build first`);
  process.exit(1);
}

cleanUp();
ip("netns", "add", namespace);
ip("-n", namespace, "link", "set", "lo", "up");
const started = Date.now();
const child = spawn(
  "ip",
  [
    "netns",
    "exec",
    namespace,
    process.execPath,
    "--test",
    "--test-reporter=spec",
    "--test-concurrency=1",
    "--test-force-exit",
    ...passThrough,
    ...files,
  ],
  { cwd: root, stdio: "inherit" },
);
const finish = (code) => {
  cleanUp();
  console.log(`e2e finished in ${Math.round((Date.now() - started) / 1000)}s (exit ${code})`);
  process.exit(code);
};
process.on("SIGINT", () => child.kill("SIGINT"));
process.on("SIGTERM", () => child.kill("SIGTERM"));
child.on("exit", (code, signal) => finish(signal ? 1 : (code ?? 1)));
