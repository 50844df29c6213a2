// Builds the real control plane the e2e suite runs against, from the Go module proxy, once.
// Each component is a small Go module under e2e/toolchain/<name> whose go.mod pins the upstream
// release and lists its binaries as `tool` directives; the binaries land in
// ~/.cache/geobroker-e2e/<name>-<key>/bin, where <key> hashes that go.mod and go.sum, so a pin
// change rebuilds and every later run reuses the cache.
import { execFileSync, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { keepLast, onLines } from "../../broker/src/util/child-lines.js";
import { repoRoot } from "./paths.js";

interface Binary {
  /** Import path of the main package, listed as a `tool` in the component's go.mod. */
  pkg: string;
  /** File name under bin/. */
  name: string;
}

interface Component {
  name: string;
  /** Upstream release, for progress output and the note; the go.mod is the source of truth. */
  version: string;
  binaries: Binary[];
  /** Extra linker flags (the Kubernetes version stamp that `kubectl version` and helm read). */
  ldflags?: string;
}

const kubernetesVersion = "v1.37.2";

function kubernetesStamp(): string {
  const [major, minor] = kubernetesVersion.slice(1).split(".");
  const flags: string[] = [];
  for (const pkg of ["k8s.io/component-base/version", "k8s.io/client-go/pkg/version"]) {
    flags.push(
      `-X ${pkg}.gitVersion=${kubernetesVersion}`,
      `-X ${pkg}.gitMajor=${major}`,
      `-X ${pkg}.gitMinor=${minor}`,
      `-X ${pkg}.gitTreeState=clean`,
      `-X ${pkg}.buildDate=2026-01-01T00:00:00Z`,
    );
  }
  return flags.join(" ");
}

export const components: Component[] = [
  {
    name: "etcd",
    version: "v3.6.16",
    binaries: [{ pkg: "go.etcd.io/etcd/server/v3", name: "etcd" }],
  },
  {
    name: "kubernetes",
    version: kubernetesVersion,
    binaries: ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl"].map((name) => ({
      pkg: `k8s.io/kubernetes/cmd/${name}`,
      name,
    })),
    ldflags: kubernetesStamp(),
  },
  {
    name: "coredns",
    version: "v1.15.0",
    binaries: [{ pkg: "github.com/coredns/coredns", name: "coredns" }],
  },
  {
    name: "helm",
    version: "v3.22.0",
    binaries: [{ pkg: "helm.sh/helm/v3/cmd/helm", name: "helm" }],
  },
  {
    // v1.11.5 is the newest cert-manager whose controller's main package is inside the published
    // module: from v1.12 on, cmd/controller is a separate module ("controller-binary") that points
    // at the root with `replace ../../` and is never published to the module proxy.
    name: "cert-manager",
    version: "v1.11.5",
    binaries: [
      { pkg: "github.com/cert-manager/cert-manager/cmd/controller", name: "cert-manager-controller" },
    ],
  },
];

export function cacheRoot(): string {
  return process.env.GEOBROKER_E2E_CACHE ?? join(homedir(), ".cache", "geobroker-e2e");
}

function moduleDir(component: Component): string {
  return join(repoRoot, "e2e", "toolchain", component.name);
}

function cacheKey(component: Component): string {
  const hash = createHash("sha256");
  for (const file of ["go.mod", "go.sum"]) hash.update(readFileSync(join(moduleDir(component), file)));
  hash.update(component.ldflags ?? "");
  return hash.digest("hex").slice(0, 12);
}

export function componentDir(name: string): string {
  const component = components.find((c) => c.name === name);
  if (!component) throw new Error(`unknown e2e component ${name}`);
  return join(cacheRoot(), `${component.name}-${component.version}-${cacheKey(component)}`);
}

/** Path of a built binary; throws with the command to run when the toolchain is not built. */
export function binary(name: string): string {
  for (const component of components) {
    if (!component.binaries.some((b) => b.name === name)) continue;
    const path = join(componentDir(component.name), "bin", name);
    if (!existsSync(path))
      throw new Error(`${path} is missing: run \`npm run e2e\` (it builds the toolchain first)`);
    return path;
  }
  throw new Error(`no e2e component builds ${name}`);
}

function run(cmd: string, args: string[], cwd: string, label: string, env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    const started = Date.now();
    let packages = 0;
    const errors: string[] = [];
    // `go build -v` names each package as it compiles: a count is progress without the noise.
    onLines(child, (line) => {
      if (/^[\w.-]+(\/[\w.~+-]+)*$/.test(line)) packages += 1;
      else keepLast(errors, line, 40);
    });
    const ticker = setInterval(() => {
      const seconds = Math.round((Date.now() - started) / 1000);
      console.log(`  ${label}: ${packages} packages compiled, ${seconds}s`);
    }, 30_000);
    child.on("error", (err) => {
      clearInterval(ticker);
      reject(err);
    });
    child.on("exit", (code) => {
      clearInterval(ticker);
      if (code === 0) resolve();
      else reject(new Error(`${label} failed (exit ${code}):\n${errors.join("\n")}`));
    });
  });
}

async function build(component: Component): Promise<string> {
  const dir = componentDir(component.name);
  if (existsSync(join(dir, "complete"))) return dir;
  const started = Date.now();
  console.log(
    `e2e toolchain: building ${component.name} ${component.version} (${component.binaries.map((b) => b.name).join(", ")}) into ${dir}`,
  );
  const staging = `${dir}.partial`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(join(staging, "bin"), { recursive: true });
  const env = { ...process.env, GOFLAGS: "-mod=readonly -buildvcs=false" };
  for (const bin of component.binaries) {
    const args = [
      "build",
      "-v",
      "-trimpath",
      `-ldflags=-s -w ${component.ldflags ?? ""}`,
      "-o",
      join(staging, "bin", bin.name),
      bin.pkg,
    ];
    await run("go", args, moduleDir(component), `${component.name}/${bin.name}`, env);
  }
  writeFileSync(join(staging, "complete"), `${new Date().toISOString()}\n`);
  rmSync(dir, { recursive: true, force: true });
  renameSync(staging, dir);
  console.log(`e2e toolchain: ${component.name} built in ${Math.round((Date.now() - started) / 1000)}s`);
  return dir;
}

/** Source directory of a component's Go module in the module cache (for the files it ships, like CRDs). */
export function moduleSource(componentName: string, module: string): string {
  const component = components.find((c) => c.name === componentName);
  if (!component) throw new Error(`unknown e2e component ${componentName}`);
  return execFileSync("go", ["list", "-m", "-f", "{{.Dir}}", module], {
    cwd: moduleDir(component),
    encoding: "utf8",
  }).trim();
}

/** Builds only the named components (e.g. the small ones while a long Kubernetes build runs elsewhere). */
export async function buildComponents(names: string[]): Promise<void> {
  for (const name of names) {
    const component = components.find((c) => c.name === name);
    if (!component) throw new Error(`unknown e2e component ${name}`);
    await build(component);
  }
}

export async function buildToolchain(): Promise<void> {
  const started = Date.now();
  for (const component of components) await build(component);
  console.log(`e2e toolchain ready in ${Math.round((Date.now() - started) / 1000)}s (cache: ${cacheRoot()})`);
}
